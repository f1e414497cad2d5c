"""The before -> after card, the confusion matrices and the golden-prompt table of a finished run.

Built twice (Train tab and Runs tab) from the same code; `render(run_dir)` turns the run's eval.json and
compare.jsonl into widget values.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app.evaluation import new_head_chance
from ft_app.ui import words


@dataclass
class ResultsPanel:
    """The widgets of one results panel."""

    box: gr.Column
    card: gr.HTML
    matrices: gr.Column
    cm_before: gr.Plot
    cm_after: gr.Plot
    golden_box: gr.Column
    golden: gr.HTML

    @property
    def outputs(self) -> list[gr.components.Component]:
        """The widgets `render` and `hidden` fill, in order."""
        return [self.box, self.card, self.matrices, self.cm_before, self.cm_after, self.golden_box, self.golden]


def build(prefix: str, visible: bool = False) -> ResultsPanel:
    """Lay out a results panel; `prefix` makes its element ids unique (e.g. 'train', 'runs')."""
    with gr.Column(visible=visible, elem_id=f"{prefix}-results", elem_classes=["ft-results-box"]) as box:
        gr.Markdown(words.RESULTS_TITLE)
        card = gr.HTML("", elem_id=f"{prefix}-ba-card")
        with gr.Column(visible=False) as matrices:
            gr.Markdown(words.MATRICES_NOTE, elem_classes=["ft-note"])
            with gr.Row(equal_height=True):
                cm_before = gr.Plot(show_label=False, elem_id=f"{prefix}-cm-before")
                cm_after = gr.Plot(show_label=False, elem_id=f"{prefix}-cm-after")
        with gr.Column(visible=False) as golden_box:
            gr.Markdown(words.GOLDEN_TITLE)
            # Plain HTML, not a Dataframe: a read-only table needs no grid, and Gradio's virtual grid, made visible
            # in the same update that fills it, could leave its rows unrendered until the page was scrolled.
            golden = gr.HTML("", elem_id=f"{prefix}-golden", elem_classes=["ft-golden"])
    return ResultsPanel(box=box, card=card, matrices=matrices, cm_before=cm_before, cm_after=cm_after,
                        golden_box=golden_box, golden=golden)


def hidden() -> list[Any]:
    """Values that hide the whole panel (no run, or the run is still training)."""
    return [gr.Column(visible=False), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()]


def unchanged() -> list[Any]:
    """Values that leave the whole panel as it is."""
    return [gr.skip()] * 7


def render(run_dir: Path | None, status: str = "completed") -> list[Any]:
    """The panel for a finished run: the card, the two heat maps (classification) and the golden table.

    A run that failed or was interrupted before its evaluation has nothing to show: the panel stays hidden.
    """
    from ft_app import plots
    from ft_app.results import read_results

    if run_dir is None:
        return hidden()
    results = read_results(run_dir)
    if status != "completed" and not results.has_eval and not results.golden:
        return hidden()
    card = card_html(results)
    matrices = confusion_pair(results)
    rows = golden_rows(results.golden)
    cm_row = gr.Column(visible=matrices is not None)
    if matrices is None:
        blank = plots.empty_figure("")
        matrices = (blank, blank)
    return [
        gr.Column(visible=True),
        card,
        cm_row,
        matrices[0],
        matrices[1],
        gr.Column(visible=bool(rows)),
        golden_html(rows),
    ]


def confusion_pair(results: Any) -> tuple[Any, Any] | None:
    """The before and after confusion-matrix figures of a classification run, or None."""
    from ft_app import plots

    before, after = results.before, results.after
    if not _task(results.task).labels or not (before.get("confusion_matrix") or after.get("confusion_matrix")):
        return None
    return (
        plots.confusion_matrix_figure(
            before.get("confusion_matrix"), before.get("labels"), words.MATRIX_BEFORE, colorscale="grey"
        ),
        plots.confusion_matrix_figure(after.get("confusion_matrix"), after.get("labels"), words.MATRIX_AFTER),
    )


# ---- the card ------------------------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: Any, kind: str) -> str:
    v = _num(value)
    if v is None:
        return "–"
    if kind == "pct":
        return f"{v:.1%}"
    if kind == "ppl":
        return f"{v:,.1f}" if v < 1e6 else f"{v:.2e}"
    return f"{v:.3f}"


def _change(before: Any, after: Any, kind: str, higher_is_better: bool) -> tuple[str, str]:
    """The change as text and its CSS class (better / worse / same)."""
    b, a = _num(before), _num(after)
    if b is None or a is None:
        return "", "ft-same"
    diff = a - b
    if kind == "pct":
        text, small = words.CHANGE_POINTS.format(diff=diff * 100), abs(diff) < 0.005
    elif kind in ("loss", "ppl"):
        rel = diff / b if b else 0.0
        text = words.CHANGE_RELATIVE.format(rel=abs(rel), way=words.LOWER if diff < 0 else words.HIGHER)
        small = abs(rel) < 0.01
    else:
        text, small = f"{diff:+.3f}", abs(diff) < 0.005
    if small:
        return text + words.ABOUT_THE_SAME, "ft-same"
    better = diff > 0 if higher_is_better else diff < 0
    return text + (words.BETTER if better else words.WORSE), "ft-better" if better else "ft-worse"


def _metric_rows(task: str, before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(key, name, explanation, kind, higher_is_better) for the metrics of a task that the results hold."""
    return [(m.key, m.label, m.explanation, m.kind, m.higher_is_better) for m in _task(task).metrics
            if m.key in before or m.key in after]


def _task(name: str) -> Any:
    """The run's task (an unknown one, from an old run: a task with no metrics and no labels)."""
    from ft_app.tasks import TaskSpec, get_task

    try:
        return get_task(name)
    except ValueError:
        return TaskSpec()


def card_html(results: Any) -> str:
    """The before -> after card as HTML: the plain sentence, then the key numbers side by side."""
    if not results.has_eval:
        return f'<div class="ft-ba ft-ba-empty">{words.NO_EVAL}</div>'
    before, after = results.before, results.after
    zero = results.zero_shot if isinstance(results.zero_shot, dict) else None
    zero_ok = zero is not None and "skipped" not in zero
    rows_n = after.get("rows") or before.get("rows")
    chance = new_head_chance(results.task, before)
    head = ["", *words.CARD_HEADERS]
    if chance is not None:  # a new head's "before" is a guess: the column says so
        head[1] = words.CARD_BEFORE_NEW_HEAD
    if zero_ok:
        head.append(words.CARD_ZERO_SHOT)
    body = []
    for key, name, explain, kind, higher in _metric_rows(results.task, before, after):
        change, css = _change(before.get(key), after.get(key), kind, higher)
        cells = [
            f'<td class="ft-ba-name">{html.escape(name)}<div class="ft-ba-hint">{html.escape(explain)}</div></td>',
            f"<td>{_fmt(before.get(key), kind)}</td>",
            f'<td class="ft-ba-after">{_fmt(after.get(key), kind)}</td>',
            f'<td class="{css}">{html.escape(change)}</td>',
        ]
        if zero_ok:
            cells.append(f"<td>{_fmt(zero.get(key), kind) if key in zero else '–'}</td>")
        body.append(f'<tr data-metric="{key}">{"".join(cells)}</tr>')
    if _task(results.task).labels:
        body.extend(_label_rows(before, after, zero if zero_ok else None))
    notes = _card_notes(results, chance, rows_n, zero, zero_ok)
    summary = html.escape((results.summary or "").replace(" -> ", " → "))
    verdict = "better" if "better than before" in summary else "worse" if "worse than before" in summary else "same"
    return (
        f'<div class="ft-ba" data-verdict="{verdict}">'
        f'<div class="ft-ba-summary ft-ba-{verdict}">{summary}</div>'
        f'<table class="ft-ba-table"><thead><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table>'
        + "".join(f'<div class="ft-ba-note">{n}</div>' for n in notes)
        + "</div>"
    )


def _label_rows(before: dict[str, Any], after: dict[str, Any], zero: dict[str, Any] | None) -> list[str]:
    """One table row per label: its F1 before and after (and zero-shot, where measured), with a hint in words."""
    per_b, per_a = before.get("per_class") or {}, after.get("per_class") or {}
    rows = []
    for label in list(per_a) or list(per_b):
        b, a = per_b.get(label, {}), per_a.get(label, {})
        change, css = _change(b.get("f1"), a.get("f1"), "num", True)
        hint = _label_hint(str(label), b, a)
        cells = [
            f'<td class="ft-ba-name">{words.LABEL_F1.format(label=html.escape(str(label)))}'
            f'<div class="ft-ba-hint">{html.escape(hint)}</div></td>',
            f"<td>{_fmt(b.get('f1'), 'num')}</td>",
            f'<td class="ft-ba-after">{_fmt(a.get("f1"), "num")}</td>',
            f'<td class="{css}">{html.escape(change)}</td>',
        ]
        if zero is not None:
            z = (zero.get("per_class") or {}).get(label, {})
            cells.append(f"<td>{_fmt(z.get('f1'), 'num')}</td>")
        rows.append(f'<tr data-metric="f1:{html.escape(str(label))}">{"".join(cells)}</tr>')
    return rows


def _card_notes(results: Any, chance: float | None, rows_n: Any, zero: dict[str, Any] | None,
                zero_ok: bool) -> list[str]:
    """The lines under the card's table: what a new head's "before" is, how many rows measured it, zero-shot."""
    notes = []
    if chance is not None:
        n = len(results.before["labels"])
        notes.append(words.CARD_NEW_HEAD_GUESS.format(chance=chance, labels=words.NUMBER_WORDS.get(n, str(n))))
    if rows_n:
        notes.append(words.CARD_MEASURED.format(rows=rows_n))
    if zero is not None and not zero_ok:
        notes.append(words.ZERO_SHOT_SKIPPED.format(reason=html.escape(str(zero.get("skipped", "")))))
    elif zero is not None:
        # Beside a new head's guess, the zero-shot model is the before that says what fine-tuning bought.
        note = words.CARD_NEW_HEAD_ZERO_SHOT if chance is not None else words.ZERO_SHOT_NOTE
        notes.append(note.format(model=html.escape(str(zero.get("model", "")))))
    return notes


def _label_hint(label: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    """Recall and precision of one label in words: how many of its rows were found, how often its guesses are right."""
    support = after.get("support", before.get("support"))

    def found(side: dict[str, Any]) -> str:
        recall = _num(side.get("recall"))
        return "?" if recall is None or not isinstance(support, int) else str(round(recall * support))

    def right(side: dict[str, Any]) -> str:
        precision = _num(side.get("precision"))
        return "?" if precision is None else f"{precision:.0%}"

    return words.LABEL_HINT.format(
        found=found(after), support=support if isinstance(support, int) else "?", label=label,
        found_before=found(before), right=right(after), right_before=right(before))


# ---- the golden table ----------------------------------------------------------------------------------------


def answer_text(side: Any) -> str:
    """One side's answer as people read it: the text, or the label with how sure the model was."""
    if not isinstance(side, dict):
        return ""
    probs = side.get("probabilities") or {}
    label = side.get("label")
    if probs and label is not None:
        p = probs.get(label)
        return words.LABEL_SURE.format(label=label, p=p) if isinstance(p, (int, float)) else str(label)
    return str(side.get("text", ""))


def golden_rows(golden: list[dict[str, Any]]) -> list[list[str]]:
    """compare.jsonl lines as table rows: input, reference, base, fine-tuned."""
    return [
        [str(r.get("input", "")), str(r.get("reference") or ""), answer_text(r.get("base")), answer_text(r.get("finetuned"))]
        for r in golden
    ]


LONG_CELL = 240  # characters shown of a long cell; the rest opens with a click


def _cell(text: str) -> str:
    """One table cell's HTML: a long text cut, with the whole of it a click away."""
    if len(text) <= LONG_CELL:
        return f"<td>{html.escape(text)}</td>"
    return (f"<td><details><summary>{html.escape(text[:LONG_CELL])}…</summary>{html.escape(text[LONG_CELL:])}"
            "</details></td>")


def golden_html(rows: list[list[str]]) -> str:
    """The test-prompt table: one row per prompt, its reference and both answers ('' when there are none)."""
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in words.GOLDEN_HEADERS)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return (f'<div class="ft-golden-wrap"><table class="ft-golden-table" aria-label="{words.GOLDEN_LABEL}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
