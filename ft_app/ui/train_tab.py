"""Train tab: presets, method, knobs with plain help, Train/Stop, and the live curve polled by a timer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app import catalog, presets
from ft_app.config import RunConfig, TrainingSettings
from ft_app.methods import METHODS, get_method
from ft_app.ownership import Visitor
from ft_app.runs import MEASURE_STEPS, RESUMABLE_STATUSES, JobSnapshot
from ft_app.text import count_words, duration_words, share_words
from ft_app.ui import coach_box, results_panel, words
from ft_app.ui.common import (
    bind,
    curve_extras,
    failure_html,
    field_label,
    fmt_duration,
    local_model_for,
    method_label,
    page_event,
    progress_html,
    shorten,
    user_errors,
    visitor,
)
from ft_app.ui.context import AppContext

BASIC_KNOBS = ("epochs", "max_steps", "learning_rate", "batch_size")
EVAL_KNOBS = ("before_after", "zero_shot_model", "max_new_tokens", "temperature", "exact_match_rows")
EVAL_LIMITS = {"max_new_tokens": {"minimum": 1}, "temperature": {"minimum": 0}, "exact_match_rows": {"minimum": 0}}
POLL_SECONDS = 1.0
LOG_LINES = 30
FAILURE_LOG_LINES = 12


@dataclass
class TrainTab:
    """The Train tab's widgets (and the Model tab's token box, which Train and Resume send)."""

    preset: gr.Dropdown
    preset_note: gr.Markdown
    method: gr.Radio
    estimate: gr.Markdown
    trial_btn: gr.Button
    plan_now: gr.Markdown
    basic: dict[str, gr.Number]
    lora_box: gr.Accordion
    lora_r: gr.Number
    train_btn: gr.Button
    stop_btn: gr.Button
    notice: gr.HTML
    run_box: gr.Textbox
    progress: gr.HTML
    failure: gr.HTML
    resume_btn: gr.Button
    plot: gr.Plot
    smoothing: gr.Slider
    coach: coach_box.CoachBox
    results: results_panel.ResultsPanel
    log: gr.Textbox
    config_code: gr.Code
    timer: gr.Timer
    watched: gr.State  # the run the page follows
    shown: gr.State  # which finished run's results the panel shows, so a tick does not redraw them
    token: gr.Textbox
    busy_cause: gr.State  # the run a Busy refusal in the notice was about: the notice goes when that run ends

    @property
    def view_outputs(self) -> list[Any]:
        """The widgets `view` fills, in order."""
        return [self.plot, self.progress, self.log, self.timer, self.run_box, self.stop_btn, self.failure,
                self.resume_btn, *self.coach.outputs, *self.results.outputs, self.plan_now, self.shown,
                self.train_btn]


def preset_choices(task: str) -> list[tuple[str, str]]:
    """The presets of a task as dropdown choices."""
    return [(p.title, p.key) for p in presets.presets_for(task)]


def method_info(method: str) -> str:
    """One line explaining a training method."""
    return words.METHOD_INFO.format(label=method_label(method), help=get_method(method).help)


def snapshot_for(ctx: AppContext, run_id: str | None, who: Visitor | None = None) -> JobSnapshot | None:
    """The watched run's snapshot, else the job manager's current run, else the newest run on disk (each only
    when the visitor may see it)."""
    if run_id:
        try:
            return ctx.jobs.snapshot(run_id, who)
        except ValueError:
            pass  # the run was deleted: fall back to what is current
    snap = ctx.jobs.current(who)
    if snap is not None:
        return snap
    runs = ctx.jobs.runs(who)
    return ctx.jobs.snapshot(runs[0].run_id, who) if runs else None


def stop_shown(ctx: AppContext, snap: JobSnapshot | None, who: Visitor | None) -> bool:
    """Whether the Stop button shows: always on a local app; on a public one, not beside another visitor's run."""
    return snap is None or ctx.jobs.may_manage(snap.run_id, who)


def live_view(ctx: AppContext, snap: JobSnapshot | None, smoothing: float) -> tuple[Any, str, str]:
    """The figure, the progress bar and the log tail for one snapshot."""
    from ft_app import plots

    if snap is None:
        return plots.empty_figure(words.CURVE_EMPTY), progress_html(None), ""
    waiting = {
        "queued": words.CURVE_QUEUED,
        "running": words.CURVE_GETTING_READY.format(phase=snap.phase or words.LOADING),
    }.get(snap.status, words.CURVE_NO_STEPS)
    fig = plots.training_figure(
        snap.records, smoothing=smoothing or 0.0, title=words.CURVE_TITLE.format(run_id=snap.run_id),
        uirevision=snap.run_id, empty_message=waiting, extras=curve_extras(ctx, snap.run_id),
    )
    return fig, progress_html(snap), ctx.store.read_log_tail(snap.run_dir, LOG_LINES)


def status_dict(snap: JobSnapshot | None) -> dict[str, Any]:
    """A snapshot as plain JSON for API clients."""
    if snap is None:
        return {"run_id": None, "status": "idle", "active": False}
    from ft_app.plots import count_points

    train_points, eval_points = count_points(snap.records)
    return {
        "run_id": snap.run_id,
        "status": snap.status,
        "active": snap.active,
        "phase": snap.phase,
        "step": snap.step,
        "total_steps": snap.total_steps,
        "epoch": snap.epoch,
        "elapsed_s": round(snap.elapsed_s, 2),
        "eta_s": None if snap.eta_s is None else round(snap.eta_s, 2),
        "message": snap.message,
        "train_points": train_points,
        "eval_points": eval_points,
        "trainable_params": snap.trainable_params,
        "total_params": snap.total_params,
    }


# ---- handlers ------------------------------------------------------------------------------------------------


def view(ctx: AppContext, run_id: str | None, smoothing_value: float, shown_key: str | None,
         owner_key: str | None = None, request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Everything the Train tab shows about a run: curve, progress, log, failure, coach and results.

    Args: the watched run, the smoothing slider, the results shown, the visitor's owner key.
    Returns: TrainTab.view_outputs: curve, progress, log, timer, run box, Stop, failure card, Resume, the coach, the
        results panel, the results shown.
    """
    who = visitor(owner_key, request, profile)
    snap = snapshot_for(ctx, run_id, who)
    fig, bar, log_text = live_view(ctx, snap, smoothing_value)
    active = bool(snap and snap.active)
    # The timer also runs while another visitor's run is on, so that the Train button comes back when it ends.
    out: list[Any] = [fig, bar, log_text, gr.Timer(active=active or ctx.jobs.busy), snap.run_id if snap else "",
                      gr.Button(visible=stop_shown(ctx, snap, who))]
    out += _failure_view(ctx, snap, who)
    out += coach_box.view(ctx, snap)
    if snap is None or active:
        key = None
        out += results_panel.hidden() if shown_key is not None else results_panel.unchanged()
    else:
        key = f"{snap.run_id}:{snap.status}"
        out += results_panel.render(snap.run_dir, snap.status) if key != shown_key else results_panel.unchanged()
    return [*out, plan_now(snap), key, _train_button(ctx, who)]


def attach(ctx: AppContext, run_id: str | None, smoothing_value: float, shown_key: str | None = None,
           owner_key: str | None = None, request: gr.Request = None,
           profile: gr.OAuthProfile | None = None) -> list[Any]:
    """On page load: re-attach to the running job (or show the last run) and start polling if it is active.

    Args: as `view`.
    Returns: the watched run, then `view`'s outputs.
    """
    snap = snapshot_for(ctx, run_id, visitor(owner_key, request, profile))
    return [snap.run_id if snap else None, *view(ctx, run_id, smoothing_value, shown_key, owner_key, request, profile)]


def start(ctx: AppContext, config_json: str, smoothing_value: float, hub_token: str | None = None,
          owner_key: str | None = None, request: gr.Request = None,
          profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
    """Start training the given run config (JSON) in the background; returns at once with the run id.

    `hub_token` is a Hugging Face token for this run only (gated or private models); it is never written.
    The run belongs to the visitor who started it.

    Args: the run config (JSON), the smoothing slider, the token box, the visitor's owner key.
    Returns: the run box, the watched run, the timer (on), the curve, the progress bar, the log.
    """
    if ctx.login_required and profile is None:
        raise ValueError(words.SIGN_IN_TO_TRAIN)
    if not (config_json or "").strip():
        raise ValueError(words.NO_RUN_CONFIG)
    config = RunConfig.from_json(config_json)
    run_id = ctx.jobs.start(config, token=(hub_token or "").strip() or None,
                            visitor=visitor(owner_key, request, profile))
    fig, bar, log_text = live_view(ctx, ctx.jobs.snapshot(run_id), smoothing_value)
    return run_id, run_id, gr.Timer(active=True), fig, bar, log_text


def start_from_form(ctx: AppContext, smoothing: gr.Slider, token: gr.Textbox, values: dict[Any, Any],
                    request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
    """The Train button: the whole form as ONE run config (shown as JSON), then start it.

    Args: the whole form, the smoothing slider, the token box and the visitor's owner key, as {widget: value}.
    Returns: the config JSON, then `start`'s outputs.
    """
    if not str(values.get(ctx.form.by_path[("model", "name_or_path")]) or "").strip():
        raise ValueError(catalog.no_model_message(values[ctx.form.by_path[("task",)]]))
    config_json = ctx.form.to_config(values).to_json()
    return (config_json, *start(ctx, config_json, values[smoothing], values[token], values[ctx.owner], request,
                                profile))


def resume(ctx: AppContext, run_id: str | None, hub_token: str | None = None, owner_key: str | None = None,
           request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[str, str]:
    """Continue an interrupted, stopped or failed run from its last checkpoint, in the same folder.

    Args: the run, the token box, the visitor's owner key.
    Returns: the run box, the watched run.
    """
    if ctx.login_required and profile is None:
        raise ValueError(words.SIGN_IN_TO_TRAIN)
    if not run_id:
        raise ValueError(words.PICK_RUN_TO_RESUME)
    resumed = ctx.jobs.resume(run_id, token=(hub_token or "").strip() or None,
                              visitor=visitor(owner_key, request, profile))
    gr.Info(words.RESUMED.format(run_id=resumed))
    return resumed, resumed


def stop(ctx: AppContext, owner_key: str | None = None, request: gr.Request = None,
         profile: gr.OAuthProfile | None = None) -> str:
    """Ask the running job to stop after the current step (its owner, or an admin, on a public server).

    Args: the visitor's owner key.
    Returns: the progress bar.
    """
    who = visitor(owner_key, request, profile)
    run_id = ctx.jobs.stop(who)
    gr.Info(words.STOPPING.format(run_id=run_id))
    return progress_html(ctx.jobs.snapshot(run_id, who))


def stop_from_page(ctx: AppContext, owner_key: str | None = None, request: gr.Request = None,
               profile: gr.OAuthProfile | None = None) -> tuple[str, Any]:
    """Stop for the page: `stop`, and the Train button says at once that the run is stopping and saving what it
    learned (the ticks then follow the run: Train comes back once it has stopped).

    Args: the visitor's owner key.
    Returns: the progress bar, the Train button.
    """
    who = visitor(owner_key, request, profile)
    bar = stop(ctx, owner_key, request, profile)
    active = ctx.jobs.active_run(who)
    if active is None:  # already stopped: Train is free again
        return bar, _train_button(ctx, who)
    _snap, visible = active
    return bar, gr.update(value=words.TRAIN_STOPPING if visible else words.TRAIN_STOPPING_OTHER, interactive=False)


def train_button(ctx: AppContext, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> Any:
    """The Train button as the job manager's state says: pressable when nothing trains, else what keeps it busy
    (a run training, a run stopping and saving); it follows the run, so nothing stale is left when the run ends.

    Args: the visitor's owner key.
    Returns: the Train button.
    """
    return _train_button(ctx, visitor(owner_key, request, profile))


def _train_button(ctx: AppContext, who: Visitor | None) -> Any:
    if ctx.jobs.host.demo:
        return gr.update(value=words.TRAIN_OFF, interactive=False)
    active = ctx.jobs.active_run(who)
    if active is None:
        return gr.update(value=words.TRAIN, interactive=True)
    snap, visible = active
    if snap.status == "stopping":
        label = words.TRAIN_STOPPING if visible else words.TRAIN_STOPPING_OTHER
    else:
        label = words.TRAIN_BUSY if visible else words.TRAIN_BUSY_OTHER
    return gr.update(value=label, interactive=False)


def starting() -> Any:
    """Train was pressed: say at once that a run is starting (getting a training process ready can take seconds,
    e.g. right after a Stop), and take the button out of reach until it has started or was refused.

    Returns: the Train button.
    """
    return gr.update(value=words.TRAIN_STARTING, interactive=False)


def drop_ended_notice(ctx: AppContext, cause: str | None) -> list[Any]:
    """On each tick: a Busy refusal in the notice goes once the run that caused it is no longer on.

    Args: the run the notice is about.
    Returns: the notice, the run the notice is about.
    """
    if not cause:
        return [gr.skip(), gr.skip()]
    active = ctx.jobs.active_run()
    if active is not None and active[0].run_id == cause:
        return [gr.skip(), gr.skip()]
    return ["", None]


def status(ctx: AppContext, run_id: str = "", request: gr.Request = None) -> dict[str, Any]:
    """The status of a run (or of the current one when run_id is empty) as JSON.

    Args: the run id (empty: the current run).
    Returns: the run's status as a dict (see status_dict).
    """
    who = visitor(None, request)
    if run_id:
        return status_dict(ctx.jobs.snapshot(run_id, who))  # a run that does not exist is refused, plainly
    return status_dict(snapshot_for(ctx, None, who))


def pick_preset(ctx: AppContext, preset_note: gr.Markdown, key: str | None, model_value: str) -> Any:
    """Apply a recipe: its method and knobs (and its model when none is chosen yet).

    Args: the recipe dropdown, the model box.
    Returns: {widget: update} for the form and the recipe's note.
    """
    form = ctx.form
    if not key:
        return {**form.unchanged(), preset_note: gr.skip()}
    p = presets.get_preset(key)
    suggested = p.model
    if catalog.known_offline():  # a Hub id cannot be downloaded from here: suggest a model on this computer
        suggested = local_model_for(p.task) or ""
    updates = form.updates(p.config(with_model=False), reset=True, keep=_keep_paths())
    if suggested and not (model_value or "").strip():
        updates[form.by_path[("model", "name_or_path")]] = gr.update(value=suggested)
    where = words.PRESET_MODEL.format(model=suggested) if suggested else words.PRESET_NO_MODEL
    updates[preset_note] = words.PRESET_NOTE.format(title=p.title, description=p.description, where=where)
    return updates


def on_method(method_value: str) -> tuple[Any, Any]:
    """Explain the chosen method and show the LoRA settings when it uses adapters.

    Args: the method radio.
    Returns: the method radio (its info line), the LoRA settings box.
    """
    return gr.Radio(info=method_info(method_value)), gr.Accordion(visible=get_method(method_value).adapter)


def on_estimate(ctx: AppContext, values: dict[Any, Any], request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> str:
    """The plan (passes, steps, time here) and the weights and GPU memory, for the form as it is now.

    Args: the whole form and the visitor's owner key, as {widget: value}.
    Returns: the estimate card (Markdown).
    """
    return estimate_text(ctx, values, visitor(values.get(ctx.owner), request, profile))


def trial_from_form(ctx: AppContext, token: gr.Textbox, values: dict[Any, Any], request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None) -> str:
    """The trial button: time a few real steps of the form's run config here, then the estimate with that measure.

    Args: the whole form, the token box and the visitor's owner key, as {widget: value}.
    Returns: the estimate card (Markdown), its plan timed by the trial.
    """
    if ctx.login_required and profile is None:
        raise ValueError(words.SIGN_IN_TO_TRAIN)
    if not str(values.get(ctx.form.by_path[("model", "name_or_path")]) or "").strip():
        raise ValueError(catalog.no_model_message(values[ctx.form.by_path[("task",)]]))
    who = visitor(values.get(ctx.owner), request, profile)
    ctx.jobs.trial(ctx.form.to_config(values), token=(values.get(token) or "").strip() or None, visitor=who)
    return estimate_text(ctx, values, who)


def _failure_view(ctx: AppContext, snap: JobSnapshot | None, who: Visitor | None = None) -> list[Any]:
    """The failure card (message and log tail) and the Resume button (for who may resume it), for a run that did
    not finish."""
    if snap is None or snap.status not in RESUMABLE_STATUSES:
        return [gr.HTML("", visible=False), gr.Button(visible=False)]
    blocker = ctx.store.resume_blocker(ctx.store.path(snap.run_id))
    if blocker is None and not ctx.jobs.may_manage(snap.run_id, who):
        blocker = words.NOT_YOURS_TO_RESUME
    if snap.status == "stopped":
        # A stopped run saved what it learned; it only needs the Resume button to go on.
        return [gr.HTML("", visible=False), gr.Button(visible=blocker is None)]
    tail = ctx.store.read_log_tail(snap.run_dir, FAILURE_LOG_LINES) if snap.status == "failed" else ""
    return [gr.HTML(failure_html(snap.status, snap.message, tail, blocker), visible=True),
            gr.Button(visible=blocker is None)]


def _keep_paths() -> tuple[tuple[str, ...], ...]:
    """Form fields a recipe never resets: what the user picked as data, the model and the run name."""
    keep = [("model", "name_or_path"), ("model", "revision"), ("name",), ("task",)]
    keep += [("data", f) for f in ("train", "validation", "dataset_config", "train_split", "text_column", "label_column",
                                   "prompt_column", "input_column", "response_column", "messages_column", "target_column",
                                   "max_rows", "max_eval_rows")]
    keep += [("evaluation", f) for f in ("golden_prompts", "golden_from_heldout", "zero_shot_model")]
    return tuple(keep)


def estimate_text(ctx: AppContext, values: dict[Any, Any], who: Visitor | None = None) -> str:
    """Markdown: the plan for this data (passes, steps, time here and on a GPU), the weights that train and the GPU
    memory they need; a plain line saying what is missing when it cannot tell yet."""
    from ft_app import estimate

    form = ctx.form
    if not str(values.get(form.by_path[("model", "name_or_path")]) or "").strip():
        return words.ESTIMATE_PICK_MODEL
    try:
        config = form.to_config(values)
        ctx.jobs.host.check_config_paths(config, ctx.uploads_dir, who)
        est = estimate.estimate_config(config)
    except ValueError as exc:
        return words.NO_ESTIMATE.format(error=shorten(str(exc), 300))
    weights = words.ESTIMATE_WEIGHTS.format(trained=count_words(est.trainable_params),
                                            total=count_words(est.total_params),
                                            share=share_words(est.trainable_params, est.total_params))
    lines = [words.ESTIMATE_HEAD.format(method=method_label(config.method),
                                        plan=_plan_line(config, ctx.store), weights=weights)]
    fit = [gpu for gpu, ok in est.fits.items() if ok]
    fits = words.ESTIMATE_FITS.format(gpus=", ".join(fit)) if fit else words.ESTIMATE_TOO_BIG
    lines.append(words.ESTIMATE_GPU.format(gb=est.total_gpu_gb, fits=fits))
    lines += [f"- {n}" for n in (est.notes or [])]
    return "\n".join(lines)


def _plan_line(config: RunConfig, store: Any = None) -> str:
    """'Plan: 360 rows: 9 passes, 405 steps, ...; about 2 minutes here; ...' for a local data file; '' otherwise.
    The time is the one the newest run of the same kind measured here, where there is one."""
    from ft_app import estimate
    from ft_app.data import count_local_rows

    try:
        rows = count_local_rows(config)
    except ValueError:
        return ""
    if rows is None:
        return words.PLAN_LATER
    try:
        measured = estimate.measured_speed(store, config) if store is not None else None
        return words.PLAN.format(plan=estimate.describe_plan(config, rows, measured=measured))
    except ValueError as exc:
        return shorten(str(exc), 300)


def plan_now(snap: JobSnapshot | None) -> str:
    """The plan box's line about the watched run: its time measured on its own steps (the progress line's figures),
    or how long it took. '' with no run."""
    if snap is None or not snap.total_steps:
        return ""
    if not snap.active:
        if snap.status != "completed":
            return ""
        per = f" ({words.PLAN_PER_STEP.format(s=snap.s_per_step)})" if snap.s_per_step else ""
        return words.PLAN_TOOK.format(run=snap.run_id, took=duration_words(snap.elapsed_s), per=per)
    if not snap.measured or snap.eta_s is None:
        if snap.awaiting_check and snap.measured_steps >= min(MEASURE_STEPS, max(1, snap.total_steps // 2)):
            return words.PLAN_MEASURING_CHECK.format(run=snap.run_id)
        return words.PLAN_MEASURING.format(run=snap.run_id, steps=min(MEASURE_STEPS, max(1, snap.total_steps // 2)))
    return words.PLAN_MEASURED.format(
        run=snap.run_id, total=duration_words(snap.elapsed_s + snap.eta_s), steps=snap.measured_steps,
        per=words.PLAN_PER_STEP.format(s=snap.s_per_step), left=fmt_duration(snap.eta_s))


# ---- layout --------------------------------------------------------------------------------------------------


def _method_section(ctx: AppContext) -> dict[str, Any]:
    """The recipe, the method, the estimate, the basic knobs and the LoRA settings."""
    form = ctx.form
    preset = gr.Dropdown(**words.RECIPE, choices=preset_choices("classification"), value=None, elem_id="preset")
    preset_note = gr.Markdown("")
    method = form.add(("method",), gr.Radio([(m.label, m.name) for m in METHODS.values()], value="full",
                                            label=field_label("method"), info=method_info("full"), elem_id="method"))
    estimate = gr.Markdown("", elem_classes=["ft-card"], elem_id="estimate")
    with gr.Row(elem_classes=["ft-row"]):
        trial_btn = gr.Button(words.TRIAL, size="sm", scale=0, min_width=220, elem_id="trial-btn",
                              visible=not ctx.jobs.host.demo)
        gr.Markdown(words.TRIAL_INFO, elem_classes=["ft-note"])
    plan_now = gr.Markdown("", elem_id="plan-now", elem_classes=["ft-note"])  # the watched run, as measured
    with gr.Row():
        basic = {name: form.field("training", name) for name in BASIC_KNOBS}
    with gr.Accordion(words.LORA_SETTINGS, open=False, visible=False) as lora_box:
        with gr.Row():
            lora_r = form.field("lora", "r")
            for name in ("alpha", "dropout", "target_modules"):
                form.field("lora", name)
    return {"preset": preset, "preset_note": preset_note, "method": method, "estimate": estimate,
            "trial_btn": trial_btn, "plan_now": plan_now,
            "basic": basic,
            "lora_box": lora_box, "lora_r": lora_r}


def _settings_section(ctx: AppContext) -> None:
    """The other training knobs, the evaluation settings and the test prompts."""
    form = ctx.form
    with gr.Accordion(words.MORE_SETTINGS, open=False):
        rest = [f.name for f in dataclasses.fields(TrainingSettings) if f.name not in BASIC_KNOBS]
        for i in range(0, len(rest), 3):
            with gr.Row():
                for name in rest[i : i + 3]:
                    form.field("training", name)
        gr.Markdown(words.CHECKING_RESULT)
        for names in (EVAL_KNOBS[:2], EVAL_KNOBS[2:]):
            with gr.Row():
                for name in names:
                    form.field("evaluation", name, **words.EVAL_FIELDS[name], **EVAL_LIMITS.get(name, {}))
    with gr.Accordion(words.GOLDEN_BOX, open=False, elem_id="golden-box"):
        gr.Markdown(words.GOLDEN_INTRO)
        with gr.Row():
            form.field("evaluation", "golden_prompts", **words.GOLDEN_PROMPTS, lines=4, scale=3,
                       elem_id="golden-prompts")
            form.field("evaluation", "golden_from_heldout", **words.GOLDEN_HELDOUT, minimum=0, maximum=100, scale=1,
                       elem_id="golden-heldout")


def _run_section(ctx: AppContext) -> dict[str, Any]:
    """The run name, Train and Stop, the notice, the progress bar, the failure card with Resume, the curve."""
    with gr.Row(elem_classes=["ft-row"]):
        ctx.form.add(("name",), gr.Textbox(**words.RUN_NAME, scale=2))
        off = ctx.jobs.host.demo
        train_btn = gr.Button(words.TRAIN_OFF if off else words.TRAIN, variant="primary", scale=0, min_width=170,
                              size="lg", elem_id="train-btn", interactive=not off)
        stop_btn = gr.Button(words.STOP, variant="stop", scale=0, min_width=130, size="lg", elem_id="stop-btn")
    notice = gr.HTML("", elem_id="train-notice", elem_classes=["ft-note"])
    run_box = gr.Textbox(label=words.RUN_BOX, interactive=False, visible=False, elem_id="run-box", max_lines=1)
    progress = gr.HTML(progress_html(None), elem_id="progress")
    with gr.Row(elem_classes=["ft-row"]):
        failure = gr.HTML("", visible=False, elem_id="train-failure")
        resume_btn = gr.Button(words.RESUME_RUN, variant="primary", scale=0, min_width=190, visible=False,
                               elem_id="train-resume")
    plot = gr.Plot(label=words.LIVE_PLOT, elem_id="live-plot")
    smoothing = gr.Slider(0, 0.95, value=0.0, step=0.05, **words.SMOOTHING)
    return {"train_btn": train_btn, "stop_btn": stop_btn, "notice": notice, "run_box": run_box, "progress": progress,
            "failure": failure, "resume_btn": resume_btn, "plot": plot, "smoothing": smoothing}


def layout(ctx: AppContext, token: gr.Textbox) -> TrainTab:
    """Lay out the Train tab; `token` is the Model tab's token box."""
    gr.Markdown(words.TRAIN_INTRO)
    method = _method_section(ctx)
    _settings_section(ctx)
    run = _run_section(ctx)
    coach = coach_box.build()
    results = results_panel.build("train")
    with gr.Accordion(words.LOG_BOX, open=False):
        log = gr.Textbox(label=words.LOG_LABEL, lines=10, max_lines=20, interactive=False, elem_id="log-tail")
    with gr.Accordion(words.CONFIG_BOX, open=False):
        config_code = gr.Code(label=words.CONFIG_LABEL, language="json", interactive=False, elem_id="config-json")
        gr.Markdown(words.CONFIG_NOTE)
    return TrainTab(**method, **run, coach=coach, results=results, log=log, config_code=config_code,
                    timer=gr.Timer(POLL_SECONDS, active=False), watched=gr.State(None), shown=gr.State(None),
                    token=token, busy_cause=gr.State(None))


def build(ctx: AppContext, task: gr.Radio, token: gr.Textbox) -> TrainTab:
    """Lay out the Train tab and wire Train, Stop, Resume, the live view, the coach and the results."""
    tab = layout(ctx, token)
    form, owner, notice = ctx.form, ctx.owner, tab.notice
    view_now = bind(view, ctx)
    view_inputs = [tab.watched, tab.smoothing, tab.shown, owner]
    started = [tab.run_box, tab.watched, tab.timer, tab.plot, tab.progress, tab.log]
    gr.on(triggers=[], fn=user_errors(bind(start, ctx)), inputs=[tab.config_code, tab.smoothing, token, owner],
          outputs=started, api_name="train", concurrency_limit=1, concurrency_id="train")
    button_now = bind(train_button, ctx)
    # Train says at once that it is starting (no queue: it must not wait behind heavy calls), then starts; the button
    # then follows the job manager again (busy with the new run, or back to Train after a refusal).
    pressed = tab.train_btn.click(starting, None, [tab.train_btn], queue=False, api_visibility="private",
                                  show_progress="hidden")
    page_event(pressed.then, bind(start_from_form, ctx, tab.smoothing, token),
               {*form.components(), tab.smoothing, token, owner}, [tab.config_code, *started], notice,
               cause=tab.busy_cause, concurrency_limit=1, concurrency_id="train",
               show_progress="minimal", show_progress_on=[tab.progress],  # the curve stays clean while it starts
               ).then(button_now, [owner], [tab.train_btn], api_visibility="private", show_progress="hidden")
    page_event(tab.resume_btn.click, bind(resume, ctx), [tab.watched, token, owner], [tab.run_box, tab.watched],
               notice, concurrency_limit=1, concurrency_id="train").then(
        view_now, view_inputs, tab.view_outputs, api_visibility="private", show_progress="hidden",
    )
    page_event(tab.stop_btn.click, bind(stop_from_page, ctx), [owner], [tab.progress, tab.train_btn], notice,
               api_name="stop", api_fn=bind(stop, ctx), api_outputs=[tab.progress], show_progress="hidden")
    # Light calls never wait for a slot behind heavy ones (Compare, exports), nor count against the queue's size
    # (ui/queueing.py): no concurrency limit, and concurrency ids of their own.
    tab.timer.tick(view_now, view_inputs, tab.view_outputs, api_name="poll", concurrency_limit=None,
                   concurrency_id="poll", show_progress="hidden")
    tab.timer.tick(bind(drop_ended_notice, ctx), [tab.busy_cause], [notice, tab.busy_cause], api_visibility="private",
                   concurrency_limit=None, concurrency_id="poll", show_progress="hidden")
    tab.smoothing.release(view_now, view_inputs, tab.view_outputs, api_visibility="private", show_progress="hidden")
    gr.api(user_errors(bind(status, ctx)), api_name="status", concurrency_limit=None, concurrency_id="status")
    coach_box.wire(ctx, tab.coach)
    tab.preset.input(bind(pick_preset, ctx, tab.preset_note), [tab.preset, form.by_path[("model", "name_or_path")]],
                     list(form.components()) + [tab.preset_note], api_visibility="private")
    tab.method.change(on_method, [tab.method], [tab.method, tab.lora_box], api_visibility="private")
    page_event(tab.trial_btn.click, bind(trial_from_form, ctx, token), {*form.components(), token, owner},
               [tab.estimate], notice, cause=tab.busy_cause, concurrency_limit=1, concurrency_id="train",
               show_progress="minimal", show_progress_on=[tab.estimate])
    for trigger in (tab.method, *tab.basic.values(), tab.lora_r):
        trigger.change(bind(on_estimate, ctx), {*form.components(), owner}, [tab.estimate], api_visibility="private",
                       trigger_mode="always_last", show_progress="hidden")
    return tab
