"""Compare tab: the same input through the base model and the fine-tuned model of a run, side by side."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app.limits import MAX_COMPARE_ROWS, MAX_NEW_TOKENS, check_compare_rows
from ft_app.ownership import Visitor
from ft_app.runs import RunSummary
from ft_app.ui import words
from ft_app.ui.common import bind, kept_words, made_for, method_label, page_event, task_words, visitor
from ft_app.ui.context import AppContext

CELL_CHARS = 180  # characters of a long text shown in a table cell


@dataclass
class CompareTab:
    """The Compare tab's widgets that other parts of the app use."""

    run: gr.Dropdown


def finished_runs(ctx: AppContext, who: Visitor | None = None) -> list[RunSummary]:
    """Runs that saved a model (completed or stopped) and that the visitor may see, newest first."""
    return [s for s in ctx.jobs.runs(who) if s.result_dir is not None]


def run_choices(ctx: AppContext, selected: str | None = None, who: Visitor | None = None) -> gr.Dropdown:
    """The finished runs as dropdown choices, keeping the selection when it is still there."""
    runs = finished_runs(ctx, who)
    choices = [(words.RUN_CHOICE.format(run_id=s.run_id, status=words.STATUS_WORDS.get(s.status, s.status),
                                        model=s.model), s.run_id) for s in runs]
    ids = [s.run_id for s in runs]
    value = selected if selected in ids else (ids[0] if ids else None)
    return gr.Dropdown(choices=choices, value=value, info=words.FINISHED_RUNS if runs else words.NO_FINISHED_RUNS)


def refresh_runs(ctx: AppContext, current: str | None, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> gr.Dropdown:
    """The finished runs this visitor may see, keeping the one shown.

    Args: the run dropdown, the visitor's owner key.
    Returns: the run dropdown.
    """
    return run_choices(ctx, current, visitor(owner_key, request, profile))


def describe_run(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Describe the picked run, offer its held-out examples, and show the fitting output widgets.

    Args: the run dropdown, the visitor's owner key.
    Returns: the run card, the examples' rows, the examples, the decoding settings box, the two label plots.
    """
    if not run_id:
        return [words.NO_RUN_TO_COMPARE, [], gr.Dataset(samples=[], visible=False), gr.skip(), gr.skip(), gr.skip()]
    from ft_app.compare import held_out_examples

    ctx.jobs.run_dir(run_id, visitor(owner_key, request, profile))  # a run this visitor may see
    summary = ctx.store.summary(run_id)
    rows = held_out_examples(summary.path, n=5)
    classify = _labels(summary.task)  # label probabilities instead of decoding settings
    best = kept_words(summary.best_metric, summary.best_step)
    info = words.RUN_CARD.format(
        run_id=summary.run_id, task=task_words(summary.task), model=summary.model,
        method=method_label(summary.method),
        status=words.STATUS_WORDS.get(summary.status, summary.status),
    ) + (words.BEST_METRIC.format(best=best) if best else "")
    samples = [[_short(r.get("input", ""))] for r in rows]
    return [info, rows, gr.Dataset(samples=samples, visible=bool(samples)), gr.Accordion(visible=not classify),
            gr.Label(visible=classify), gr.Label(visible=classify)]


def use_example(index: int | None, rows: list[dict[str, Any]]) -> tuple[str, str]:
    """Put a held-out example into the text box and show its reference answer.

    Args: the clicked example, the examples' rows.
    Returns: the text box, the reference line.
    """
    if index is None or index >= len(rows):
        return gr.skip(), gr.skip()
    row = rows[index]
    ref = row.get("reference")
    return str(row.get("input", "")), (words.EXPECTED_ANSWER.format(reference=ref) if ref not in (None, "") else "")


def _settings(tokens: float, temp: float, p: float, seed_value: float) -> Any:
    """The decoding sliders as the engine's generation settings."""
    from ft_app.tasks import GenerationSettings

    return GenerationSettings(max_new_tokens=tokens, temperature=float(temp), top_p=float(p), seed=int(seed_value or 0))


def _no_run(ctx: AppContext, who: Visitor) -> ValueError:
    return ValueError(words.NO_RUN_TO_COMPARE if not finished_runs(ctx, who) else words.PICK_RUN_TO_COMPARE)


def compare_text(ctx: AppContext, run_id: str | None, prompt: str, tokens: float, temp: float, p: float,
                 seed_value: float, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Run the same input through the base and the fine-tuned model of a run.

    Args: the run dropdown, the text box, the decoding settings (max new tokens, temperature, top-p, seed), the
        visitor's owner key.
    Returns: the base model's answer and label probabilities, the fine-tuned model's answer and label probabilities.
    """
    who = visitor(owner_key, request, profile)
    if not run_id:
        raise _no_run(ctx, who)
    if not (prompt or "").strip():
        raise ValueError(words.NO_PROMPT)
    from ft_app.compare import compare

    result = compare(ctx.jobs.run_dir(run_id, who), prompt, _settings(tokens, temp, p, seed_value))
    note = result.base.note or result.finetuned.note
    if note:
        gr.Warning(note)
    return [*_side(result.base), *_side(result.finetuned)]


def compare_text_shown(ctx: AppContext, run_id: str | None, prompt: str, tokens: float, temp: float, p: float,
                       seed_value: float, owner_key: str | None = None, request: gr.Request = None,
                       profile: gr.OAuthProfile | None = None) -> list[Any]:
    """compare_text for the page, with a line under the answers when the box held several lines (read as one text:
    a pasted list belongs in the list box of the table below).

    Args: as compare_text.
    Returns: compare_text's outputs, then the lines note.
    """
    from ft_app.compare import lines_in

    answers = compare_text(ctx, run_id, prompt, tokens, temp, p, seed_value, owner_key, request, profile)
    n = lines_in(prompt)
    return [*answers, words.COMPARE_LINES.format(n=n) if n > 1 else ""]


def compare_rows(ctx: AppContext, run_id: str | None, n: float, tokens: float, temp: float, p: float,
                 seed_value: float, which: str, owner_key: str | None = None, texts: str | None = None,
                 file: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Answer N held-out rows (or the visitor's own texts: an uploaded list, else the pasted lines) with both models,
    judge each side where an expected answer is known, and offer the rows the filter shows as CSV.

    Args: the run dropdown, how many held-out rows, the decoding settings, the filter, the visitor's owner key, the
        pasted texts (one a line), the uploaded list (.txt, or .csv with a text and an optional label column).
    Returns: the summary line, the table's rows, the CSV file (the rows shown), the rows as records (for filtering).
    """
    who = visitor(owner_key, request, profile)
    if not run_id:
        raise _no_run(ctx, who)
    from ft_app.compare import batch_compare, read_text_list, shown_rows, text_list

    count = check_compare_rows(n)  # the numbers first: a refusal names them whatever the run
    own = read_text_list(Path(file)) if file else (text_list(texts) if (texts or "").strip() else None)
    rows = batch_compare(ctx.jobs.run_dir(run_id, who), count, _settings(tokens, temp, p, seed_value), rows=own)
    csv_path = _csv_for(ctx, who, run_id, shown_rows(rows, which), which)
    records = [_batch_record(r, run_id) for r in rows]
    summary = _batch_summary(records, own=own is not None)
    if own is None and len(records) < count:
        summary += words.FEWER_ROWS.format(n=len(records))
    return [summary, _filtered(records, which), str(csv_path), records]


def compare_rows_shown(ctx: AppContext, run_id: str | None, n: float, tokens: float, temp: float, p: float,
                       seed_value: float, which: str, owner_key: str | None = None, texts: str | None = None,
                       file: str | None = None, request: gr.Request = None,
                       profile: gr.OAuthProfile | None = None) -> list[Any]:
    """compare_rows for the page: the summary and the CSV button appear with the table.

    Args: as compare_rows.
    Returns: the summary, the table, the CSV button, the records.
    """
    summary, table, csv_path, records = compare_rows(ctx, run_id, n, tokens, temp, p, seed_value, which, owner_key,
                                                     texts, file, request, profile)
    return [gr.Markdown(summary, visible=True), table, gr.DownloadButton(value=csv_path, visible=True), records]


def filter_rows(which: str, records: list[dict[str, Any]]) -> list[list[str]]:
    """Show all rows, or only those fine-tuning fixed, or only those it broke.

    Args: the filter, the records.
    Returns: the table's rows.
    """
    return _filtered(records or [], which)


def filtered_view(ctx: AppContext, which: str, records: list[dict[str, Any]], owner_key: str | None = None,
                  request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[Any]:
    """The filter changed: the table shows those rows, and the CSV download holds the same rows. One event for both,
    so that a download right after the table changed can never be the file of the rows shown before.

    Args: the filter, the records, the visitor's owner key.
    Returns: the table's rows, the CSV button.
    """
    if not records:
        return [[], gr.skip()]
    from ft_app.compare import BatchRow, shown_rows

    rows = shown_rows([BatchRow(**r["row"]) for r in records], which)
    who = visitor(owner_key, request, profile)
    csv_path = _csv_for(ctx, who, records[0]["run_id"], rows, which)
    return [filter_rows(which, records), gr.update(value=str(csv_path), visible=True)]


def _csv_for(ctx: AppContext, who: Visitor, run_id: str, rows: list[Any], which: str | None) -> Path:
    """The table's rows as CSV, served as a returned file (never from the runs folder) among this visitor's
    downloads; a filtered table's file says which rows it holds."""
    from ft_app.compare import write_batch_csv

    name = f"{run_id}-side-by-side.csv" if which in (None, "", "all") else f"{run_id}-{which}-side-by-side.csv"
    return made_for(ctx, who, lambda out: write_batch_csv(rows, out / name))


def clear_rows() -> tuple[Any, ...]:
    """Another run was picked: hide the last table.

    Returns: the summary, the table, the CSV button, the records.
    """
    return gr.Markdown(visible=False), [], gr.DownloadButton(visible=False), []


def _yes_no(value: bool | None) -> str:
    return "–" if value is None else (words.YES if value else words.NO)


def _batch_record(row: Any, run_id: str = "") -> dict[str, Any]:
    """One BatchRow as the table shows it, with its change kept for filtering and the row itself for the CSV."""
    return {
        "row": asdict(row),
        "run_id": run_id,
        "cells": [row.input, row.reference, row.base, row.finetuned, _yes_no(row.base_correct),
                  _yes_no(row.finetuned_correct), words.CHANGE_WORDS.get(row.change, row.change)],
        "change": row.change,
        "base_correct": row.base_correct,
        "finetuned_correct": row.finetuned_correct,
    }


def _filtered(records: list[dict[str, Any]], which: str) -> list[list[str]]:
    """The cells of the rows the filter shows (the engine's filter, the one the CSV uses too)."""
    from ft_app.compare import BatchRow, shown_rows

    rows = [BatchRow(**r["row"]) for r in records]
    kept = {id(row) for row in shown_rows(rows, which)}
    return [r["cells"] for r, row in zip(records, rows, strict=True) if id(row) in kept]


def _batch_summary(records: list[dict[str, Any]], own: bool = False) -> str:
    """One plain line: how often each side was right, and how many rows fine-tuning fixed or broke."""
    judged = [r for r in records if r["base_correct"] is not None]
    if not judged:
        return (words.BATCH_OWN_UNJUDGED if own else words.BATCH_UNJUDGED).format(n=len(records))
    return (words.BATCH_OWN_SUMMARY if own else words.BATCH_SUMMARY).format(
        n=len(judged), base=sum(bool(r["base_correct"]) for r in judged),
        tuned=sum(bool(r["finetuned_correct"]) for r in judged), fixed=sum(r["change"] == "fixed" for r in judged),
        broken=sum(r["change"] == "broken" for r in judged))


def _side(pred: Any) -> tuple[str, Any]:
    """One side of the comparison: the text, and the label probabilities for classification."""
    if pred.probabilities:
        text = pred.label or pred.text
        top = pred.probabilities.get(text)
        return (words.LABEL_SURE.format(label=text, p=top) if top is not None else text), dict(pred.probabilities)
    return pred.text, None


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _single_section(ctx: AppContext, run: gr.Dropdown, run_info: gr.Markdown) -> list[Any]:
    """One text through both models: the text box, the held-out examples, the decoding settings (returned), Compare
    and the two answers."""
    text = gr.Textbox(**words.COMPARE_TEXT, lines=3, elem_id="compare-text")
    rows = gr.State([])
    examples = gr.Dataset(components=[gr.Textbox(visible=False)], samples=[], label=words.HELD_OUT_EXAMPLES,
                          type="index", visible=False)
    reference = gr.Markdown("")
    with gr.Accordion(words.DECODING, open=False) as decoding_box:
        with gr.Row():
            decoding = [gr.Slider(1, MAX_NEW_TOKENS, value=64, step=1, **words.MAX_NEW_TOKENS),
                        gr.Slider(0, 2, value=0.0, step=0.05, **words.TEMPERATURE),
                        gr.Slider(0.05, 1, value=1.0, step=0.05, **words.TOP_P),
                        gr.Number(value=42, precision=0, **words.SEED)]
    go = gr.Button(words.COMPARE, variant="primary", elem_id="compare-btn")
    notice = gr.HTML("", elem_id="compare-notice", elem_classes=["ft-note"])
    with gr.Row(elem_classes=["ft-row"]):
        with gr.Column(elem_classes=["ft-side"]):
            gr.Markdown(words.BASE_TITLE)
            base_text = gr.Textbox(label=words.BASE_SAYS, lines=4, interactive=False, elem_id="base-out")
            base_label = gr.Label(label=words.BASE_PROBABILITIES, visible=False)
        with gr.Column(elem_classes=["ft-side"]):
            gr.Markdown(words.TUNED_TITLE)
            tuned_text = gr.Textbox(label=words.TUNED_SAYS, lines=4, interactive=False, elem_id="tuned-out")
            tuned_label = gr.Label(label=words.TUNED_PROBABILITIES, visible=False)
    lines_note = gr.Markdown("", elem_id="compare-lines", elem_classes=["ft-note"])
    page_event(run.change, bind(describe_run, ctx), [run, ctx.owner],
               [run_info, rows, examples, decoding_box, base_label, tuned_label], notice)
    examples.click(use_example, [examples, rows], [text, reference], api_visibility="private")
    inputs, answers = [run, text, *decoding, ctx.owner], [base_text, base_label, tuned_text, tuned_label, lines_note]
    page_event(go.click, bind(compare_text_shown, ctx), inputs, answers, notice, api_name="compare",
               api_fn=bind(compare_text, ctx), api_outputs=answers[:4], concurrency_limit=1)
    page_event(text.submit, bind(compare_text_shown, ctx), inputs, answers, notice, concurrency_limit=1,
               concurrency_id="compare")
    return decoding


def _batch_section(ctx: AppContext, run: gr.Dropdown, decoding: list[Any]) -> None:
    """Many rows at once: how many held-out rows (or the visitor's own texts, pasted or uploaded), the button, the
    summary, the filter, the table and the CSV of what it shows."""
    gr.Markdown(words.BATCH_INTRO)
    with gr.Row(elem_classes=["ft-row"]):
        count = gr.Slider(1, MAX_COMPARE_ROWS, value=20, step=1, **words.BATCH_N, scale=3, elem_id="batch-n")
        go = gr.Button(words.BATCH_GO, variant="primary", scale=0, min_width=220, elem_id="batch-btn")
    with gr.Row(elem_classes=["ft-row"]):
        texts = gr.Textbox(**words.BATCH_TEXTS, lines=4, max_lines=12, scale=3, elem_id="batch-texts")
        # No file_types: Gradio's own type check marks the box with a red Error badge that outlives the refusal;
        # the engine refuses another kind of file in words instead (compare.read_text_list).
        own_file = gr.File(label=words.BATCH_FILE, type="filepath", scale=2, height=120, elem_id="batch-file")
    notice = gr.HTML("", elem_id="batch-notice", elem_classes=["ft-note"])
    summary = gr.Markdown("", elem_classes=["ft-card"], elem_id="batch-summary", visible=False)
    which = gr.Radio(words.BATCH_FILTERS, value="all", label=words.SHOW, elem_id="batch-filter")
    # A long input is cut (a click on the cell shows all of it) so that it cannot push the answers off screen.
    table = gr.Dataframe(headers=words.BATCH_HEADERS, value=[], interactive=False, wrap=True, max_height=520,
                         label=words.BATCH_TABLE, elem_id="batch-table", max_chars=CELL_CHARS,
                         column_widths=["28%", "12%", "17%", "17%", "8%", "8%", "10%"])
    csv = gr.DownloadButton(words.BATCH_CSV, value=None, visible=False, elem_id="batch-csv", variant="secondary")
    records = gr.State([])
    outputs = [summary, table, csv, records]
    page_event(go.click, bind(compare_rows_shown, ctx), [run, count, *decoding, which, ctx.owner, texts, own_file],
               outputs, notice, api_name="batch_compare", api_fn=bind(compare_rows, ctx), concurrency_limit=1)
    which.change(bind(filtered_view, ctx), [which, records, ctx.owner], [table, csv], api_visibility="private")
    run.change(clear_rows, None, outputs, api_visibility="private")


def build(ctx: AppContext) -> CompareTab:
    """Lay out the Compare tab and wire its events."""
    gr.Markdown(words.COMPARE_INTRO)
    with gr.Row(elem_classes=["ft-row"]):
        run = gr.Dropdown(label=words.COMPARE_RUN, choices=[], value=None, scale=4, elem_id="compare-run",
                          allow_custom_value=True)
        refresh = gr.Button(words.REFRESH_LIST, scale=0, min_width=150)
    run_info = gr.Markdown(words.NO_RUN_TO_COMPARE, elem_classes=["ft-card"])
    decoding = _single_section(ctx, run, run_info)
    from ft_app.ui import chat_box  # the chat for a text-generation run, under the single comparison

    chat_box.build(ctx, run, decoding)
    refresh.click(bind(refresh_runs, ctx), [run, ctx.owner], [run], api_name="compare_runs")
    _batch_section(ctx, run, decoding)
    return CompareTab(run=run)


def _labels(task: str) -> bool:
    """Whether a run's answers are labels (an unknown task from an old run: not)."""
    from ft_app.tasks import get_task

    try:
        return get_task(task).labels
    except ValueError:
        return False
