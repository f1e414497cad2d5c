"""Runs tab: every run on disk, open one (config and curves), overlay several, delete with confirmation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.catalog import model_display_name
from ft_app.ui import common, results_panel
from ft_app.ui.common import METHOD_LABELS, STATUS_WORDS, TASK_SHORT, failure_html, fmt_duration, page_event
from ft_app.ui.context import AppContext

COLUMNS = ["run", "status", "task", "model", "method", "started", "best eval metric"]


@dataclass
class RunsTab:
    """The Runs tab's widgets that other parts of the app use."""

    table: gr.Dataframe
    pick: gr.Dropdown
    overlay_pick: gr.CheckboxGroup
    to_compare: gr.Button
    resume: gr.Button
    refresh_fn: Any
    refresh_outputs: list[gr.components.Component]
    notice: gr.HTML


def _when(iso: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM' (UTC)."""
    return (iso or "").replace("T", " ")[:16]


def _model_name(model: str) -> str:
    """A Hub id as it is; a local folder by the model's own name, not 'model' (the full path is in the run's details)."""
    return model_display_name(model)


def run_rows(ctx: AppContext) -> list[list[Any]]:
    """One table row per run on disk, newest first."""
    rows = []
    for s in ctx.store.list_runs():
        best = ", ".join(f"{k.removeprefix('eval_')} {v:.3f}" for k, v in (s.best_metric or {}).items())
        rows.append([
            s.run_id,
            STATUS_WORDS.get(s.status, s.status),
            TASK_SHORT.get(s.task, s.task),
            _model_name(s.model),
            METHOD_LABELS.get(s.method, s.method),
            _when(s.created),
            best,
        ])
    return rows


def build(ctx: AppContext) -> RunsTab:
    """Lay out the Runs tab and wire its events."""
    gr.Markdown(
        "### Step 5 · Your runs\n"
        "Every run is kept on disk: open one to see its settings and curves, tick several to compare their curves."
    )
    refresh = gr.Button("Refresh the list", size="sm", scale=0, min_width=160)
    table = gr.Dataframe(headers=COLUMNS, value=[], label="All runs (newest first)", interactive=False, wrap=True,
                         max_height=300, elem_id="runs-table")
    with gr.Row(elem_classes=["ft-row"]):
        pick = gr.Dropdown(label="Open a run", choices=[], value=None, scale=3, elem_id="runs-pick", allow_custom_value=True)
        resume = gr.Button("Resume this run", variant="primary", scale=0, min_width=170, visible=False,
                           elem_id="runs-resume")
        to_compare = gr.Button("Try it in Compare", scale=0, min_width=170)
        delete = gr.Button("Delete this run…", variant="stop", scale=0, min_width=170, visible=not ctx.jobs.host.demo)
    notice = gr.HTML("", elem_id="runs-notice", elem_classes=["ft-note"])
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown("")
        confirm = gr.Button("Yes, delete it", variant="stop", elem_id="confirm-delete")
        cancel = gr.Button("Cancel")
    with gr.Row():
        with gr.Column(scale=3):
            run_plot = gr.Plot(label="Curves of this run", elem_id="runs-plot")
        with gr.Column(scale=2):
            run_summary = gr.Markdown("Pick a run above to open it.", elem_classes=["ft-card"])
            with gr.Accordion("Settings of this run (config file)", open=False):
                run_config = gr.Code(language="json", interactive=False, label="config.json")
    run_failure = gr.HTML("", visible=False, elem_id="runs-failure")
    results = results_panel.build("runs")
    with gr.Accordion("Log of this run (last lines)", open=False) as log_box:
        run_log = gr.Textbox(lines=10, max_lines=25, interactive=False, show_label=False, elem_id="runs-log")
    with gr.Accordion("Compare the curves of several runs", open=False):
        overlay_pick = gr.CheckboxGroup(label="Runs to overlay", choices=[])
        overlay_plot = gr.Plot(label="Runs side by side")

    def list_runs() -> list[dict[str, Any]]:
        """Every run on disk, newest first, as JSON records (for API clients)."""
        from ft_app.results import resume_blocker

        return [
            {
                "run_id": s.run_id,
                "status": s.status,
                "task": s.task,
                "model": s.model,
                "method": s.method,
                "created": s.created,
                "finished": s.finished,
                "best_metric": s.best_metric,
                "message": s.message,
                "has_model": s.result_dir is not None,
                "can_resume": s.status in ("failed", "interrupted", "stopped") and resume_blocker(ctx.store, s.run_id) is None,
            }
            for s in ctx.store.list_runs()
        ]

    def pick_row(evt: gr.SelectData) -> str | None:
        """Open the run whose table row was clicked."""
        row = evt.row_value or []
        return row[0] if row else None

    def open_run(run_id: str | None) -> tuple[Any, ...]:
        """A run's curves, a short summary, its config file, Resume, the failure reason and log, and its results."""
        from ft_app import plots
        from ft_app.results import resume_blocker

        if not run_id:
            return (plots.empty_figure("Pick a run above to see its curves."), "Pick a run above to open it.", "",
                    gr.Button(visible=False), gr.HTML(visible=False), gr.Accordion(open=False), "",
                    *results_panel.hidden())
        s = ctx.store.summary(run_id)
        snap = ctx.jobs.snapshot(run_id)
        status = ctx.store.read_status(s.path)
        lines = [
            f"**{s.run_id}**",
            f"- Status: **{STATUS_WORDS.get(s.status, s.status)}** {s.message if s.status != 'failed' else ''}",
            f"- Task: {TASK_SHORT.get(s.task, s.task)} · method: {METHOD_LABELS.get(s.method, s.method)}",
            f"- Model: `{s.model}`",
            f"- Started {_when(s.created)} · finished {_when(s.finished) or '-'} · took {fmt_duration(snap.elapsed_s)}",
            f"- Steps: {snap.step} of {snap.total_steps or '?'}",
        ]
        if status.get("resumed_from"):
            lines.append(f"- Resumed from {status['resumed_from']}")
        if status.get("train_rows"):
            lines.append(f"- Rows: {status['train_rows']} for training, {status.get('eval_rows', 0)} held out")
        if s.best_metric:
            lines.append("- Best: " + ", ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in s.best_metric.items()))
        if snap.records and not snap.active:
            from ft_app.ui.coach_box import report_for

            lines.append(f"- Coach: {report_for(ctx, snap).summary}")
        lines.append(f"- Folder: `{s.path}`")
        config_text = (s.path / "config.json").read_text(encoding="utf-8") if (s.path / "config.json").is_file() else ""
        fig = plots.training_figure(snap.records, title=f"Training curve · {run_id}", empty_message="This run logged no steps.")
        blocker = resume_blocker(ctx.store, run_id) if s.status in ("failed", "interrupted", "stopped") else "n/a"
        failed = s.status in ("failed", "interrupted")
        log_tail = ctx.store.read_log_tail(s.path, 40)
        failure = (
            gr.HTML(failure_html(s.status, s.message, ctx.store.read_log_tail(s.path, 12) if s.status == "failed" else "",
                                 blocker), visible=True)
            if failed else gr.HTML("", visible=False)
        )
        panel = results_panel.hidden() if snap.active else results_panel.render(s.path, s.status)
        return (fig, "\n".join(lines), config_text, gr.Button(visible=blocker is None and not ctx.jobs.host.demo),
                failure, gr.Accordion(open=False), log_tail, *panel)

    def run_results(run_id: str) -> dict[str, Any]:
        """A run's before/after numbers (eval.json) and golden prompts (compare.jsonl) as JSON, for API clients."""
        from ft_app.results import read_results

        path = ctx.store.path(run_id)
        if not path.is_dir():
            raise ValueError(f"Run {run_id!r} does not exist.")
        return read_results(path).to_dict()

    def refresh_all(current: str | None = None, ticked: list[str] | None = None) -> tuple[Any, ...]:
        """Re-read the runs folder: table, the open run (the newest when none is open) and the overlay choices."""
        rows = run_rows(ctx)
        ids = [r[0] for r in rows]
        value = current if current in ids else (ids[0] if ids else None)  # the newest run opens by itself
        ticked = [t for t in (ticked or []) if t in ids]
        return (rows, gr.Dropdown(choices=ids, value=value), gr.CheckboxGroup(choices=ids, value=ticked), *open_run(value))

    def overlay(ticked: list[str] | None) -> Any:
        """The ticked runs' curves on one figure."""
        from ft_app import plots

        runs = {}
        for run_id in ticked or []:
            try:
                runs[run_id] = ctx.store.read_metrics(ctx.store.path(run_id))
            except ValueError:
                continue  # a run deleted meanwhile drops out of the overlay
        return plots.overlay_figure(runs)

    def ask_delete(run_id: str | None) -> tuple[Any, str]:
        """Show the confirmation row for deleting the open run."""
        if not run_id:
            raise ValueError("Pick a run to delete first.")
        if ctx.jobs.host.demo:
            raise ValueError("This is a demo server: deleting runs is switched off here.")
        return gr.Row(visible=True), f"Delete run **{run_id}** and all its files for good?"

    def delete_run(run_id: str | None, ticked: list[str] | None) -> tuple[Any, ...]:
        """Delete a run's folder (refused while it is running) and refresh the lists."""
        if not run_id:
            raise ValueError("Pick a run to delete first.")
        if ctx.jobs.host.demo:
            raise ValueError("This is a demo server: deleting runs is switched off here.")
        ctx.store.delete(run_id)
        gr.Info(f"Run {run_id} deleted.")
        return (gr.Row(visible=False), *refresh_all(None, ticked))

    open_outputs = [run_plot, run_summary, run_config, resume, run_failure, log_box, run_log, *results.outputs]
    refresh_outputs = [table, pick, overlay_pick, *open_outputs]
    refresh.click(refresh_all, [pick, overlay_pick], refresh_outputs, api_name="refresh_runs")
    gr.api(list_runs, api_name="list_runs")
    gr.api(common.user_errors(run_results), api_name="run_results")
    page_event(pick.change, open_run, [pick], open_outputs, notice, api_name="open_run")
    table.select(pick_row, None, [pick], api_visibility="private")
    overlay_pick.change(overlay, [overlay_pick], [overlay_plot], api_visibility="private")
    page_event(delete.click, ask_delete, [pick], [confirm_row, confirm_text], notice)
    cancel.click(lambda: gr.Row(visible=False), None, [confirm_row], api_visibility="private")
    page_event(confirm.click, delete_run, [pick, overlay_pick], [confirm_row, *refresh_outputs], notice,
               api_name="delete_run")
    return RunsTab(
        table=table, pick=pick, overlay_pick=overlay_pick, to_compare=to_compare, resume=resume, refresh_fn=refresh_all,
        refresh_outputs=refresh_outputs, notice=notice,
    )
