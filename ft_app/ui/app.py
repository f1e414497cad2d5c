"""`build_app()`: the five tabs around one job manager, plus the cross-tab wiring and page-load events."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app import presets
from ft_app.config import TASKS, DataConfig
from ft_app.hosting import HostSettings
from ft_app.ownership import browser_secret, new_owner_key, valid_owner_key
from ft_app.paths import PUBLIC_ENV
from ft_app.runs import RunStore
from ft_app.training.jobs import JobManager
from ft_app.ui import common, compare_tab, data_tab, export_tab, model_tab, runs_tab, train_tab
from ft_app.ui.common import TASK_LABELS, local_model_for, page_event
from ft_app.ui.context import AppContext
from ft_app.ui.queueing import enable_queue

ASSETS = Path(__file__).resolve().parents[2] / "assets"
CSS_FILE = ASSETS / "style.css"
TITLE = "Fine-Tune Studio"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TRAINING_CONCURRENCY = 4  # light handlers in parallel; Train, Compare and Resume each run one at a time
log = logging.getLogger(__name__)


def launch_options() -> dict[str, Any]:
    """Theme and CSS for `demo.launch` (Gradio 6 takes them at launch, not in gr.Blocks)."""
    return {
        "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        "css_paths": [CSS_FILE] if CSS_FILE.is_file() else None,
        "footer_links": ["api"],
    }


def oauth_available(host: HostSettings) -> bool:
    """Whether "Sign in with Hugging Face" can work here: asked for, on a Space with OAuth set up, libraries present."""
    if not host.oauth:
        return False
    from gradio.utils import get_space

    missing = [name for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES") if not os.environ.get(name)]
    if get_space() is None:
        missing.insert(0, "SYSTEM=spaces/SPACE_ID")
    if missing:
        log.warning("FT_APP_OAUTH is set but this is not a Space with OAuth enabled (missing %s): no sign-in button.",
                    ", ".join(missing))
        return False
    try:
        import authlib  # noqa: F401
        import itsdangerous  # noqa: F401
    except ImportError:
        log.warning("FT_APP_OAUTH is set but gradio[oauth] is not installed: no sign-in button.")
        return False
    return True


def server_options(host: HostSettings, store: RunStore) -> dict[str, Any]:
    """`demo.launch` options that make the server safe to host: login, upload limit, and the paths it may serve."""
    return {
        "auth": host.auth,
        "auth_message": "Fine-Tune Studio: sign in with the user name and password the host gave you." if host.auth else None,
        "max_file_size": f"{host.max_upload_mb}mb",
        # Only Gradio's own cache (uploads it received, files a handler returned) is served: no app folder is
        # allowed, and the runs and uploads folders are blocked outright even if someone adds them later.
        "allowed_paths": [],
        "blocked_paths": [str(store.root), str(store.root.parent / "uploads")],
    }


def launch(host: str | None = None, port: int | None = None) -> None:
    """Build the app from the FT_APP_* host settings and serve it; host/port default to GRADIO_SERVER_NAME/PORT."""
    server_name = host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    if server_name not in LOOPBACK:
        # Reachable from other machines: visitors are strangers. Said in the environment, so that every part of the
        # app (and the training processes it starts) reads the same host settings.
        os.environ[PUBLIC_ENV] = "1"
    try:
        settings = HostSettings.from_env()
    except ValueError as exc:
        raise SystemExit(f"Fine-Tune Studio cannot start: {exc}") from None
    store = RunStore()
    store.mark_interrupted()  # runs left "running" by a process that died are not running any more
    jobs = JobManager(store, host=settings)
    jobs.reattach()  # a run whose training process outlived the last server is followed again
    demo = build_app(jobs)
    enable_queue(demo, TRAINING_CONCURRENCY, settings.queue_size)
    demo.launch(
        server_name=server_name,
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        prevent_thread_lock=True,
        **server_options(settings, store),
        **launch_options(),
    )
    jobs.prepare()  # the warm training worker imports torch & co. now, after the page answers
    # SIGTERM (a Space, Docker or systemd stopping the server) ends the server as Ctrl-C does: its run is stopped and
    # saved, and every process it started ends with it. (A server killed outright leaves the run training; the next
    # server follows it.)
    signal.signal(signal.SIGTERM, _shut_down_on_signal)
    try:
        demo.block_thread()
    finally:
        stopped = jobs.shutdown()
        if stopped:
            log.info("Run %s was stopped because the server shut down; Resume continues it.", stopped)


def _shut_down_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # gradio's block_thread closes the server on it; launch's `finally` stops the run


def build_app(jobs: JobManager | None = None) -> gr.Blocks:
    """Build the Gradio app; `jobs` is the ONE shared object (a fresh one on the default runs folder if None)."""
    if jobs is None:
        store = RunStore()
        store.mark_interrupted()  # runs left "running" by a process that died are not running any more
        jobs = JobManager(store)
    host = jobs.host
    login = oauth_available(host)
    ctx = AppContext(jobs=jobs, login_required=login)
    form = ctx.form
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        # The visitor's owner key lives in their browser (encrypted in its local storage, so a reload keeps it);
        # each page load copies it into per-visitor state, which every event touching a run takes as an input.
        owner_browser = gr.BrowserState(None, storage_key="ft_app_owner_key",
                                        secret=browser_secret(jobs.store.root.parent))
        ctx.owner = gr.State(None)
        with gr.Row(elem_classes=["ft-row"]):
            gr.Markdown(
                f"# {TITLE}\n"
                "Teach a model with your own examples: **pick a model, give it data, press Train**, watch it learn, "
                "then compare its answers before and after. New here? Choose what the model should learn and press "
                "**Try an example**.",
                elem_id="header",
            )
            if login:
                gr.LoginButton(scale=0, min_width=260)
        if host.demo:
            gr.Markdown(
                "**Demo server:** training is switched off here. Browse the runs already on it and compare their "
                "models before and after fine-tuning in the **Compare** and **Runs** tabs. To train your own, run "
                "the app on your own machine.",
                elem_id="demo-banner", elem_classes=["ft-banner"],
            )
        elif login:
            gr.Markdown("Sign in with Hugging Face (button above) to train on this Space.", elem_classes=["ft-note"])
        with gr.Row(elem_classes=["ft-row"]):
            task = form.add(
                ("task",),
                gr.Radio(
                    [(TASK_LABELS[t], t) for t in TASKS],
                    value="classification",
                    label="What should the model learn?",
                    scale=4,
                    elem_id="task",
                ),
            )
            example_btn = gr.Button("Try an example", variant="primary", scale=0, min_width=200, size="lg", elem_id="example-btn")
        example_note = gr.Markdown("", elem_classes=["ft-note"])
        top_notice = gr.HTML("", elem_id="top-notice", elem_classes=["ft-note"])
        with gr.Tabs() as tabs:
            with gr.Tab("1 · Model", id="model"):
                model_ui = model_tab.build(ctx, task)
            with gr.Tab("2 · Data", id="data"):
                data_ui = data_tab.build(ctx, task)
            with gr.Tab("3 · Train", id="train") as train_page:
                train_ui = train_tab.build(ctx, task, model_ui.token)
            with gr.Tab("4 · Compare", id="compare") as compare_page:
                compare_ui = compare_tab.build(ctx)
            with gr.Tab("5 · Runs", id="runs") as runs_page:
                runs_ui = runs_tab.build(ctx)
            with gr.Tab("6 · Export", id="export") as export_page:
                export_ui = export_tab.build(ctx, model_ui.token)

        # ---- cross-tab handlers -----------------------------------------------------------------
        mapping_order = list(data_ui.mapping)
        extras = [c for comps in data_ui.task_only.values() for c in comps]

        def on_task(task_value: str, method_value: str) -> list[Any]:
            """Show the column pickers and settings of the chosen task, and its recipes."""
            shown = data_tab.TASK_MAPPING.get(task_value, ())
            out: list[Any] = [gr.Dropdown(visible=name in shown) for name in mapping_order]
            out += [gr.update(visible=c in data_ui.task_only.get(task_value, [])) for c in extras]
            out.append(gr.Dropdown(choices=train_tab.preset_choices(task_value), value=None))
            out.append("lora" if method_value == "head" and task_value != "classification" else gr.skip())
            return out

        def try_example(task_value: str, model_value: str) -> dict[Any, Any]:
            """Fill a known-good model, dataset and recipe for the task (the bundled file when offline)."""
            from ft_app import catalog

            online = catalog.hub_status().reachable
            ex = presets.EXAMPLES[task_value]
            local = None
            if not online:
                current = (model_value or "").strip()
                if current:
                    host.check_local_path("Model", current, ctx.uploads_dir)
                local = current if current and Path(current).expanduser().exists() else local_model_for(task_value)
            partial = presets.example_config(task_value, online=online, local_model=local)
            updates = form.updates(partial, reset=True, keep=(("task",),))
            updates[train_ui.preset] = gr.Dropdown(value=ex.preset)
            if online:
                note = (
                    f"**Example filled in:** {ex.title}: model `{ex.model}`, dataset `{ex.dataset}` from the Hub, "
                    f"with the recipe *{presets.get_preset(ex.preset).title}*. Check the Data tab, then press "
                    "**Train** in the Train tab."
                )
            else:
                model_line = (
                    f"the model folder `{local}`" if local else
                    "**no model yet: type the path of a model folder on this computer in the Model tab**"
                )
                note = (
                    f"**Offline example:** {ex.title}, from the bundled file `{presets.example_file(task_value).name}`, "
                    f"with {model_line}. Then press **Train** in the Train tab."
                )
            updates[example_note] = note
            return updates

        def to_compare(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                       profile: gr.OAuthProfile | None = None) -> tuple[Any, Any]:
            """Open the Compare tab on the picked run."""
            return compare_ui.refresh(run_id, owner_key, request, profile), gr.Tabs(selected="compare")

        def init_owner(stored: Any) -> tuple[str, str]:
            """Page (re)load: the owner key this browser keeps, or a new one it keeps from now on."""
            key = stored if valid_owner_key(stored) else new_owner_key()
            return key, key

        def on_load(run_id: str | None, smoothing: float, shown: str | None, owner_key: str | None = None,
                    request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[Any]:
            """Page (re)load: Hub status, local models, the run being trained, finished runs and the runs table."""
            return [
                model_tab.hub_line(),
                model_tab.local_choices(),
                *train_ui.attach(run_id, smoothing, shown, owner_key, request, profile),
                compare_ui.refresh(None, owner_key, request, profile),
                *runs_ui.refresh_fn(None, None, owner_key, request, profile),
            ]

        def restore_form(values: dict[Any, Any], request: gr.Request = None,
                         profile: gr.OAuthProfile | None = None) -> dict[Any, Any]:
            """Page (re)load: fill the form with the settings of the run shown (the running one, or the last one)."""
            who = common.visitor(values.get(ctx.owner), request, profile)
            snap = train_tab.snapshot_for(ctx, None, who)
            if snap is None or not ctx.jobs.may_manage(snap.run_id, who):  # never a stranger's settings (or data)
                return form.empty_untouched_numbers(values)
            try:
                config = ctx.store.read_config(snap.run_dir)
            except ValueError as exc:
                gr.Warning(f"The settings of run {snap.run_id} could not be restored: {exc}")
                return form.empty_untouched_numbers(values)
            return form.updates(config.to_dict(), reset=True)

        # ---- cross-tab wiring -------------------------------------------------------------------
        task.change(
            on_task, [task, train_ui.method], [*data_ui.mapping.values(), *extras, train_ui.preset, train_ui.method],
            api_visibility="private",
        )
        preview_inputs = {data_ui.source, task, ctx.owner, *data_ui.mapping.values()}
        preview_outputs = [data_ui.preview, data_ui.summary, *data_ui.mapping.values()]
        page_event(
            example_btn.click, try_example, [task, model_ui.model], list(form.components()) + [train_ui.preset, example_note],
            top_notice, api_name="try_example",
        ).success(
            _preview_after_example(ctx, data_ui, task), preview_inputs, preview_outputs, api_visibility="private",
        ).then(data_ui.auto_report, {*form.components(), ctx.owner}, data_ui.report_outputs, api_visibility="private")
        owner = ctx.owner
        runs_ui.to_compare.click(to_compare, [runs_ui.pick, owner], [compare_ui.run, tabs], api_visibility="private")
        # Resume (Runs tab): continue the run, then watch it on the Train tab.
        page_event(
            runs_ui.resume.click, train_ui.resume, [runs_ui.pick, model_ui.token, owner],
            [train_ui.run_box, train_ui.watched],
            runs_ui.notice, api_name="resume_run", concurrency_limit=1, concurrency_id="train",
        ).success(
            lambda notice: gr.skip() if notice else gr.Tabs(selected="train"), [runs_ui.notice], [tabs],
            api_visibility="private",
        ).then(
            train_ui.view, [train_ui.watched, train_ui.smoothing, train_ui.shown, owner], train_ui.view_outputs,
            api_visibility="private", show_progress="hidden",
        )
        train_page.select(
            train_ui.on_estimate, train_ui.estimate_inputs, [train_ui.estimate], api_visibility="private", show_progress="hidden",
        )
        compare_page.select(compare_ui.refresh, [compare_ui.run, owner], [compare_ui.run], api_visibility="private")
        runs_page.select(
            runs_ui.refresh_fn, [runs_ui.pick, runs_ui.overlay_pick, owner], runs_ui.refresh_outputs,
            api_visibility="private",
        )
        # Export follows the run opened in Runs or Compare, and refreshes its list when shown.
        export_page.select(export_ui.refresh, [export_ui.run, owner], [export_ui.run], api_visibility="private")
        for opened in (runs_ui.pick, compare_ui.run):
            opened.change(export_ui.follow, [opened, owner], [export_ui.run], api_visibility="private")
        # The owner key first: what the page then shows (runs, Stop, Delete) depends on who the visitor is.
        loaded = demo.load(init_owner, [owner_browser], [owner_browser, owner], api_visibility="private",
                           show_progress="hidden")
        loaded.then(
            on_load,
            [train_ui.watched, train_ui.smoothing, train_ui.shown, owner],
            [
                model_ui.hub_line,
                model_ui.local,
                train_ui.watched, *train_ui.view_outputs,
                compare_ui.run,
                *runs_ui.refresh_outputs,
            ],
            api_visibility="private",
        )
        loaded.then(restore_form, {*form.components(), owner}, list(form.components()), api_visibility="private").then(
            _preview_after_example(ctx, data_ui, task), preview_inputs, preview_outputs, api_visibility="private",
        )
    demo.ft_context = ctx  # type: ignore[attr-defined]  # for tests and benchmarks
    demo.ft_train = train_ui  # type: ignore[attr-defined]
    return demo


def _preview_after_example(ctx: AppContext, data_ui: Any, task: Any) -> Any:
    """A handler that previews the example's data with its column mapping (and says plainly why when it cannot)."""

    def preview(values: dict[Any, Any], request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> list[Any]:
        source = values[data_ui.source]
        columns = [values[c] for c in data_ui.mapping.values()]
        if not (source or "").strip():
            return [gr.skip()] * (2 + len(columns))
        chosen = DataConfig(**{name: (value or None) for name, value in zip(data_ui.mapping, columns, strict=True)})
        try:
            ctx.jobs.host.check_local_path("Training data", source, ctx.uploads_dir,
                                           common.visitor(values.get(ctx.owner), request, profile))
            return data_tab._preview(source, None, "train", values[task], chosen)
        except ValueError as exc:
            return [gr.skip(), f"**Problem:** {exc}", *([gr.skip()] * len(columns))]

    return preview
