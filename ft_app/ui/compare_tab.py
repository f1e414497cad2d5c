"""Compare tab: the same input through the base model and the fine-tuned model of a run, side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.limits import MAX_COMPARE_ROWS, MAX_NEW_TOKENS, check_compare_rows
from ft_app.ownership import Visitor
from ft_app.runs import RunSummary
from ft_app.ui.common import METHOD_LABELS, STATUS_WORDS, TASK_SHORT, made_for, page_event, visitor
from ft_app.ui.context import AppContext

NO_RUN_MESSAGE = (
    "No finished run to compare yet: train a model in the Train tab first, and when it has finished, pick it here."
)
BATCH_COLUMNS = ["input", "reference (from the data)", "base model (before)", "fine-tuned (after)", "base right?",
                 "fine-tuned right?", "change"]
CELL_CHARS = 180  # characters of a long text shown in a table cell
FILTERS = [("All rows", "all"), ("Fixed by fine-tuning (base wrong, fine-tuned right)", "fixed"),
           ("Broken by fine-tuning (base right, fine-tuned wrong)", "broken")]
CHANGE_WORDS = {"fixed": "fixed by fine-tuning", "broken": "broken by fine-tuning", "same": "no change", "": ""}


@dataclass
class CompareTab:
    """The Compare tab's widgets that other parts of the app use."""

    run: gr.Dropdown
    refresh: Any


def finished_runs(ctx: AppContext, who: Visitor | None = None) -> list[RunSummary]:
    """Runs that saved a model (completed or stopped) and that the visitor may see, newest first."""
    return [s for s in ctx.jobs.runs(who) if s.result_dir is not None]


def run_choices(ctx: AppContext, selected: str | None = None, who: Visitor | None = None) -> gr.Dropdown:
    """The finished runs as dropdown choices, keeping the selection when it is still there."""
    runs = finished_runs(ctx, who)
    choices = [(f"{s.run_id} · {STATUS_WORDS.get(s.status, s.status)} · {s.model}", s.run_id) for s in runs]
    ids = [s.run_id for s in runs]
    value = selected if selected in ids else (ids[0] if ids else None)
    info = "Runs that finished (or were stopped) and saved a model." if runs else "No finished runs yet."
    return gr.Dropdown(choices=choices, value=value, info=info)


def build(ctx: AppContext) -> CompareTab:
    """Lay out the Compare tab and wire its events."""
    gr.Markdown(
        "### Step 4 · Before and after\n"
        "Type a text (or click a held-out example): the base model and your fine-tuned model answer side by side, "
        "with the same settings."
    )
    with gr.Row(elem_classes=["ft-row"]):
        run = gr.Dropdown(label="Fine-tuned run", choices=[], value=None, scale=4, elem_id="compare-run", allow_custom_value=True)
        refresh = gr.Button("Refresh list", scale=0, min_width=150)
    run_info = gr.Markdown(NO_RUN_MESSAGE, elem_classes=["ft-card"])
    text = gr.Textbox(label="Your text or prompt", lines=3, placeholder="Type something the model should handle…",
                      elem_id="compare-text")
    examples_state = gr.State([])
    examples = gr.Dataset(
        components=[gr.Textbox(visible=False)],
        samples=[],
        label="Held-out examples the model never trained on (click one to use it)",
        type="index",
        visible=False,
    )
    reference = gr.Markdown("")
    with gr.Accordion("Decoding settings (the same for both models)", open=False) as decoding:
        with gr.Row():
            max_new_tokens = gr.Slider(1, MAX_NEW_TOKENS, value=64, step=1, label="Max new tokens", info="Longest answer, in tokens.")
            temperature = gr.Slider(0, 2, value=0.0, step=0.05, label="Temperature",
                                    info="0 always picks the likeliest word (repeatable); higher is more varied.")
            top_p = gr.Slider(0.05, 1, value=1.0, step=0.05, label="Top-p",
                              info="With temperature above 0: sample only from the likeliest words adding up to this share.")
            seed = gr.Number(value=42, precision=0, label="Seed", info="Same seed, same sampled answer.")
    go = gr.Button("Compare", variant="primary", elem_id="compare-btn")
    notice = gr.HTML("", elem_id="compare-notice", elem_classes=["ft-note"])
    with gr.Row(elem_classes=["ft-row"]):
        with gr.Column(elem_classes=["ft-side"]):
            gr.Markdown("#### Base model (before)")
            base_text = gr.Textbox(label="Base model says", lines=4, interactive=False, elem_id="base-out")
            base_label = gr.Label(label="Base model: label probabilities", visible=False)
        with gr.Column(elem_classes=["ft-side"]):
            gr.Markdown("#### Fine-tuned (after)")
            tuned_text = gr.Textbox(label="Fine-tuned model says", lines=4, interactive=False, elem_id="tuned-out")
            tuned_label = gr.Label(label="Fine-tuned model: label probabilities", visible=False)
    gr.Markdown(
        "### Many held-out rows at once\n"
        "Both models answer the same held-out rows (kept aside from training); each answer is checked against the "
        "expected one from your data. For generated text, *right* means equal to it, ignoring case and punctuation."
    )
    with gr.Row(elem_classes=["ft-row"]):
        batch_n = gr.Slider(1, MAX_COMPARE_ROWS, value=20, step=1, label="How many held-out rows", scale=3, elem_id="batch-n",
                            info="More rows give a fairer picture but take longer (each row is answered twice).")
        batch_go = gr.Button("Compare on these rows", variant="primary", scale=0, min_width=220, elem_id="batch-btn")
    batch_notice = gr.HTML("", elem_id="batch-notice", elem_classes=["ft-note"])
    batch_summary = gr.Markdown("", elem_classes=["ft-card"], elem_id="batch-summary", visible=False)
    batch_filter = gr.Radio(FILTERS, value="all", label="Show", elem_id="batch-filter")
    # A long input is cut (a click on the cell shows all of it) so that it cannot push the answers off screen.
    batch_table = gr.Dataframe(headers=BATCH_COLUMNS, value=[], interactive=False, wrap=True, max_height=520,
                               label="Side by side (click a cut cell to read all of it; the CSV has every text)",
                               elem_id="batch-table", max_chars=CELL_CHARS,
                               column_widths=["28%", "12%", "17%", "17%", "8%", "8%", "10%"])
    batch_csv = gr.DownloadButton("Download the table as CSV", value=None, visible=False, elem_id="batch-csv",
                                  variant="secondary")
    batch_rows = gr.State([])

    def on_run(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
               profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Describe the picked run, offer its held-out examples, and show the fitting output widgets."""
        if not run_id:
            return [NO_RUN_MESSAGE, [], gr.Dataset(samples=[], visible=False), gr.skip(), gr.skip(), gr.skip()]
        from ft_app.compare import held_out_examples

        ctx.jobs.run_dir(run_id, visitor(owner_key, request, profile))  # a run this visitor may see
        summary = ctx.store.summary(run_id)
        rows = held_out_examples(summary.path, n=5)
        classify = summary.task == "classification"
        best = ", ".join(f"{k.removeprefix('eval_')} {v:.3f}" for k, v in summary.best_metric.items())
        info = (
            f"**{summary.run_id}** · {TASK_SHORT.get(summary.task, summary.task)} · `{summary.model}` · "
            f"{METHOD_LABELS.get(summary.method, summary.method)} · {STATUS_WORDS.get(summary.status, summary.status)}"
            + (f" · best: {best}" if best else "")
        )
        samples = [[_short(r.get("input", ""))] for r in rows]
        return [
            info,
            rows,
            gr.Dataset(samples=samples, visible=bool(samples)),
            gr.Accordion(visible=not classify),
            gr.Label(visible=classify),
            gr.Label(visible=classify),
        ]

    def use_example(index: int | None, rows: list[dict[str, Any]]) -> tuple[str, str]:
        """Put a held-out example into the text box and show its reference answer."""
        if index is None or index >= len(rows):
            return gr.skip(), gr.skip()
        row = rows[index]
        ref = row.get("reference")
        return str(row.get("input", "")), (f"**Expected answer (from the data):** {ref}" if ref not in (None, "") else "")

    def do_compare(run_id: str | None, prompt: str, tokens: float, temp: float, p: float, seed_value: float,
                   owner_key: str | None = None, request: gr.Request = None,
                   profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Run the same input through the base and the fine-tuned model of a run."""
        who = visitor(owner_key, request, profile)
        if not run_id:
            raise ValueError(NO_RUN_MESSAGE if not finished_runs(ctx, who) else "Pick a run to compare first.")
        if not (prompt or "").strip():
            raise ValueError("Type a text or prompt first, or click one of the held-out examples.")
        from ft_app.compare import compare
        from ft_app.tasks import GenerationSettings

        settings = GenerationSettings(
            max_new_tokens=tokens, temperature=float(temp), top_p=float(p), seed=int(seed_value or 0)
        )
        result = compare(ctx.jobs.run_dir(run_id, who), prompt, settings)
        note = result.base.note or result.finetuned.note
        if note:
            gr.Warning(note)
        return [*_side(result.base), *_side(result.finetuned)]

    def do_batch(run_id: str | None, n: float, tokens: float, temp: float, p: float, seed_value: float,
                 which: str, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Answer N held-out rows with both models, judge each side, and offer the table as CSV."""
        who = visitor(owner_key, request, profile)
        if not run_id:
            raise ValueError(NO_RUN_MESSAGE if not finished_runs(ctx, who) else "Pick a run to compare first.")
        from ft_app.compare import batch_compare, write_batch_csv
        from ft_app.tasks import GenerationSettings

        count = check_compare_rows(n)  # the numbers first: a refusal names them whatever the run
        run_dir = ctx.jobs.run_dir(run_id, who)
        settings = GenerationSettings(
            max_new_tokens=tokens, temperature=float(temp), top_p=float(p), seed=int(seed_value or 0)
        )
        rows = batch_compare(run_dir, count, settings)
        # Served as a returned file (never from the runs folder), among this visitor's downloads.
        csv_path = made_for(ctx, who, lambda out: write_batch_csv(rows, out / f"{run_id}-side-by-side.csv"))
        records = [_batch_record(r) for r in rows]
        summary = _batch_summary(records)
        if len(records) < count:
            summary += f" (This run kept only {len(records)} held-out rows.)"
        return [summary, _filtered(records, which), str(csv_path), records]

    def do_batch_shown(run_id: str | None, n: float, tokens: float, temp: float, p: float, seed_value: float,
                       which: str, owner_key: str | None = None, request: gr.Request = None,
                       profile: gr.OAuthProfile | None = None) -> list[Any]:
        """do_batch for the page: the summary and the CSV button appear with the table."""
        summary, table, csv_path, records = do_batch(run_id, n, tokens, temp, p, seed_value, which, owner_key, request,
                                                     profile)
        return [gr.Markdown(summary, visible=True), table, gr.DownloadButton(value=csv_path, visible=True), records]

    def filter_rows(which: str, records: list[dict[str, Any]]) -> list[list[str]]:
        """Show all rows, or only those fine-tuning fixed, or only those it broke."""
        return _filtered(records or [], which)

    def refresh_runs(current: str | None, owner_key: str | None = None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None) -> gr.Dropdown:
        """The finished runs this visitor may see, keeping the one shown."""
        return run_choices(ctx, current, visitor(owner_key, request, profile))

    owner = ctx.owner
    page_event(run.change, on_run, [run, owner], [run_info, examples_state, examples, decoding, base_label, tuned_label],
               notice)
    examples.click(use_example, [examples, examples_state], [text, reference], api_visibility="private")
    refresh.click(refresh_runs, [run, owner], [run], api_name="compare_runs")
    compare_inputs = [run, text, max_new_tokens, temperature, top_p, seed, owner]
    compare_outputs = [base_text, base_label, tuned_text, tuned_label]
    page_event(go.click, do_compare, compare_inputs, compare_outputs, notice, api_name="compare", concurrency_limit=1)
    page_event(text.submit, do_compare, compare_inputs, compare_outputs, notice, concurrency_limit=1,
               concurrency_id="compare")
    page_event(
        batch_go.click, do_batch_shown, [run, batch_n, max_new_tokens, temperature, top_p, seed, batch_filter, owner],
        [batch_summary, batch_table, batch_csv, batch_rows], batch_notice, api_name="batch_compare", api_fn=do_batch, concurrency_limit=1,
    )
    batch_filter.change(filter_rows, [batch_filter, batch_rows], [batch_table], api_visibility="private")
    run.change(lambda: (gr.Markdown(visible=False), [], gr.DownloadButton(visible=False), []), None,
               [batch_summary, batch_table, batch_csv, batch_rows], api_visibility="private")
    return CompareTab(run=run, refresh=refresh_runs)


def _yes_no(value: bool | None) -> str:
    return "–" if value is None else ("✔ yes" if value else "✘ no")


def _batch_record(row: Any) -> dict[str, Any]:
    """One BatchRow as the table shows it, with its change kept for filtering."""
    return {
        "cells": [row.input, row.reference, row.base, row.finetuned, _yes_no(row.base_correct),
                  _yes_no(row.finetuned_correct), CHANGE_WORDS.get(row.change, row.change)],
        "change": row.change,
        "base_correct": row.base_correct,
        "finetuned_correct": row.finetuned_correct,
    }


def _filtered(records: list[dict[str, Any]], which: str) -> list[list[str]]:
    return [r["cells"] for r in records if which in (None, "", "all") or r["change"] == which]


def _batch_summary(records: list[dict[str, Any]]) -> str:
    """One plain line: how often each side was right, and how many rows fine-tuning fixed or broke."""
    judged = [r for r in records if r["base_correct"] is not None]
    n = len(records)
    if not judged:
        return f"Both models answered {n} held-out rows; these rows have no expected answer to check against."
    base = sum(bool(r["base_correct"]) for r in judged)
    tuned = sum(bool(r["finetuned_correct"]) for r in judged)
    fixed = sum(r["change"] == "fixed" for r in judged)
    broken = sum(r["change"] == "broken" for r in judged)
    return (
        f"On {len(judged)} held-out rows the **base model was right {base} times** and the **fine-tuned model "
        f"{tuned} times**: fine-tuning **fixed {fixed}** and **broke {broken}**."
    )


def _side(pred: Any) -> tuple[str, Any]:
    """One side of the comparison: the text, and the label probabilities for classification."""
    if pred.probabilities:
        text = pred.label or pred.text
        top = pred.probabilities.get(text)
        return (f"{text} ({top:.0%} sure)" if top is not None else text), dict(pred.probabilities)
    return pred.text, None


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
