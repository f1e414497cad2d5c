"""What the Data tab shows: preview, column mapping, label balance, a rendered example and token lengths."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ft_app.config import DataConfig, RunConfig
from ft_app.data import (
    COLUMN_LIMIT,
    ColumnMapping,
    column_values,
    detect_columns,
    is_empty_value,
    label_names,
    label_to_name,
    load_table,
)
from ft_app.libraries import ensure_loaded
from ft_app.tasks import get_task
from ft_app.text import plain_list

if TYPE_CHECKING:
    import datasets
    import pandas as pd

logger = logging.getLogger(__name__)

PREVIEW_CHARS = 200  # longer cells are cut in the preview table
EMPTY_LABEL = "(empty)"
TRAINED = "trained"
CUT = "cut"  # text past max_length: the model never sees it
FEW_ROWS_PER_CLASS = 8


@dataclass
class LengthStats:
    """Token lengths of what the model sees, and how many rows max_length cuts."""

    lengths: list[int]
    mean: float
    p50: float
    p95: float
    max: int
    over_limit: int
    over_limit_share: float
    max_length: int
    rows_measured: int
    rows_total: int
    answer_cut_off: int = 0  # causal LM: rows whose trained part lies wholly past max_length (skipped in training)
    target_over_limit: int = 0  # seq2seq: targets longer than data.max_target_length


CUT_WARNING_SHARE = 0.25  # more rows than this cut by max length: a warning, not a note


@dataclass
class DataReport:
    """Everything the Data tab shows about the training data, from one call."""

    source: str
    task: str
    columns: list[str]
    n_rows: int
    mapping: ColumnMapping | None
    preview: pd.DataFrame
    balance: list[tuple[str, int]] | None = None
    label_names: list[str] | None = None
    example: list[tuple[str, str | None]] | None = None
    lengths: LengthStats | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the page shows first, as a warning: fix it before Train


# ---- preview -------------------------------------------------------------------------------


def preview(dataset: datasets.Dataset, rows: int = 10) -> pd.DataFrame:
    """The first rows as a table of readable strings: long cells cut, chat messages as 'role: text' lines."""
    ensure_loaded()
    import datasets as ds
    import pandas as pd

    n = min(max(rows, 0), len(dataset))
    head = dataset[:n] if n else {c: [] for c in dataset.column_names}
    table = {}
    for column in dataset.column_names:
        feature = dataset.features.get(column)
        names = feature.names if isinstance(feature, ds.ClassLabel) else None
        table[column] = [_cell(v, names) for v in head[column]]
    return pd.DataFrame(table, columns=dataset.column_names)


def _cell(value: Any, class_names: list[str] | None = None) -> str:
    if value is None:
        return ""
    if class_names is not None and isinstance(value, int) and 0 <= value < len(class_names):
        return f"{class_names[value]} ({value})"
    if isinstance(value, list) and value and all(isinstance(m, dict) for m in value):
        lines = []
        for m in value:
            role = m.get("role", m.get("from"))
            content = m.get("content", m.get("value"))
            lines.append(f"{role}: {content}" if role is not None else _json(m))
        return _cut("\n".join(lines))
    if isinstance(value, (list, dict)):
        return _cut(_json(value))
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return _cut(str(value))


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _cut(text: str, limit: int = PREVIEW_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ---- label balance -------------------------------------------------------------------------


def label_balance(dataset: datasets.Dataset, column: str) -> list[tuple[str, int]]:
    """Rows per class, in the order the model numbers the classes; empty labels counted apart."""
    ensure_loaded()
    import datasets as ds

    if column not in dataset.column_names:
        raise ValueError(f"Label column {column!r} is not in the data. The columns are: {plain_list(dataset.column_names, COLUMN_LIMIT)}.")
    feature = dataset.features.get(column)
    values = column_values(dataset, column)
    if isinstance(feature, ds.ClassLabel):
        # ClassLabel cells are indices; -1 marks an unlabelled row (e.g. a hidden test split).
        counts = Counter(feature.names[v] if v is not None and v >= 0 else EMPTY_LABEL for v in values)
    else:
        counts = Counter(EMPTY_LABEL if is_empty_value(v) else label_to_name(v) for v in values)
    names = label_names(dataset, column)
    out = [(name, counts.pop(name, 0)) for name in names]
    empty = counts.pop(EMPTY_LABEL, 0)
    out += sorted(counts.items())  # values label_names normalises differently, should there be any
    if empty:
        out.append((EMPTY_LABEL, empty))
    return out


# ---- a row as the model sees it ---------------------------------------------------------------


def segments(text: str, spans: list[tuple[int, int]], cut_at: int) -> list[tuple[str, str | None]]:
    """Split text at span and cut boundaries into labelled pieces, dropping empty ones."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    bounds = sorted({0, len(text), cut_at, *(b for span in merged for b in span)})
    out: list[tuple[str, str | None]] = []
    for start, end in zip(bounds, bounds[1:]):
        if start >= end or end > len(text):
            continue
        if start >= cut_at:
            label: str | None = CUT
        else:
            label = TRAINED if any(s <= start and end <= e for s, e in merged) else None
        if out and out[-1][1] == label:
            out[-1] = (out[-1][0] + text[start:end], label)
        else:
            out.append((text[start:end], label))
    return out


def cut_offset(text: str, tokenizer: Any, max_length: int, add_special_tokens: bool) -> int:
    """The character offset where max_length tokens end (len(text) when nothing is cut)."""
    enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    if len(offsets) <= max_length:
        return len(text)
    return max(end for _, end in offsets[:max_length])


# ---- token lengths -------------------------------------------------------------------------


def token_length_stats(
    dataset: datasets.Dataset,
    mapping: ColumnMapping,
    task: str,
    tokenizer: Any,
    data: DataConfig,
    max_length: int,
    sample: int = 2000,
) -> LengthStats:
    """Token lengths of what the model sees (a fixed random sample of rows for big data) against max_length."""
    if max_length < 1:
        raise ValueError(f"max_length must be 1 or more, got {max_length!r}.")
    total = len(dataset)
    if total > sample:
        # A fixed seed so the histogram does not change each time the tab redraws.
        indices = sorted(random.Random(0).sample(range(total), sample))
        dataset = dataset.select(indices)
    lengths, answer_cut, target_over = get_task(task).token_lengths(dataset, mapping, tokenizer, data, max_length)
    return _stats(lengths, max_length, total, answer_cut, target_over)


def token_counts(tokenizer: Any, texts: list[str], add_special_tokens: bool) -> list[int]:
    """How many tokens each text is."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]]


def _stats(lengths: list[int], max_length: int, total: int, answer_cut: int, target_over: int) -> LengthStats:
    import numpy as np

    arr = np.asarray(lengths if lengths else [0])
    over = int((arr > max_length).sum()) if lengths else 0
    return LengthStats(
        lengths=list(lengths),
        mean=float(arr.mean()),
        p50=float(np.percentile(arr, 50)),
        p95=float(np.percentile(arr, 95)),
        max=int(arr.max()),
        over_limit=over,
        over_limit_share=over / len(lengths) if lengths else 0.0,
        max_length=max_length,
        rows_measured=len(lengths),
        rows_total=total,
        answer_cut_off=answer_cut,
        target_over_limit=target_over,
    )


# ---- the one call ---------------------------------------------------------------------------


def describe(config: RunConfig, tokenizer: Any | None = None, preview_rows: int = 10) -> DataReport:
    """Load the training data of a run config and build everything the Data tab shows."""
    d = config.data
    table = load_table(d.train, dataset_config=d.dataset_config, split=d.train_split)
    report = DataReport(
        source=d.train,
        task=config.task,
        columns=list(table.column_names),
        n_rows=len(table),
        mapping=None,
        preview=preview(table, preview_rows),
    )
    try:
        report.mapping = detect_columns(table.column_names, config.task, d)
    except ValueError as exc:
        # The preview is still useful: the user picks the columns in the mapping dropdowns next to it.
        report.notes.append(str(exc))
        return report
    mapping = report.mapping
    task = get_task(config.task)
    if not task.report_data(report, table, mapping):
        return report
    row = _first_complete_row(table, mapping)
    if tokenizer is None:
        report.example = task.example_segments(row, mapping, None, d, config.max_length) if row is not None else None
        report.notes.append("Pick a model to see token lengths and the example as the model sees it.")
        return report
    try:
        report.example = task.example_segments(row, mapping, tokenizer, d, config.max_length) if row is not None else None
        report.lengths = token_length_stats(table, mapping, config.task, tokenizer, d, config.max_length)
    except ValueError as exc:
        # A row the template cannot render (e.g. a malformed chat message): say so next to the preview.
        report.notes.append(str(exc))
        return report
    report.notes += _length_notes(report.lengths, config)
    report.warnings += length_warnings(report.lengths)
    return report


def length_warnings(stats: LengthStats) -> list[str]:
    """A warning when max length would cut more than CUT_WARNING_SHARE of the rows: the model would learn from
    the first tokens of most texts only."""
    if not stats.rows_measured or stats.over_limit_share <= CUT_WARNING_SHARE:
        return []
    suggest = int(stats.p95) + 1
    return [
        f"Max length {stats.max_length} tokens cuts {stats.over_limit_share:.0%} of the rows (more than a quarter): "
        f"the model would see only the start of most texts. Raise max length to about {suggest} (95% of the rows "
        "fit), unless the start alone decides."
    ]


def _first_complete_row(table: datasets.Dataset, mapping: ColumnMapping) -> dict[str, Any] | None:
    """The first of the leading rows with every mapped column filled (Alpaca's empty 'input' allowed)."""
    needed = [c for c in mapping.used() if c != mapping.input]
    for row in table.select(range(min(len(table), 50))):
        if all(not is_empty_value(row[c]) for c in needed):
            return row
    return None


def balance_notes(balance: list[tuple[str, int]]) -> list[str]:
    """What the label balance says to watch: unlabelled rows, too few classes, rare classes, a strong imbalance."""
    notes = []
    classes = [(name, n) for name, n in balance if name != EMPTY_LABEL]
    empty = dict(balance).get(EMPTY_LABEL, 0)
    if empty:
        notes.append(f"{empty} rows have no label; they are skipped in training.")
    if len([n for _, n in classes if n]) < 2:
        notes.append("The label column has fewer than two classes: classification needs at least two.")
        return notes
    rare = [f"{name!r} ({n})" for name, n in classes if n < FEW_ROWS_PER_CLASS]
    if rare:
        notes.append(f"Few examples for {plain_list(rare)}: the model may not learn these classes well.")
    counts = [n for _, n in classes if n]
    if max(counts) >= 5 * min(counts):
        notes.append("The classes are unbalanced (over 5 to 1): watch the F1 score, not only accuracy.")
    return notes


def _length_notes(stats: LengthStats, config: RunConfig) -> list[str]:
    notes = []
    sampled = f" (of {stats.rows_measured} sampled rows)" if stats.rows_measured < stats.rows_total else ""
    if stats.over_limit:
        notes.append(
            f"{stats.over_limit} rows ({stats.over_limit_share:.0%}){sampled} are longer than max length "
            f"{stats.max_length} tokens and will be cut; raise max length to keep them whole."
        )
    if stats.answer_cut_off:
        notes.append(
            f"{stats.answer_cut_off} rows{sampled} lose their whole answer to the cut and will be skipped."
        )
    if stats.target_over_limit:
        notes.append(
            f"{stats.target_over_limit} targets{sampled} are longer than max target length "
            f"{config.data.max_target_length} tokens and will be cut."
        )
    if stats.rows_measured and stats.max * 2 < stats.max_length:
        notes.append(f"The longest row has {stats.max} tokens: a max length of {stats.max} would train faster.")
    return notes
