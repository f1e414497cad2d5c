"""Runs tab: every run on disk, open one (config and curves), overlay several, delete with confirmation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.catalog import model_display_name
from ft_app.hub_token import redact
from ft_app.ownership import Visitor
from ft_app.runs import BROKEN_STATUSES, RESUMABLE_STATUSES, JobSnapshot, RunSummary
from ft_app.ui import results_panel, words
from ft_app.ui.common import (
    bind,
    curve_extras,
    failure_html,
    fmt_duration,
    kept_words,
    method_label,
    page_event,
    task_words,
    user_errors,
    visitor,
)
from ft_app.ui.context import AppContext


@dataclass
class RunsTab:
    """The Runs tab's widgets that other parts of the app use."""

    pick: gr.Dropdown
    overlay_pick: gr.CheckboxGroup
    to_compare: gr.Button
    resume: gr.Button
    notice: gr.HTML
    refresh_outputs: list[Any]  # what `refresh_all` fills, in order


def _when(iso: str | None) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM' (UTC)."""
    return (iso or "").replace("T", " ")[:16]


def run_rows(ctx: AppContext, who: Visitor | None = None) -> list[list[Any]]:
    """One table row per run on disk the visitor may see, newest first."""
    rows = []
    for s in ctx.jobs.runs(who):
        best = kept_words(s.best_metric, s.best_step)
        rows.append([s.run_id, words.STATUS_WORDS.get(s.status, s.status), task_words(s.task),
                     model_display_name(s.model), method_label(s.method), _when(s.created), best])
    return rows


def list_runs(ctx: AppContext, request: gr.Request = None) -> list[dict[str, Any]]:
    """Every run on disk this client may see, newest first, as JSON records (for API clients).

    Returns: one record per run: its id, status, task, model, method, times, best metric, message, and whether it
        has a model, can be resumed and is the client's.
    """
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
            "can_resume": ctx.store.resume_blocker(s.path) is None
            and ctx.jobs.may_manage(s.run_id, who),
            "yours": ctx.jobs.may_manage(s.run_id, who),
        }
        for s in ctx.jobs.runs(who)
    ]


def pick_row(evt: gr.SelectData) -> str | None:
    """Open the run whose table row was clicked.

    Args: the clicked row.
    Returns: the run dropdown.
    """
    row = evt.row_value or []
    return row[0] if row else None


def _run_lines(ctx: AppContext, s: RunSummary, snap: JobSnapshot, manage: bool) -> list[str]:
    """The run's card: status, task, method, model, times, steps, rows, backup, best metric, coach, folder."""
    status = ctx.store.read_status(s.path)
    lines = [
        f"**{s.run_id}**",
        words.RUN_STATUS.format(status=words.STATUS_WORDS.get(s.status, s.status),
                                message=s.message if s.status != "failed" else ""),
        words.RUN_TASK.format(task=task_words(s.task), method=method_label(s.method)),
        words.RUN_MODEL.format(model=s.model),
        words.RUN_TIMES.format(started=_when(s.created), finished=_when(s.finished) or "-",
                               took=fmt_duration(snap.elapsed_s)),
        words.RUN_STEPS.format(step=snap.step, total=snap.total_steps or "?"),
    ]
    if status.get("resumed_from"):
        lines.append(words.RUN_RESUMED.format(source=status["resumed_from"]))
    if status.get("train_rows"):
        lines.append(words.RUN_ROWS.format(train=status["train_rows"], held=status.get("eval_rows", 0)))
    backup = status.get("backup") or {}
    if backup.get("commit"):
        lines.append(words.RUN_BACKED_UP.format(repo=backup.get("repo"), at=_when(backup.get("at"))))
    elif backup.get("error"):
        lines.append(words.RUN_BACKUP_FAILED.format(error=backup["error"]))
    if not manage:
        lines.append(words.RUN_NOT_YOURS)
    if s.best_metric:
        lines.append(words.RUN_BEST.format(best=kept_words(s.best_metric, s.best_step, digits=4)))
    if snap.records and not snap.active:
        from ft_app.ui.coach_box import report_for

        lines.append(words.RUN_COACH.format(summary=report_for(ctx, snap).summary))
    if not ctx.jobs.access.on:  # a public server does not show where it keeps its files
        lines.append(words.RUN_FOLDER.format(path=s.path))
    return lines


def open_run(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
             profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
    """A run's curves, a short summary, its config file, Resume and Delete (for who may use them), the failure
    reason and log, and its results.

    Args: the run dropdown, the visitor's owner key.
    Returns: the curves, the card, the config, Resume, Delete, the failure card, the log box, the log, the results.
    """
    from ft_app import plots
    if not run_id:
        return (plots.empty_figure(words.PICK_RUN_FOR_CURVES), words.PICK_RUN_ABOVE, "", gr.Button(visible=False),
                gr.Button(visible=False), gr.HTML(visible=False), gr.Accordion(open=False), "",
                *results_panel.hidden())
    who = visitor(owner_key, request, profile)
    snap = ctx.jobs.snapshot(run_id, who)  # refuses a run that does not exist (or that this visitor may not see)
    s = ctx.store.summary(run_id)
    manage = ctx.jobs.may_manage(run_id, who)
    # A config.json written before tokens were masked in every field is masked here too.
    config_text = redact((s.path / "config.json").read_text(encoding="utf-8")) if (s.path / "config.json").is_file() else ""
    fig = plots.training_figure(snap.records, title=words.CURVE_TITLE.format(run_id=run_id),
                                empty_message=words.RUN_NO_STEPS, extras=curve_extras(ctx, run_id))
    blocker = ctx.store.resume_blocker(s.path) if s.status in RESUMABLE_STATUSES else "n/a"
    failure = (
        gr.HTML(failure_html(s.status, s.message, ctx.store.read_log_tail(s.path, 12) if s.status == "failed" else "",
                             blocker), visible=True)
        if s.status in BROKEN_STATUSES else gr.HTML("", visible=False)
    )
    panel = results_panel.hidden() if snap.active else results_panel.render(s.path, s.status)
    demo = ctx.jobs.host.demo
    return (fig, "\n".join(_run_lines(ctx, s, snap, manage)), config_text,
            gr.Button(visible=blocker is None and manage and not demo),
            gr.Button(visible=manage and not demo and not snap.active), failure, gr.Accordion(open=False),
            ctx.store.read_log_tail(s.path, 40), *panel)


def run_results(ctx: AppContext, run_id: str, request: gr.Request = None) -> dict[str, Any]:
    """A run's before/after numbers (eval.json) and golden prompts (compare.jsonl) as JSON, for API clients.

    Args: the run id.
    Returns: the run's results as a dict.
    """
    from ft_app.results import read_results

    return read_results(ctx.jobs.run_dir(run_id, visitor(None, request))).to_dict()


def refresh_all(ctx: AppContext, current: str | None = None, ticked: list[str] | None = None,
                owner_key: str | None = None, request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
    """Re-read the runs folder: table, the open run (the newest when none is open) and the overlay choices.

    Args: the run dropdown, the overlay's ticked runs, the visitor's owner key.
    Returns: RunsTab.refresh_outputs: the table, the run dropdown, the overlay choices, then `open_run`'s outputs.
    """
    rows = run_rows(ctx, visitor(owner_key, request, profile))
    ids = [r[0] for r in rows]
    value = current if current in ids else (ids[0] if ids else None)  # the newest run opens by itself
    ticked = [t for t in (ticked or []) if t in ids]
    return (rows, gr.Dropdown(choices=ids, value=value), gr.CheckboxGroup(choices=ids, value=ticked),
            *open_run(ctx, value, owner_key, request, profile))


def overlay(ctx: AppContext, ticked: list[str] | None, owner_key: str | None = None, request: gr.Request = None,
            profile: gr.OAuthProfile | None = None) -> Any:
    """The ticked runs' curves on one figure.

    Args: the overlay's ticked runs, the visitor's owner key.
    Returns: the overlay plot.
    """
    from ft_app import plots

    who = visitor(owner_key, request, profile)
    runs = {}
    for run_id in ticked or []:
        try:
            runs[run_id] = ctx.store.read_metrics(ctx.jobs.run_dir(run_id, who))
        except ValueError:
            continue  # a run deleted meanwhile drops out of the overlay
    return plots.overlay_figure(runs)


def _check_delete(ctx: AppContext, run_id: str | None) -> None:
    if not run_id:
        raise ValueError(words.PICK_RUN_TO_DELETE)
    if ctx.jobs.host.demo:
        raise ValueError(words.DEMO_NO_DELETE)


def ask_delete(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
               profile: gr.OAuthProfile | None = None) -> tuple[Any, str]:
    """Show the confirmation row for deleting the open run (for who may delete it).

    Args: the run dropdown, the visitor's owner key.
    Returns: the confirmation row, its question.
    """
    _check_delete(ctx, run_id)
    who = visitor(owner_key, request, profile)
    ctx.jobs.access.check_manage(ctx.jobs.run_dir(run_id, who), who, "delete")
    return gr.Row(visible=True), words.CONFIRM_DELETE_TEXT.format(run_id=run_id)


def delete_run(ctx: AppContext, run_id: str | None, ticked: list[str] | None, owner_key: str | None = None,
               request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
    """Delete a run's folder (its owner or an admin, on a public server; refused while it is running).

    Args: the run dropdown, the overlay's ticked runs, the visitor's owner key.
    Returns: the confirmation row (hidden), then `refresh_all`'s outputs.
    """
    _check_delete(ctx, run_id)
    ctx.jobs.delete(run_id, visitor(owner_key, request, profile))
    gr.Info(words.RUN_DELETED.format(run_id=run_id))
    return (gr.Row(visible=False), *refresh_all(ctx, None, ticked, owner_key, request, profile))


def hide_confirm() -> Any:
    """Cancel: hide the confirmation row.

    Returns: the confirmation row.
    """
    return gr.Row(visible=False)


def _run_view(resume: gr.Button, delete: gr.Button) -> list[Any]:
    """The open run: its curves, card, config, failure card, results and log; returns what `open_run` fills."""
    with gr.Row():
        with gr.Column(scale=3):
            run_plot = gr.Plot(label=words.RUN_CURVES, elem_id="runs-plot")
        with gr.Column(scale=2):
            run_summary = gr.Markdown(words.PICK_RUN_ABOVE, elem_classes=["ft-card"])
            with gr.Accordion(words.RUN_CONFIG_BOX, open=False):
                run_config = gr.Code(language="json", interactive=False, label="config.json")
    run_failure = gr.HTML("", visible=False, elem_id="runs-failure")
    results = results_panel.build("runs")
    with gr.Accordion(words.RUN_LOG_BOX, open=False) as log_box:
        run_log = gr.Textbox(lines=10, max_lines=25, interactive=False, show_label=False, elem_id="runs-log")
    return [run_plot, run_summary, run_config, resume, delete, run_failure, log_box, run_log, *results.outputs]


def build(ctx: AppContext) -> RunsTab:
    """Lay out the Runs tab and wire its events."""
    owner = ctx.owner
    gr.Markdown(words.RUNS_INTRO)
    refresh = gr.Button(words.REFRESH_RUNS, size="sm", scale=0, min_width=160)
    table = gr.Dataframe(headers=words.RUNS_HEADERS, value=[], label=words.RUNS_TABLE, interactive=False, wrap=True,
                         max_height=300, elem_id="runs-table")
    with gr.Row(elem_classes=["ft-row"]):
        pick = gr.Dropdown(label=words.OPEN_RUN, choices=[], value=None, scale=3, elem_id="runs-pick",
                           allow_custom_value=True)
        resume = gr.Button(words.RESUME_RUN, variant="primary", scale=0, min_width=170, visible=False,
                           elem_id="runs-resume")
        to_compare = gr.Button(words.TRY_IN_COMPARE, scale=0, min_width=170)
        delete = gr.Button(words.DELETE_RUN, variant="stop", scale=0, min_width=170, visible=not ctx.jobs.host.demo,
                           elem_id="runs-delete")
    notice = gr.HTML("", elem_id="runs-notice", elem_classes=["ft-note"])
    with gr.Row(visible=False) as confirm_row:
        confirm_text = gr.Markdown("")
        confirm = gr.Button(words.CONFIRM_DELETE, variant="stop", elem_id="confirm-delete")
        cancel = gr.Button(words.CANCEL)
    open_outputs = _run_view(resume, delete)
    with gr.Accordion(words.OVERLAY_BOX, open=False):
        overlay_pick = gr.CheckboxGroup(label=words.OVERLAY_PICK, choices=[])
        overlay_plot = gr.Plot(label=words.OVERLAY_PLOT)
    refresh_outputs = [table, pick, overlay_pick, *open_outputs]
    refresh.click(bind(refresh_all, ctx), [pick, overlay_pick, owner], refresh_outputs, api_name="refresh_runs")
    gr.api(user_errors(bind(list_runs, ctx)), api_name="list_runs")
    gr.api(user_errors(bind(run_results, ctx)), api_name="run_results")
    page_event(pick.change, bind(open_run, ctx), [pick, owner], open_outputs, notice, api_name="open_run")
    table.select(pick_row, None, [pick], api_visibility="private")
    overlay_pick.change(bind(overlay, ctx), [overlay_pick, owner], [overlay_plot], api_visibility="private")
    page_event(delete.click, bind(ask_delete, ctx), [pick, owner], [confirm_row, confirm_text], notice)
    cancel.click(hide_confirm, None, [confirm_row], api_visibility="private")
    page_event(confirm.click, bind(delete_run, ctx), [pick, overlay_pick, owner], [confirm_row, *refresh_outputs],
               notice, api_name="delete_run")
    tab = RunsTab(pick=pick, overlay_pick=overlay_pick, to_compare=to_compare, resume=resume, notice=notice,
                  refresh_outputs=refresh_outputs)
    if ctx.jobs.backups is not None:
        _backups_section(ctx, tab)
    return tab


# ---- backups on the Hub (a host with FT_APP_BACKUP_REPO) ------------------------------------------------------


def list_backups(ctx: AppContext, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> list[dict[str, Any]]:
    """The backed-up runs this visitor may see, newest first, as JSON records."""
    here = {s.run_id for s in ctx.store.list_runs()}
    return [{"run_id": e.run_id, "status": e.status, "task": e.task, "model": e.model, "method": e.method,
             "created": e.created, "backed_up": e.backed_up, "on_this_server": e.run_id in here}
            for e in ctx.jobs.backed_up(visitor(owner_key, request, profile))]


def show_backups(ctx: AppContext, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> tuple[Any, Any]:
    """The table of backups and the runs that can be restored (those not on this server).

    Args: the visitor's owner key.
    Returns: the backups table, the backed-up run dropdown.
    """
    entries = list_backups(ctx, owner_key, request, profile)
    rows = [[e["run_id"], words.STATUS_WORDS.get(e["status"], e["status"]), task_words(e["task"]),
             model_display_name(e["model"]), _when(e["backed_up"]), words.HERE if e["on_this_server"] else words.NOT_HERE]
            for e in entries]
    missing = [e["run_id"] for e in entries if not e["on_this_server"]]
    return rows, gr.Dropdown(choices=missing, value=missing[0] if missing else None)


def restore_backup(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                   profile: gr.OAuthProfile | None = None) -> str:
    """Download a backed-up run into the runs folder; returns its id."""
    if not run_id:
        raise ValueError(words.PICK_BACKUP)
    restored = ctx.jobs.restore(run_id, visitor(owner_key, request, profile))
    gr.Info(words.RESTORED.format(run_id=restored))
    return restored


def restore_and_show(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
    """Restore, then show the run in the Runs tab and the backups list without it.

    Args: the backed-up run dropdown, the visitor's owner key.
    Returns: the backups table, the backed-up run dropdown, then `refresh_all`'s outputs.
    """
    restored = restore_backup(ctx, run_id, owner_key, request, profile)
    return (*show_backups(ctx, owner_key, request, profile),
            *refresh_all(ctx, restored, None, owner_key, request, profile))


def api_list_backups(ctx: AppContext, request: gr.Request = None) -> list[dict[str, Any]]:
    """The backed-up runs this client may see, newest first (an API client is known by its session).

    Returns: one record per backed-up run.
    """
    return list_backups(ctx, None, request)


def api_restore_backup(ctx: AppContext, run_id: str, request: gr.Request = None) -> str:
    """Restore a backed-up run into the runs folder; returns its id.

    Args: the backed-up run's id.
    Returns: the restored run's id.
    """
    return restore_backup(ctx, run_id, None, request)


def _backups_section(ctx: AppContext, runs: RunsTab) -> None:
    """Runs backed up to the host's Hub repo: list them, and restore one into the runs folder after a restart."""
    with gr.Accordion(words.BACKUPS_BOX, open=False, elem_id="backups-box"):
        gr.Markdown(words.BACKUPS_INTRO.format(repo=ctx.jobs.host.backup_repo))
        with gr.Row(elem_classes=["ft-row"]):
            show = gr.Button(words.LIST_BACKUPS, scale=0, min_width=170, elem_id="backups-list")
            pick = gr.Dropdown(label=words.BACKED_UP_RUN, choices=[], value=None, scale=3, allow_custom_value=True,
                               elem_id="backups-pick")
            restore = gr.Button(words.RESTORE, variant="primary", scale=0, min_width=170, elem_id="backups-restore")
        table = gr.Dataframe(headers=words.BACKUP_HEADERS, value=[], interactive=False, wrap=True, max_height=260,
                             elem_id="backups-table")
    page_event(show.click, bind(show_backups, ctx), [ctx.owner], [table, pick], runs.notice)
    page_event(restore.click, bind(restore_and_show, ctx), [pick, ctx.owner], [table, pick, *runs.refresh_outputs],
               runs.notice, concurrency_limit=1, concurrency_id="restore_backup")
    gr.api(user_errors(bind(api_list_backups, ctx)), api_name="list_backups")
    gr.api(user_errors(bind(api_restore_backup, ctx)), api_name="restore_backup", concurrency_limit=1,
           concurrency_id="restore_backup")
