"""Train tab: presets, method, knobs with plain help, Train/Stop, and the live curve polled by a timer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app import catalog, presets
from ft_app.config import METHODS, RunConfig, TrainingSettings
from ft_app.ownership import Visitor
from ft_app.text import count_words, share_words
from ft_app.training.progress import JobSnapshot
from ft_app.ui import coach_box, common, results_panel
from ft_app.ui.common import METHOD_HELP, METHOD_LABELS, failure_html, page_event, progress_html
from ft_app.ui.context import AppContext

BASIC_KNOBS = ("epochs", "max_steps", "learning_rate", "batch_size")
EVAL_KNOBS = ("before_after", "zero_shot_model", "max_new_tokens", "temperature", "exact_match_rows")
POLL_SECONDS = 1.0
LOG_LINES = 30
FAILURE_LOG_LINES = 12


@dataclass
class TrainTab:
    """The Train tab's widgets that other parts of the app use."""

    method: gr.Radio
    preset: gr.Dropdown
    preset_note: gr.Markdown
    lora_box: gr.Accordion
    estimate: gr.Markdown
    run_box: gr.Textbox
    progress: gr.HTML
    plot: gr.Plot
    log: gr.Textbox
    smoothing: gr.Slider
    timer: gr.Timer
    watched: gr.State
    shown: gr.State
    config_code: gr.Code
    resume_btn: gr.Button
    coach: coach_box.CoachBox
    estimate_inputs: set[gr.components.Component]
    on_estimate: Callable[..., str]
    view_outputs: list[Any]
    view: Callable[..., list[Any]]
    attach: Callable[..., list[Any]]
    resume: Callable[..., tuple[str, str]]


def preset_choices(task: str) -> list[tuple[str, str]]:
    """The presets of a task as dropdown choices."""
    return [(p.title, p.key) for p in presets.presets_for(task)]


def method_info(method: str) -> str:
    """One line explaining a training method."""
    return f"{METHOD_LABELS.get(method, method)}: {METHOD_HELP.get(method, '')}"


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
        return plots.empty_figure("Press Train to start: the loss curve is drawn here live."), progress_html(None), ""
    waiting = {
        "queued": "Starting the run…",
        "running": f"Getting ready ({snap.phase or 'loading'})… the first point appears after the first logged step.",
    }.get(snap.status, "This run logged no training steps.")
    fig = plots.training_figure(
        snap.records, smoothing=smoothing or 0.0, title=f"Training curve · {snap.run_id}", uirevision=snap.run_id,
        empty_message=waiting,
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


def build(ctx: AppContext, task: gr.Radio, token: gr.Textbox) -> TrainTab:
    """Lay out the Train tab and wire Train, Stop, Resume, the live view, the coach and the results."""
    form = ctx.form
    host = ctx.jobs.host
    gr.Markdown(
        "### Step 3 · Choose how to train, then press Train\n"
        "Start from a recipe; every setting has a one-line explanation. The defaults are safe."
    )
    preset = gr.Dropdown(
        label="Recipe",
        choices=preset_choices("classification"),
        value=None,
        info="Pick a known-good set of settings for a classic use; it fills in the method and the knobs below.",
        elem_id="preset",
    )
    preset_note = gr.Markdown("")
    method = form.add(
        ("method",),
        gr.Radio(
            [(METHOD_LABELS[m], m) for m in METHODS],
            value="full",
            label="Training method",
            info=method_info("full"),
            elem_id="method",
        ),
    )
    estimate = gr.Markdown("", elem_classes=["ft-card"])
    with gr.Row():
        basic = {name: form.field("training", name) for name in BASIC_KNOBS}
    with gr.Accordion("LoRA settings", open=False, visible=False) as lora_box:
        with gr.Row():
            lora_r = form.field("lora", "r")
            form.field("lora", "alpha")
            form.field("lora", "dropout")
            form.field("lora", "target_modules")
    with gr.Accordion("More training settings", open=False):
        rest = [f.name for f in dataclasses.fields(TrainingSettings) if f.name not in BASIC_KNOBS]
        for i in range(0, len(rest), 3):
            with gr.Row():
                for name in rest[i : i + 3]:
                    form.field("training", name)
        gr.Markdown("#### Checking the result")
        with gr.Row():
            form.field("evaluation", "before_after", label="Test before and after training")
            form.field(
                "evaluation", "zero_shot_model", label="Zero-shot baseline model (optional)",
                placeholder="e.g. cross-encoder/nli-distilroberta-base",
            )
        with gr.Row():
            form.field("evaluation", "max_new_tokens", label="Longest answer for test prompts (tokens)", minimum=1)
            form.field("evaluation", "temperature", label="Temperature for test prompts", minimum=0)
            form.field("evaluation", "exact_match_rows", label="Rows checked for exact match", minimum=0)
    with gr.Accordion("Test prompts: see how the answers change (optional)", open=False, elem_id="golden-box"):
        gr.Markdown(
            "Write a few texts or questions you care about. The model answers them **before** training starts and "
            "**again when it ends**, so you see the difference side by side."
        )
        with gr.Row():
            form.field(
                "evaluation", "golden_prompts", label="Test prompts (one per line)", lines=4, scale=3,
                placeholder="One per line, e.g.\nThe food was cold and the waiter was rude.\nBest concert of my life!",
                elem_id="golden-prompts",
            )
            form.field(
                "evaluation", "golden_from_heldout", label="Also test on this many held-out rows", minimum=0,
                maximum=100, scale=1, elem_id="golden-heldout",
                info="Rows kept aside from your data, with their expected answers. 0 = none.",
            )
    with gr.Row(elem_classes=["ft-row"]):
        form.add(("name",), gr.Textbox(label="Run name (optional)", placeholder="e.g. reviews-v1", scale=2))
        if host.demo:
            train_btn = gr.Button("Training is off on this demo", variant="primary", scale=0, min_width=170, size="lg",
                                  elem_id="train-btn", interactive=False)
        else:
            train_btn = gr.Button("Train", variant="primary", scale=0, min_width=170, size="lg", elem_id="train-btn")
        stop_btn = gr.Button("Stop", variant="stop", scale=0, min_width=130, size="lg", elem_id="stop-btn")
    notice = gr.HTML("", elem_id="train-notice", elem_classes=["ft-note"])
    run_box = gr.Textbox(label="Run", interactive=False, visible=False, elem_id="run-box", max_lines=1)
    progress = gr.HTML(progress_html(None), elem_id="progress")
    with gr.Row(elem_classes=["ft-row"]):
        failure = gr.HTML("", visible=False, elem_id="train-failure")
        resume_btn = gr.Button("Resume this run", variant="primary", scale=0, min_width=190, visible=False,
                               elem_id="train-resume")
    plot = gr.Plot(label="Live training curve", elem_id="live-plot")
    smoothing = gr.Slider(
        0,
        0.95,
        value=0.0,
        step=0.05,
        label="Smoothing",
        info="Evens out a noisy loss curve (0 = raw values). Only changes the picture, not the training.",
    )
    coach = coach_box.build()
    results = results_panel.build("train")
    with gr.Accordion("Log", open=False):
        log = gr.Textbox(label="Last lines of the run's log", lines=10, max_lines=20, interactive=False, elem_id="log-tail")
    with gr.Accordion("This run as a config file (to run it from the command line)", open=False):
        config_code = gr.Code(label="Run config (JSON)", language="json", interactive=False, elem_id="config-json")
        gr.Markdown("Save it as `run.json` and run `python -m ft_app train run.json` to train the same run headless.")
    timer = gr.Timer(POLL_SECONDS, active=False)
    watched = gr.State(None)
    shown = gr.State(None)  # which finished run's results the panel shows, so a tick does not redraw them

    # ---- handlers --------------------------------------------------------------------------

    def view(run_id: str | None, smoothing_value: float, shown_key: str | None, owner_key: str | None = None,
             request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Everything the Train tab shows about a run: curve, progress, log, failure, coach and results."""
        who = common.visitor(owner_key, request, profile)
        snap = snapshot_for(ctx, run_id, who)
        fig, bar, log_text = live_view(ctx, snap, smoothing_value)
        active = bool(snap and snap.active)
        out: list[Any] = [fig, bar, log_text, gr.Timer(active=active), snap.run_id if snap else "",
                          gr.Button(visible=stop_shown(ctx, snap, who))]
        out += _failure_view(ctx, snap, who)
        out += coach_box.view(ctx, snap)
        if snap is None or active:
            key = None
            out += results_panel.hidden() if shown_key is not None else [gr.skip()] * len(results.outputs)
        else:
            key = f"{snap.run_id}:{snap.status}"
            out += (results_panel.render(snap.run_dir, snap.status) if key != shown_key
                    else [gr.skip()] * len(results.outputs))
        return [*out, key]

    def attach(run_id: str | None, smoothing_value: float, shown_key: str | None = None, owner_key: str | None = None,
               request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[Any]:
        """On page load: re-attach to the running job (or show the last run) and start polling if it is active."""
        snap = snapshot_for(ctx, run_id, common.visitor(owner_key, request, profile))
        return [snap.run_id if snap else None, *view(run_id, smoothing_value, shown_key, owner_key, request, profile)]

    def start(config_json: str, smoothing_value: float, hub_token: str | None = None, owner_key: str | None = None,
              request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        """Start training the given run config (JSON) in the background; returns at once with the run id.

        `hub_token` is a Hugging Face token for this run only (gated or private models); it is never written.
        The run belongs to the visitor who started it.
        """
        if ctx.login_required and profile is None:
            raise ValueError("Sign in with Hugging Face (the button at the top of the page) to train on this server.")
        if not (config_json or "").strip():
            raise ValueError("No run config: pick a model (Model tab) and data (Data tab), then press Train.")
        config = RunConfig.from_json(config_json)
        run_id = ctx.jobs.start(config, token=(hub_token or "").strip() or None,
                                visitor=common.visitor(owner_key, request, profile))
        fig, bar, log_text = live_view(ctx, ctx.jobs.snapshot(run_id), smoothing_value)
        return run_id, run_id, gr.Timer(active=True), fig, bar, log_text

    def resume(run_id: str | None, hub_token: str | None = None, owner_key: str | None = None,
               request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[str, str]:
        """Continue an interrupted, stopped or failed run from its last checkpoint, in the same folder."""
        if ctx.login_required and profile is None:
            raise ValueError("Sign in with Hugging Face (the button at the top of the page) to train on this server.")
        if not run_id:
            raise ValueError("Pick a run to resume first.")
        resumed = ctx.jobs.resume(run_id, token=(hub_token or "").strip() or None,
                                  visitor=common.visitor(owner_key, request, profile))
        gr.Info(f"Run {resumed} continues from its last checkpoint; its curve goes on where it stopped.")
        return resumed, resumed

    def start_from_form(values: dict[Any, Any], request: gr.Request = None,
                        profile: gr.OAuthProfile | None = None) -> tuple[Any, ...]:
        """The Train button: the whole form as ONE run config (shown as JSON), then start it."""
        if not str(values.get(form.by_path[("model", "name_or_path")]) or "").strip():
            raise ValueError(catalog.no_model_message(values[task]))
        config_json = form.to_config(values).to_json()
        return (config_json, *start(config_json, values[smoothing], values[token], values[ctx.owner], request, profile))

    def stop(owner_key: str | None = None, request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> str:
        """Ask the running job to stop after the current step (its owner, or an admin, on a public server)."""
        who = common.visitor(owner_key, request, profile)
        run_id = ctx.jobs.stop(who)
        gr.Info(f"Stopping run {run_id} after the current step; what it learned so far is kept.")
        return progress_html(ctx.jobs.snapshot(run_id, who))

    def status(run_id: str = "", request: gr.Request = None) -> dict[str, Any]:
        """The status of a run (or of the current one when run_id is empty) as JSON."""
        who = common.visitor(None, request)
        if run_id:
            return status_dict(ctx.jobs.snapshot(run_id, who))  # a run that does not exist is refused, plainly
        return status_dict(snapshot_for(ctx, None, who))

    def pick_preset(key: str | None, model_value: str) -> Any:
        """Apply a recipe: its method and knobs (and its model when none is chosen yet)."""
        if not key:
            return {**form.unchanged(), preset_note: gr.skip()}
        from ft_app import catalog

        p = presets.get_preset(key)
        suggested = p.model
        if catalog.known_offline():  # a Hub id cannot be downloaded from here: suggest a model on this computer
            suggested = common.local_model_for(p.task) or ""
        updates = form.updates(p.config(with_model=False), reset=True, keep=_keep_paths())
        if suggested and not (model_value or "").strip():
            updates[form.by_path[("model", "name_or_path")]] = gr.update(value=suggested)
        where = (f"Suggested model: `{suggested}`." if suggested else
                 "No model for it was found on this computer: type the folder of one in the Model tab.")
        updates[preset_note] = f"**{p.title}.** {p.description} {where}"
        return updates

    def on_method(method_value: str) -> tuple[Any, Any]:
        """Explain the chosen method and show the LoRA settings when it uses adapters."""
        return gr.Radio(info=method_info(method_value)), gr.Accordion(visible=method_value in ("lora", "qlora", "lora8bit"))

    def on_estimate(values: dict[Any, Any], request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> str:
        """The plan (passes, steps, time here) and the weights and GPU memory, for the form as it is now."""
        return estimate_text(ctx, values, common.visitor(values.get(ctx.owner), request, profile))

    # ---- wiring ----------------------------------------------------------------------------
    token_inputs = [token]  # the Model tab's password box: sent with the click, kept nowhere on the server
    view_outputs = [
        plot, progress, log, timer, run_box, stop_btn, failure, resume_btn, *coach.outputs, *results.outputs, shown,
    ]
    view_inputs = [watched, smoothing, shown, ctx.owner]
    started_outputs = [run_box, watched, timer, plot, progress, log]
    gr.on(triggers=[], fn=common.user_errors(start), inputs=[config_code, smoothing, *token_inputs, ctx.owner],
          outputs=started_outputs, api_name="train", concurrency_limit=1, concurrency_id="train")
    page_event(train_btn.click, start_from_form, {*form.components(), smoothing, *token_inputs, ctx.owner},
               [config_code, *started_outputs], notice, concurrency_limit=1, concurrency_id="train",
               show_progress="minimal", show_progress_on=[progress])  # the curve stays clean while the run starts
    page_event(resume_btn.click, resume, [watched, *token_inputs, ctx.owner], [run_box, watched], notice,
               concurrency_limit=1, concurrency_id="train").then(
        view, view_inputs, view_outputs, api_visibility="private", show_progress="hidden",
    )
    page_event(stop_btn.click, stop, [ctx.owner], [progress], notice, api_name="stop", show_progress="hidden")
    # Light calls never wait for a slot behind heavy ones (Compare, exports), nor count against the queue's size
    # (ui/queueing.py): no concurrency limit, and concurrency ids of their own.
    timer.tick(view, view_inputs, view_outputs, api_name="poll", concurrency_limit=None, concurrency_id="poll",
               show_progress="hidden")
    smoothing.release(view, view_inputs, view_outputs, api_visibility="private", show_progress="hidden")
    gr.api(common.user_errors(status), api_name="status", concurrency_limit=None, concurrency_id="status")
    coach_box.wire(ctx, coach)
    preset.input(pick_preset, [preset, form.by_path[("model", "name_or_path")]], list(form.components()) + [preset_note],
                       api_visibility="private")
    method.change(on_method, [method], [method, lora_box], api_visibility="private")
    estimate_inputs = {*form.components(), ctx.owner}
    for trigger in (method, *basic.values(), lora_r):
        trigger.change(on_estimate, estimate_inputs, [estimate], api_visibility="private", trigger_mode="always_last",
                       show_progress="hidden")
    tab = TrainTab(
        method=method, preset=preset, preset_note=preset_note, lora_box=lora_box, estimate=estimate, run_box=run_box,
        progress=progress, plot=plot, log=log, smoothing=smoothing, timer=timer, watched=watched, shown=shown,
        config_code=config_code, resume_btn=resume_btn, coach=coach, estimate_inputs=estimate_inputs,
        on_estimate=on_estimate, view_outputs=view_outputs,
        view=view, attach=attach, resume=resume,
    )
    return tab


def _failure_view(ctx: AppContext, snap: JobSnapshot | None, who: Visitor | None = None) -> list[Any]:
    """The failure card (message and log tail) and the Resume button (for who may resume it), for a run that did
    not finish."""
    if snap is None or snap.status not in ("failed", "interrupted", "stopped"):
        return [gr.HTML("", visible=False), gr.Button(visible=False)]
    from ft_app.results import resume_blocker

    blocker = resume_blocker(ctx.store, snap.run_id)
    if blocker is None and not ctx.jobs.may_manage(snap.run_id, who):
        blocker = "This run was started by another visitor: only they (or an admin of this server) can resume it."
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
        return "Pick a model to see the plan: how many passes and steps, how long it takes, and the memory it needs."
    try:
        config = form.to_config(values)
        ctx.jobs.host.check_config_paths(config, ctx.uploads_dir, who)
        est = estimate.estimate_run(config.model.name_or_path, config.task, config.method, config.training.batch_size,
                                    config.max_length, lora_r=config.lora.r)
    except ValueError as exc:
        return f"No estimate yet: {common.shorten(str(exc), 300)}"
    method = METHOD_LABELS.get(config.method, config.method)
    weights = (f"Trains {count_words(est.trainable_params)} of its {count_words(est.total_params)} weights "
               f"({share_words(est.trainable_params, est.total_params)}).")
    lines = [f"**{method}** · {_plan_line(config)} {weights}"]
    fit = [gpu for gpu, ok in est.fits.items() if ok]
    gpu = f"On a GPU it needs about {est.total_gpu_gb:.1f} GB of memory: " + (
        f"fits on {', '.join(fit)}." if fit else "too big for the usual single GPUs: try LoRA or QLoRA, or a smaller batch.")
    lines.append(gpu)
    lines += [f"- {n}" for n in (est.notes or [])]
    return "\n".join(lines)


def _plan_line(config: RunConfig) -> str:
    """'Plan: 360 rows: 9 passes, 405 steps, ...; about 2 minutes here; ...' for a local data file; '' otherwise."""
    from ft_app import estimate
    from ft_app.data import count_local_rows

    try:
        rows = count_local_rows(config)
    except ValueError:
        return ""
    if rows is None:
        return "The plan (passes, steps, time) appears once the data is a file on this computer."
    try:
        return f"Plan: {estimate.describe_plan(config, rows)}."
    except ValueError as exc:
        return common.shorten(str(exc), 300)
