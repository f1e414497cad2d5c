"""Runs tab: every run on disk, open one (config and curves), overlay several, delete with confirmation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.catalog import model_display_name
from ft_app.hub_token import redact
from ft_app.ownership import Visitor
from ft_app.ui import common, results_panel
from ft_app.ui.common import METHOD_LABELS, STATUS_WORDS, TASK_SHORT, failure_html, fmt_duration, page_event, visitor
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


def run_rows(ctx: AppContext, who: Visitor | None = None) -> list[list[Any]]:
    """One table row per run on disk the visitor may see, newest first."""
    rows = []
    for s in ctx.jobs.runs(who):
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
        delete = gr.Button("Delete this run…", variant="stop", scale=0, min_width=170, visible=not ctx.jobs.host.demo,
                           elem_id="runs-delete")
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

    def list_runs(request: gr.Request = None) -> list[dict[str, Any]]:
        """Every run on disk this client may see, newest first, as JSON records (for API clients)."""
        from ft_app.results import resume_blocker

        who = visitor(None, request)

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
                "can_resume": s.status in ("failed", "interrupted", "stopped") and resume_blocker(ctx.store, s.run_id) is None
                and ctx.jobs.may_manage(s.run_id, who),
                "yours": ctx.jobs.may_manage(s.run_id, who),
            }
            for s in ctx.jobs.runs(who)
        ]

    def pick_row(evt: gr.SelectData) -> str | None:
        """Open the run whose table row was clicked."""
        row = evt.row_value or []
        return row[0] if row else None

    def open_run(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        """A run's curves, a short summary, its config file, Resume and Delete (for who may use them), the failure
        reason and log, and its results."""
        from ft_app import plots
        from ft_app.results import resume_blocker

        if not run_id:
            return (plots.empty_figure("Pick a run above to see its curves."), "Pick a run above to open it.", "",
                    gr.Button(visible=False), gr.Button(visible=False), gr.HTML(visible=False),
                    gr.Accordion(open=False), "", *results_panel.hidden())
        who = visitor(owner_key, request, profile)
        snap = ctx.jobs.snapshot(run_id, who)  # refuses a run that does not exist (or that this visitor may not see)
        s = ctx.store.summary(run_id)
        manage = ctx.jobs.may_manage(run_id, who)
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
        backup = status.get("backup") or {}
        if backup.get("commit"):
            lines.append(f"- Backed up to the Hub ({backup.get('repo')}) at {_when(backup.get('at'))}")
        elif backup.get("error"):
            lines.append(f"- Backup to the Hub failed: {backup['error']}")
        if not manage:
            lines.append("- Started by another visitor: you can look at it and compare it, not stop, resume or delete it.")
        if s.best_metric:
            lines.append("- Best: " + ", ".join(f"{k.removeprefix('eval_')} {v:.4f}" for k, v in s.best_metric.items()))
        if snap.records and not snap.active:
            from ft_app.ui.coach_box import report_for

            lines.append(f"- Coach: {report_for(ctx, snap).summary}")
        if not ctx.jobs.access.on:  # a public server does not show where it keeps its files
            lines.append(f"- Folder: `{s.path}`")
        # A config.json written before tokens were masked in every field is masked here too.
        config_text = redact((s.path / "config.json").read_text(encoding="utf-8")) if (s.path / "config.json").is_file() else ""
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
        demo = ctx.jobs.host.demo
        return (fig, "\n".join(lines), config_text, gr.Button(visible=blocker is None and manage and not demo),
                gr.Button(visible=manage and not demo and not snap.active), failure, gr.Accordion(open=False),
                log_tail, *panel)

    def run_results(run_id: str, request: gr.Request = None) -> dict[str, Any]:
        """A run's before/after numbers (eval.json) and golden prompts (compare.jsonl) as JSON, for API clients."""
        from ft_app.results import read_results

        return read_results(ctx.jobs.run_dir(run_id, visitor(None, request))).to_dict()

    def refresh_all(current: str | None = None, ticked: list[str] | None = None, owner_key: str | None = None,
                    request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        """Re-read the runs folder: table, the open run (the newest when none is open) and the overlay choices."""
        rows = run_rows(ctx, visitor(owner_key, request, profile))
        ids = [r[0] for r in rows]
        value = current if current in ids else (ids[0] if ids else None)  # the newest run opens by itself
        ticked = [t for t in (ticked or []) if t in ids]
        return (rows, gr.Dropdown(choices=ids, value=value), gr.CheckboxGroup(choices=ids, value=ticked),
                *open_run(value, owner_key, request, profile))

    def overlay(ticked: list[str] | None, owner_key: str | None = None, request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> Any:
        """The ticked runs' curves on one figure."""
        from ft_app import plots

        who = visitor(owner_key, request, profile)
        runs = {}
        for run_id in ticked or []:
            try:
                runs[run_id] = ctx.store.read_metrics(ctx.jobs.run_dir(run_id, who))
            except ValueError:
                continue  # a run deleted meanwhile drops out of the overlay
        return plots.overlay_figure(runs)

    def ask_delete(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                   profile: gr.OAuthProfile | None = None) -> tuple[Any, str]:
        """Show the confirmation row for deleting the open run (for who may delete it)."""
        if not run_id:
            raise ValueError("Pick a run to delete first.")
        if ctx.jobs.host.demo:
            raise ValueError("This is a demo server: deleting runs is switched off here.")
        who = visitor(owner_key, request, profile)
        ctx.jobs.access.check_manage(ctx.jobs.run_dir(run_id, who), who, "delete")
        return gr.Row(visible=True), f"Delete run **{run_id}** and all its files for good?"

    def delete_run(run_id: str | None, ticked: list[str] | None, owner_key: str | None = None,
                   request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        """Delete a run's folder (its owner or an admin, on a public server; refused while it is running)."""
        if not run_id:
            raise ValueError("Pick a run to delete first.")
        if ctx.jobs.host.demo:
            raise ValueError("This is a demo server: deleting runs is switched off here.")
        ctx.jobs.delete(run_id, visitor(owner_key, request, profile))
        gr.Info(f"Run {run_id} deleted.")
        return (gr.Row(visible=False), *refresh_all(None, ticked, owner_key, request, profile))

    open_outputs = [run_plot, run_summary, run_config, resume, delete, run_failure, log_box, run_log, *results.outputs]
    refresh_outputs = [table, pick, overlay_pick, *open_outputs]
    owner = ctx.owner
    refresh.click(refresh_all, [pick, overlay_pick, owner], refresh_outputs, api_name="refresh_runs")
    gr.api(common.user_errors(list_runs), api_name="list_runs")
    gr.api(common.user_errors(run_results), api_name="run_results")
    page_event(pick.change, open_run, [pick, owner], open_outputs, notice, api_name="open_run")
    table.select(pick_row, None, [pick], api_visibility="private")
    overlay_pick.change(overlay, [overlay_pick, owner], [overlay_plot], api_visibility="private")
    page_event(delete.click, ask_delete, [pick, owner], [confirm_row, confirm_text], notice)
    cancel.click(lambda: gr.Row(visible=False), None, [confirm_row], api_visibility="private")
    page_event(confirm.click, delete_run, [pick, overlay_pick, owner], [confirm_row, *refresh_outputs], notice,
               api_name="delete_run")
    if ctx.jobs.backups is not None:
        _backups_section(ctx, refresh_all, refresh_outputs, notice)
    return RunsTab(
        table=table, pick=pick, overlay_pick=overlay_pick, to_compare=to_compare, resume=resume, refresh_fn=refresh_all,
        refresh_outputs=refresh_outputs, notice=notice,
    )


BACKUP_COLUMNS = ["run", "status", "task", "model", "backed up", "on this server"]


def _backups_section(ctx: AppContext, refresh_all: Any, refresh_outputs: list[Any], notice: gr.HTML) -> None:
    """Runs backed up to the host's Hub repo: list them, and restore one into the runs folder after a restart."""
    with gr.Accordion("Backups on the Hugging Face Hub", open=False, elem_id="backups-box"):
        gr.Markdown(
            f"Every finished run is backed up to the private dataset `{ctx.jobs.host.backup_repo}`. A Space without "
            "persistent storage loses its runs when it restarts: bring them back here."
        )
        with gr.Row(elem_classes=["ft-row"]):
            show = gr.Button("List the backups", scale=0, min_width=170, elem_id="backups-list")
            pick = gr.Dropdown(label="Backed-up run", choices=[], value=None, scale=3, allow_custom_value=True,
                               elem_id="backups-pick")
            restore = gr.Button("Restore this run", variant="primary", scale=0, min_width=170, elem_id="backups-restore")
        table = gr.Dataframe(headers=BACKUP_COLUMNS, value=[], interactive=False, wrap=True, max_height=260,
                             elem_id="backups-table")

    def list_backups(owner_key: str | None = None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None) -> list[dict[str, Any]]:
        """The backed-up runs this visitor may see, newest first, as JSON records."""
        here = {s.run_id for s in ctx.store.list_runs()}
        return [{"run_id": e.run_id, "status": e.status, "task": e.task, "model": e.model, "method": e.method,
                 "created": e.created, "backed_up": e.backed_up, "on_this_server": e.run_id in here}
                for e in ctx.jobs.backed_up(visitor(owner_key, request, profile))]

    def show_backups(owner_key: str | None = None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None) -> tuple[Any, Any]:
        """The table of backups and the runs that can be restored (those not on this server)."""
        entries = list_backups(owner_key, request, profile)
        rows = [[e["run_id"], STATUS_WORDS.get(e["status"], e["status"]), TASK_SHORT.get(e["task"], e["task"]),
                 _model_name(e["model"]), _when(e["backed_up"]), "yes" if e["on_this_server"] else "no"]
                for e in entries]
        missing = [e["run_id"] for e in entries if not e["on_this_server"]]
        return rows, gr.Dropdown(choices=missing, value=missing[0] if missing else None)

    def restore_backup(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                       profile: gr.OAuthProfile | None = None) -> str:
        """Download a backed-up run into the runs folder; returns its id."""
        if not run_id:
            raise ValueError("Pick a backed-up run to restore first (press List the backups).")
        restored = ctx.jobs.restore(run_id, visitor(owner_key, request, profile))
        gr.Info(f"Run {restored} is back: open it in the list above.")
        return restored

    def restore_and_show(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                         profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        """Restore, then show the run in the Runs tab and the backups list without it."""
        restored = restore_backup(run_id, owner_key, request, profile)
        return (*show_backups(owner_key, request, profile), *refresh_all(restored, None, owner_key, request, profile))

    owner = ctx.owner
    page_event(show.click, show_backups, [owner], [table, pick], notice)
    page_event(restore.click, restore_and_show, [pick, owner], [table, pick, *refresh_outputs], notice,
               concurrency_limit=1, concurrency_id="restore_backup")

    def api_list_backups(request: gr.Request = None) -> list[dict[str, Any]]:
        """The backed-up runs this client may see, newest first (an API client is known by its session)."""
        return list_backups(None, request)

    def api_restore_backup(run_id: str, request: gr.Request = None) -> str:
        """Restore a backed-up run into the runs folder; returns its id."""
        return restore_backup(run_id, None, request)

    gr.api(common.user_errors(api_list_backups), api_name="list_backups")
    gr.api(common.user_errors(api_restore_backup), api_name="restore_backup", concurrency_limit=1,
           concurrency_id="restore_backup")
