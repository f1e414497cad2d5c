"""Turn a run's raw log text into what a person should read: no colour codes, expected warnings explained."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ft_app.text import plain_list

NEW_HEAD_LINE = "The new classification head starts from random weights: that is expected; training teaches it."
REPLACED_HEAD_LINE = (
    "The checkpoint's own classification head was made for another number of labels, so a new one replaces it. "
    + NEW_HEAD_LINE
)
# Terminal control sequences (colours, bold, cursor moves) that a log file shows as "[1m...[0m".
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
REPORT_START = re.compile(r"^(?P<prefix>.*?)(?P<model>\w+) LOAD REPORT from: (?P<source>.*?)\s*$")
TABLE_HEADER = re.compile(r"^Key\s*\|\s*Status\b")
TABLE_RULE = re.compile(r"^-+(\+-+)*\s*$")
TABLE_ROW = re.compile(r"^(?P<key>\S[^|]*?)\s*\|\s*(?P<status>[A-Z]+)\s*\|(?P<details>.*)$")
NOTE = re.compile(r"^- [A-Z]+:\s")
# Dotted parts of a weight name that belong to a task head a classification model adds on top of the body.
HEAD_PARTS = frozenset({"classifier", "score", "pre_classifier", "pooler", "classification_head", "logits_proj",
                        "sequence_summary"})
NAME_LIMIT = 10


@dataclass
class _Report:
    """One transformers load report, read back from its table."""

    prefix: str
    model: str
    source: str
    rows: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # status -> [(key, details)]


def readable_log(text: str) -> str:
    """The log without colour codes or progress-bar redraws, each model load report told in plain lines, and a
    native crash report kept to what a person reads (the error and the crashed thread's stack)."""
    lines = _crash_report_in_short([_last_redraw(ANSI.sub("", line)) for line in text.split("\n")])  # not splitlines:
    # it would split at "\r" too
    out: list[str] = []
    i = 0
    while i < len(lines):
        start = REPORT_START.match(lines[i])
        if start is None:
            out.append(lines[i])
            i += 1
            continue
        report = _Report(start["prefix"], start["model"], start["source"])
        i = _read_table(lines, i + 1, report)
        out += _explain(report)
    return "\n".join(out)


CRASH_START = re.compile(r"^Fatal Python error: ")
OTHER_THREAD = re.compile(r"^Thread 0x[0-9a-f]+ \(most recent call first\):$")
STACK_LINE = re.compile(r"^\s+(File |<no Python frame>|\.\.\.|Garbage-collecting)")


def _crash_report_in_short(lines: list[str]) -> list[str]:
    """Drop, from faulthandler's report of a native crash, the stacks of the threads that did not crash (the app's
    own helper threads, waiting) and its list of loaded extension modules: the error line and the crashed
    thread's stack stay, and fit the page's log tail."""
    out: list[str] = []
    in_report = skipping = False
    for line in lines:
        if CRASH_START.match(line):
            in_report, skipping = True, False
        elif in_report and OTHER_THREAD.match(line):
            skipping = True
            continue
        elif in_report and line.startswith("Current thread "):
            skipping = False
        elif in_report and line.startswith("Extension modules:"):
            in_report = skipping = False
            continue
        elif in_report and line.strip() and not STACK_LINE.match(line):
            in_report = skipping = False  # the report has ended
        if not skipping:
            out.append(line)
    return out


def _last_redraw(line: str) -> str:
    """What a terminal shows of a line a progress bar redrew with carriage returns: its last version."""
    parts = [p for p in line.split("\r") if p.strip()]
    return parts[-1] if parts else line.replace("\r", "")


def _read_table(lines: list[str], i: int, report: _Report) -> int:
    """Collect the report's rows from line i on; return the index of the first line after the report."""
    while i < len(lines):
        line = lines[i]
        row = TABLE_ROW.match(line)
        if TABLE_HEADER.match(line) or TABLE_RULE.match(line) or NOTE.match(line) or line.strip() in ("", "Notes:"):
            pass
        elif row:
            report.rows.setdefault(row["status"], []).append((row["key"].strip(), row["details"].strip()))
        else:
            break
        i += 1
    return i


def _is_head(key: str) -> bool:
    return any(part in HEAD_PARTS for part in key.split("."))


def _explain(report: _Report) -> list[str]:
    """Plain lines for one report: expected parts said once and calmly, anything else kept visible as a warning."""
    info = re.sub(r"\bWARNING\b", "INFO", report.prefix)
    warn = report.prefix
    new_head = report.model.endswith("Classification")  # ...ForSequenceClassification, ...ForTokenClassification
    missing = report.rows.pop("MISSING", [])
    mismatched = report.rows.pop("MISMATCH", [])
    unused = report.rows.pop("UNEXPECTED", [])
    odd_missing = [key for key, _ in missing if not (new_head and _is_head(key))]
    odd_mismatched = [f"{key} ({details})" if details else key for key, details in mismatched
                      if not (new_head and _is_head(key))]
    out = [f"{info}{report.model} loaded from {report.source}."]
    if new_head and any(_is_head(key) for key, _ in mismatched):
        out.append(info + REPLACED_HEAD_LINE)
    elif new_head and any(_is_head(key) for key, _ in missing):
        out.append(info + NEW_HEAD_LINE)
    if unused:
        out.append(
            f"{info}{len(unused)} weights of the checkpoint are not used by this model "
            f"({plain_list((key for key, _ in unused), NAME_LIMIT)}): normal when a model trained for another task "
            "gets a new head."
        )
    if odd_missing:
        out.append(
            f"{warn}Warning: {len(odd_missing)} weights of the model are not in the checkpoint and start from random "
            f"weights: {plain_list(odd_missing, NAME_LIMIT)}. The checkpoint may be incomplete or made for another "
            "kind of model."
        )
    if odd_mismatched:
        out.append(
            f"{warn}Warning: {len(odd_mismatched)} weights have another shape in the checkpoint and start from random "
            f"weights: {plain_list(odd_mismatched, NAME_LIMIT)}."
        )
    for status, rows in report.rows.items():  # kinds this module does not know: shown as transformers wrote them
        out.append(f"{warn}{status}: {plain_list((f'{key} {details}'.strip() for key, details in rows), NAME_LIMIT)}")
    return out
