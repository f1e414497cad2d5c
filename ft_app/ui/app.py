"""`build_app()`: the five tabs around one job manager, plus the cross-tab wiring and page-load events."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app import presets
from ft_app.config import TASKS, DataConfig
from ft_app.runs import RunStore
from ft_app.training.jobs import JobManager
from ft_app.ui import compare_tab, data_tab, model_tab, runs_tab, train_tab
from ft_app.ui.common import TASK_LABELS, user_errors
from ft_app.ui.context import AppContext

ASSETS = Path(__file__).resolve().parents[2] / "assets"
CSS_FILE = ASSETS / "style.css"
TITLE = "Fine-Tune Studio"


def launch_options() -> dict[str, Any]:
    """Theme and CSS for `demo.launch` (Gradio 6 takes them at launch, not in gr.Blocks)."""
    return {
        "theme": gr.themes.Soft(primary_hue="blue", neutral_hue="slate"),
        "css_paths": [CSS_FILE] if CSS_FILE.is_file() else None,
        "footer_links": ["api"],
    }


def launch(host: str | None = None, port: int | None = None) -> None:
    """Build the app and serve it (queue on); host/port default to GRADIO_SERVER_NAME/GRADIO_SERVER_PORT."""
    demo = build_app()
    demo.queue(default_concurrency_limit=4)
    demo.launch(
        server_name=host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **launch_options(),
    )


def _local_model_for(task: str) -> str | None:
    """The smallest model in the local Hugging Face cache that fits a task, if any."""
    from ft_app import catalog

    fitting = [m for m in catalog.local_cached_models() if task in (m.fits or {})]
    fitting.sort(key=lambda m: m.params or m.size_bytes)
    return fitting[0].path if fitting else None


def build_app(jobs: JobManager | None = None) -> gr.Blocks:
    """Build the Gradio app; `jobs` is the ONE shared object (a fresh one on the default runs folder if None)."""
    if jobs is None:
        store = RunStore()
        store.mark_interrupted()  # runs left "running" by a process that died are not running any more
        jobs = JobManager(store)
    ctx = AppContext(jobs=jobs)
    form = ctx.form
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\n"
            "Teach a model with your own examples: **pick a model, give it data, press Train**, watch it learn, "
            "then compare its answers before and after. New here? Choose what the model should learn and press "
            "**Try an example**.",
            elem_id="header",
        )
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
        with gr.Tabs() as tabs:
            with gr.Tab("1 · Model", id="model"):
                model_ui = model_tab.build(ctx, task)
            with gr.Tab("2 · Data", id="data"):
                data_ui = data_tab.build(ctx, task)
            with gr.Tab("3 · Train", id="train") as train_page:
                train_ui = train_tab.build(ctx, task)
            with gr.Tab("4 · Compare", id="compare") as compare_page:
                compare_ui = compare_tab.build(ctx)
            with gr.Tab("5 · Runs", id="runs") as runs_page:
                runs_ui = runs_tab.build(ctx)

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

        @user_errors
        def try_example(task_value: str, model_value: str) -> dict[Any, Any]:
            """Fill a known-good model, dataset and recipe for the task (the bundled file when offline)."""
            from ft_app import catalog

            online = catalog.hub_status().reachable
            ex = presets.EXAMPLES[task_value]
            local = None
            if not online:
                current = (model_value or "").strip()
                local = current if current and Path(current).expanduser().exists() else _local_model_for(task_value)
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

        def to_compare(run_id: str | None) -> tuple[Any, Any]:
            """Open the Compare tab on the picked run."""
            return compare_ui.refresh(run_id), gr.Tabs(selected="compare")

        def on_load(run_id: str | None, smoothing: float) -> list[Any]:
            """Page (re)load: Hub status, local models, the run being trained, finished runs and the runs table."""
            return [
                model_tab.hub_line(),
                model_tab.local_choices(),
                *train_ui.attach(run_id, smoothing),
                compare_ui.refresh(None),
                *runs_ui.refresh_fn(),
            ]

        def restore_form() -> dict[Any, Any]:
            """Page (re)load: fill the form with the settings of the run shown (the running one, or the last one)."""
            snap = train_tab.snapshot_for(ctx, None)
            if snap is None:
                return {}
            try:
                config = ctx.store.read_config(snap.run_dir)
            except ValueError as exc:
                gr.Warning(f"The settings of run {snap.run_id} could not be restored: {exc}")
                return {}
            return form.updates(config.to_dict(), reset=True)

        # ---- cross-tab wiring -------------------------------------------------------------------
        task.change(
            on_task, [task, train_ui.method], [*data_ui.mapping.values(), *extras, train_ui.preset, train_ui.method],
            api_visibility="private",
        )
        example_btn.click(
            try_example, [task, model_ui.model], list(form.components()) + [train_ui.preset, example_note],
            api_name="try_example",
        ).success(
            _preview_after_example(mapping_order),
            [data_ui.source, task, *data_ui.mapping.values()],
            [data_ui.preview, data_ui.summary, *data_ui.mapping.values()],
            api_visibility="private",
        ).then(data_ui.auto_report, form.components(), data_ui.report_outputs, api_visibility="private")
        runs_ui.to_compare.click(to_compare, [runs_ui.pick], [compare_ui.run, tabs], api_visibility="private")
        train_page.select(
            train_tab.estimate_text, train_ui.estimate_inputs, [train_ui.estimate], api_visibility="private", show_progress="hidden",
        )
        compare_page.select(compare_ui.refresh, [compare_ui.run], [compare_ui.run], api_visibility="private")
        runs_page.select(
            runs_ui.refresh_fn, [runs_ui.pick, runs_ui.overlay_pick], runs_ui.refresh_outputs, api_visibility="private"
        )
        demo.load(
            on_load,
            [train_ui.watched, train_ui.smoothing],
            [
                model_ui.hub_line,
                model_ui.local,
                train_ui.watched, train_ui.plot, train_ui.progress, train_ui.log, train_ui.timer, train_ui.run_box,
                compare_ui.run,
                *runs_ui.refresh_outputs,
            ],
            api_visibility="private",
        )
        demo.load(restore_form, None, list(form.components()), api_visibility="private").then(
            _preview_after_example(mapping_order),
            [data_ui.source, task, *data_ui.mapping.values()],
            [data_ui.preview, data_ui.summary, *data_ui.mapping.values()],
            api_visibility="private",
        )
    demo.ft_context = ctx  # type: ignore[attr-defined]  # for tests and benchmarks
    return demo


def _preview_after_example(mapping_order: list[str]) -> Any:
    """A handler that previews the example's data with its column mapping (and says plainly why when it cannot)."""

    def preview(source: str, task_value: str, *columns: str) -> list[Any]:
        if not (source or "").strip():
            return [gr.skip()] * (2 + len(columns))
        chosen = DataConfig(**{name: (value or None) for name, value in zip(mapping_order, columns, strict=True)})
        try:
            return data_tab._preview(source, None, "train", task_value, chosen)
        except ValueError as exc:
            return [gr.skip(), f"**Problem:** {exc}", *([gr.skip()] * len(columns))]

    return preview
