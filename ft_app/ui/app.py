"""`build_app()`: the five tabs around one job manager, plus the cross-tab wiring and page-load events."""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app import presets
from ft_app.config import DataConfig
from ft_app.hosting import HostSettings
from ft_app.methods import LORA, get_method
from ft_app.ownership import browser_secret, new_owner_key, valid_owner_key
from ft_app.paths import PUBLIC_ENV
from ft_app.runs import RunStore
from ft_app.tasks import all_tasks, get_task
from ft_app.training.jobs import JobManager
from ft_app.ui import compare_tab, data_tab, export_tab, model_tab, runs_tab, train_tab, words
from ft_app.ui.common import bind, field_label, local_model_for, page_event, visitor
from ft_app.ui.context import AppContext
from ft_app.ui.queueing import enable_queue

ASSETS = Path(__file__).resolve().parents[2] / "assets"
CSS_FILE = ASSETS / "style.css"
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
        "auth_message": words.AUTH_MESSAGE if host.auth else None,
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


@dataclass
class Page:
    """The page: the widgets above the tabs, the tabs, and each tab's widgets."""

    task: gr.Radio
    example_btn: gr.Button
    example_note: gr.Markdown
    top_notice: gr.HTML
    tabs: gr.Tabs
    pages: dict[str, gr.Tab]
    model: model_tab.ModelTab
    data: data_tab.DataTab
    train: train_tab.TrainTab
    compare: compare_tab.CompareTab
    runs: runs_tab.RunsTab
    export: export_tab.ExportTab


# ---- handlers across tabs ------------------------------------------------------------------------------------


def on_task(data: data_tab.DataTab, task_value: str, method_value: str) -> list[Any]:
    """Show the column pickers and settings of the chosen task, and its recipes.

    Args: the task, the method.
    Returns: the mapping dropdowns, the task-only widgets (DataTab.task_only, in order), the recipes, the method.
    """
    task, method = get_task(task_value), get_method(method_value)
    shown = data_tab.shown_mapping(task_value)
    out: list[Any] = [gr.Dropdown(visible=name in shown) for name in data.mapping]
    out += [gr.update(visible=shows(task)) for _, shows in data.task_only]
    out.append(gr.Dropdown(choices=train_tab.preset_choices(task_value), value=None))
    out.append(LORA.name if not method.fits(task.has_head) else gr.skip())  # a head-only method needs a head
    return out


def _task_only(data: data_tab.DataTab) -> list[Any]:
    return [component for component, _ in data.task_only]


def try_example(ctx: AppContext, preset: gr.Dropdown, example_note: gr.Markdown, task_value: str,
                model_value: str) -> dict[Any, Any]:
    """Fill a known-good model, dataset and recipe for the task (the bundled file when offline).

    Args: the task, the model box.
    Returns: {widget: update} for the form, the recipe and the example's note.
    """
    from ft_app import catalog

    online = catalog.hub_status().reachable
    ex = presets.EXAMPLES[task_value]
    local = None
    if not online:
        current = (model_value or "").strip()
        if current:
            ctx.jobs.host.check_local_path(field_label("name_or_path"), current, ctx.uploads_dir)
        local = current if current and Path(current).expanduser().exists() else local_model_for(task_value)
    partial = presets.example_config(task_value, online=online, local_model=local)
    updates = ctx.form.updates(partial, reset=True, keep=(("task",),))
    updates[preset] = gr.Dropdown(value=ex.preset)
    if online:
        updates[example_note] = words.EXAMPLE_ONLINE.format(title=ex.title, model=ex.model, dataset=ex.dataset,
                                                            recipe=presets.get_preset(ex.preset).title)
    else:
        model_line = words.EXAMPLE_LOCAL_MODEL.format(path=local) if local else words.EXAMPLE_NO_MODEL
        updates[example_note] = words.EXAMPLE_OFFLINE.format(title=ex.title, file=presets.example_file(task_value).name,
                                                             model_line=model_line)
    return updates


def preview_example(ctx: AppContext, values: dict[Any, Any], request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Preview the example's data with its column mapping (and say plainly why when it cannot).

    Args: the task, the training-data box, the mapping dropdowns and the visitor's owner key, as {widget: value}.
    Returns: the Data tab's preview, its summary, the mapping dropdowns.
    """
    form = ctx.form
    source = values[form.by_path[("data", "train")]]
    columns = [values[form.by_path[("data", name)]] for name in data_tab.MAPPING_FIELDS]
    if not (source or "").strip():
        return [gr.skip()] * (2 + len(columns))
    chosen = DataConfig(**{name: (value or None) for name, value in zip(data_tab.MAPPING_FIELDS, columns, strict=True)})
    try:
        ctx.jobs.host.check_local_path(field_label("train"), source, ctx.uploads_dir,
                                       visitor(values.get(ctx.owner), request, profile))
        return data_tab.preview_table(source, None, "train", values[form.by_path[("task",)]], chosen)
    except ValueError as exc:
        return [gr.skip(), words.PROBLEM.format(error=exc), *([gr.skip()] * len(columns))]


def to_compare(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
               profile: gr.OAuthProfile | None = None) -> tuple[Any, Any]:
    """Open the Compare tab on the picked run.

    Args: the Runs tab's run dropdown, the visitor's owner key.
    Returns: the Compare tab's run dropdown, the tabs.
    """
    return compare_tab.refresh_runs(ctx, run_id, owner_key, request, profile), gr.Tabs(selected="compare")


def show_train(notice: str) -> Any:
    """After Resume: watch the run on the Train tab (unless Resume was refused).

    Args: the Runs tab's notice.
    Returns: the tabs.
    """
    return gr.skip() if notice else gr.Tabs(selected="train")


def init_owner(stored: Any) -> tuple[str, str]:
    """Page (re)load: the owner key this browser keeps, or a new one it keeps from now on.

    Args: the owner key in the browser's storage.
    Returns: the browser's storage, the visitor's owner key.
    """
    key = stored if valid_owner_key(stored) else new_owner_key()
    return key, key


def on_load(ctx: AppContext, run_id: str | None, smoothing: float, shown: str | None, owner_key: str | None = None,
            request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Page (re)load: Hub status, local models, the run being trained, finished runs and the runs table.

    Args: the watched run, the smoothing slider, the results shown, the visitor's owner key.
    Returns: the Hub line, the local models, `train_tab.attach`'s outputs, the Compare run, the Runs tab.
    """
    return [
        model_tab.hub_line(),
        model_tab.local_choices(),
        *train_tab.attach(ctx, run_id, smoothing, shown, owner_key, request, profile),
        compare_tab.refresh_runs(ctx, None, owner_key, request, profile),
        *runs_tab.refresh_all(ctx, None, None, owner_key, request, profile),
    ]


def restore_form(ctx: AppContext, values: dict[Any, Any], request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> dict[Any, Any]:
    """Page (re)load: fill the form with the settings of the run shown (the running one, or the last one).

    Args: the whole form and the visitor's owner key, as {widget: value}.
    Returns: {widget: update} for the form.
    """
    who = visitor(values.get(ctx.owner), request, profile)
    snap = train_tab.snapshot_for(ctx, None, who)
    if snap is None or not ctx.jobs.may_manage(snap.run_id, who):  # never a stranger's settings (or data)
        return ctx.form.empty_untouched_numbers(values)
    try:
        config = ctx.store.read_config(snap.run_dir)
    except ValueError as exc:
        gr.Warning(words.SETTINGS_NOT_RESTORED.format(run_id=snap.run_id, error=exc))
        return ctx.form.empty_untouched_numbers(values)
    return ctx.form.updates(config.to_dict(), reset=True)


# ---- layout and wiring ---------------------------------------------------------------------------------------


def _header(ctx: AppContext) -> None:
    """The title, the sign-in button, the demo banner."""
    with gr.Row(elem_classes=["ft-row"]):
        gr.Markdown(words.HEADER.format(title=words.TITLE), elem_id="header")
        if ctx.login_required:
            gr.LoginButton(scale=0, min_width=260)
    if ctx.jobs.host.demo:
        gr.Markdown(words.DEMO_BANNER, elem_id="demo-banner", elem_classes=["ft-banner"])
    elif ctx.login_required:
        gr.Markdown(words.SIGN_IN_NOTE, elem_classes=["ft-note"])


def layout(ctx: AppContext) -> Page:
    """Lay out the page and each tab (each tab wires its own events)."""
    _header(ctx)
    with gr.Row(elem_classes=["ft-row"]):
        task = ctx.form.add(("task",), gr.Radio([(t.label, t.name) for t in all_tasks()], value="classification",
                                                label=words.TASK_QUESTION, scale=4, elem_id="task"))
        example_btn = gr.Button(words.TRY_EXAMPLE, variant="primary", scale=0, min_width=200, size="lg",
                                elem_id="example-btn")
    example_note = gr.Markdown("", elem_classes=["ft-note"])
    top_notice = gr.HTML("", elem_id="top-notice", elem_classes=["ft-note"])
    pages: dict[str, gr.Tab] = {}
    with gr.Tabs() as tabs:
        with gr.Tab(words.TABS["model"], id="model"):
            model = model_tab.build(ctx, task)
        with gr.Tab(words.TABS["data"], id="data"):
            data = data_tab.build(ctx, task)
        with gr.Tab(words.TABS["train"], id="train") as pages["train"]:
            train = train_tab.build(ctx, task, model.token)
        with gr.Tab(words.TABS["compare"], id="compare") as pages["compare"]:
            compare = compare_tab.build(ctx)
        with gr.Tab(words.TABS["runs"], id="runs") as pages["runs"]:
            runs = runs_tab.build(ctx)
        with gr.Tab(words.TABS["export"], id="export") as pages["export"]:
            export = export_tab.build(ctx, model.token)
    return Page(task=task, example_btn=example_btn, example_note=example_note, top_notice=top_notice, tabs=tabs,
                pages=pages, model=model, data=data, train=train, compare=compare, runs=runs, export=export)


def _wire_example(ctx: AppContext, page: Page) -> None:
    """Try an example: fill the form, then preview its data and report on it."""
    form, data, train = ctx.form, page.data, page.train
    page.task.change(bind(on_task, data), [page.task, train.method],
                     [*data.mapping.values(), *_task_only(data), train.preset, train.method], api_visibility="private")
    page_event(
        page.example_btn.click, bind(try_example, ctx, train.preset, page.example_note), [page.task, page.model.model],
        list(form.components()) + [train.preset, page.example_note], page.top_notice, api_name="try_example",
    ).success(
        data_tab.forget_source_notices, [page.top_notice], [data.notice, data.upload], api_visibility="private",
        show_progress="hidden",
    ).then(
        bind(preview_example, ctx), {data.source, page.task, ctx.owner, *data.mapping.values()},
        [data.preview, data.summary, *data.mapping.values()], api_visibility="private",
    ).then(bind(data_tab.auto_report, ctx, data.notice), {*form.components(), ctx.owner}, data.report_outputs,
           api_visibility="private")


def _wire_tabs(ctx: AppContext, page: Page) -> None:
    """Runs -> Compare and Resume -> Train; each tab refreshes when shown; Export follows the run opened."""
    owner, runs, train, compare, export = ctx.owner, page.runs, page.train, page.compare, page.export
    runs.to_compare.click(bind(to_compare, ctx), [runs.pick, owner], [compare.run, page.tabs], api_visibility="private")
    # Resume (Runs tab): continue the run, then watch it on the Train tab.
    page_event(
        runs.resume.click, bind(train_tab.resume, ctx), [runs.pick, train.token, owner], [train.run_box, train.watched],
        runs.notice, api_name="resume_run", concurrency_limit=1, concurrency_id="train",
    ).success(show_train, [runs.notice], [page.tabs], api_visibility="private").then(
        bind(train_tab.view, ctx), [train.watched, train.smoothing, train.shown, owner], train.view_outputs,
        api_visibility="private", show_progress="hidden",
    )
    page.pages["train"].select(bind(train_tab.on_estimate, ctx), {*ctx.form.components(), owner}, [train.estimate],
                               api_visibility="private", show_progress="hidden")
    page.pages["compare"].select(bind(compare_tab.refresh_runs, ctx), [compare.run, owner], [compare.run],
                                 api_visibility="private")
    page.pages["runs"].select(bind(runs_tab.refresh_all, ctx), [runs.pick, runs.overlay_pick, owner],
                              runs.refresh_outputs, api_visibility="private")
    # Export follows the run opened in Runs or Compare, and refreshes its list when shown.
    page.pages["export"].select(bind(export_tab.refresh_runs, ctx), [export.run, owner], [export.run],
                                api_visibility="private")
    for opened in (runs.pick, compare.run):
        opened.change(bind(export_tab.follow, ctx), [opened, owner], [export.run], api_visibility="private")


def _wire_load(ctx: AppContext, demo: gr.Blocks, page: Page, owner_browser: gr.BrowserState) -> None:
    """Page (re)load: the owner key first (what the page shows depends on who the visitor is), then every tab's
    state, then the form of the run shown and its data's preview."""
    owner, train, data, form = ctx.owner, page.train, page.data, ctx.form
    loaded = demo.load(init_owner, [owner_browser], [owner_browser, owner], api_visibility="private",
                       show_progress="hidden")
    loaded.then(
        bind(on_load, ctx), [train.watched, train.smoothing, train.shown, owner],
        [page.model.hub_line, page.model.local, train.watched, *train.view_outputs, page.compare.run,
         *page.runs.refresh_outputs],
        api_visibility="private",
    )
    loaded.then(bind(restore_form, ctx), {*form.components(), owner}, list(form.components()),
                api_visibility="private").then(
        bind(preview_example, ctx), {data.source, page.task, owner, *data.mapping.values()},
        [data.preview, data.summary, *data.mapping.values()], api_visibility="private",
    )


def build_page(ctx: AppContext, demo: gr.Blocks) -> Page:
    """Inside `demo`: lay out the page and wire every event. Sets `ctx.owner` (the visitor's owner key)."""
    # The visitor's owner key lives in their browser (encrypted in its local storage, so a reload keeps it);
    # each page load copies it into per-visitor state, which every event touching a run takes as an input.
    owner_browser = gr.BrowserState(None, storage_key="ft_app_owner_key",
                                    secret=browser_secret(ctx.jobs.store.root.parent))
    ctx.owner = gr.State(None)
    page = layout(ctx)
    _wire_example(ctx, page)
    _wire_tabs(ctx, page)
    _wire_load(ctx, demo, page, owner_browser)
    return page


def build_app(jobs: JobManager | None = None) -> gr.Blocks:
    """Build the Gradio app; `jobs` is the ONE shared object (a fresh one on the default runs folder if None)."""
    if jobs is None:
        store = RunStore()
        store.mark_interrupted()  # runs left "running" by a process that died are not running any more
        jobs = JobManager(store)
    ctx = AppContext(jobs=jobs, login_required=oauth_available(jobs.host))
    with gr.Blocks(title=words.TITLE, analytics_enabled=False) as demo:
        build_page(ctx, demo)
    return demo
