"""Model tab: search the Hub, pick a model from the local cache, or type a local folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app.ui.common import TASK_SHORT, fmt_count, page_event
from ft_app.ui.context import AppContext

RESULT_COLUMNS = ["model", "downloads", "likes", "parameters", "architecture", "license", "gated", "fits"]


@dataclass
class ModelTab:
    """The Model tab's widgets that other parts of the app use."""

    model: gr.Textbox
    hub_line: gr.Markdown
    details: gr.Markdown
    local: gr.Dropdown
    token: gr.Textbox


def _catalog() -> Any:
    """The catalog module (imported on first use; it pulls in huggingface_hub)."""
    from ft_app import catalog

    return catalog


def hub_line() -> str:
    """One line saying whether the Hub can be searched."""
    status = _catalog().hub_status()
    if status.reachable:
        return "**Online:** the Hugging Face Hub is reachable: search it below."
    return f"**Offline:** {status.message} Use a model folder on this computer or one already downloaded (below)."


def local_choices() -> gr.Dropdown:
    """The models already on this computer (Hugging Face cache) as dropdown choices."""
    models = _catalog().cached_model_names()
    choices = [(f"{m.id} ({fmt_count(m.params)} weights)" if m.params else m.id, name) for m, name in models]
    info = f"{len(models)} model(s) found in the local Hugging Face cache." if models else "No models in the local cache yet."
    return gr.Dropdown(choices=choices, value=None, info=info)


def describe_model(name: str, task: str) -> str:
    """Markdown about the chosen model: size, architecture, license, and which task/method fits."""
    name = (name or "").strip()
    if not name:
        return "No model chosen yet."
    catalog = _catalog()
    if Path(name).expanduser().exists() or name.startswith(("/", "./", "~")):
        m = catalog.inspect_local_model(name)
        rows = [
            f"**{m.id}** (folder on this computer: `{m.path}`)",
            f"- Architecture: {m.architecture or m.model_type or 'unknown'}",
            f"- Weights: {fmt_count(m.params)}",
            f"- Fits: {catalog.fits_text(m.fits)}",
        ]
        suggested = m.suggested_task
    else:
        card = catalog.model_details(name)
        row = card.as_row()
        rows = [
            f"**{card.id}** (Hugging Face Hub)",
            f"- Architecture: {row['architecture'] or 'unknown'} · weights: {row['parameters']}",
            f"- License: {row['license'] or 'not stated'} · gated: {row['gated']} · downloads: {card.downloads or 0:,}",
            f"- Fits: {row['fits']}",
        ]
        suggested = card.suggested_task
    if suggested and suggested != task:
        rows.append(
            f"\n**Check the task:** this model is usually used for **{TASK_SHORT.get(suggested, suggested)}**, and the task chosen at the top "
            f"is **{TASK_SHORT.get(task, task)}**. Switch the task or pick another model."
        )
    return "\n".join(rows)


def build(ctx: AppContext, task: gr.Radio) -> ModelTab:
    """Lay out the Model tab and wire its events."""
    gr.Markdown(
        "### Step 1 · Pick the model to start from\n"
        "Type a Hugging Face model id or a folder on this computer, or pick one from the search or the list below."
    )
    status = gr.Markdown("Checking whether the Hugging Face Hub is reachable…", elem_classes=["ft-hub-line"])
    with gr.Row(elem_classes=["ft-row"]):
        model = ctx.form.field(
            "model",
            "name_or_path",
            label="Model to fine-tune",
            placeholder="e.g. distilbert-base-uncased, or /path/to/a/model/folder",
            scale=4,
            elem_id="model-box",
        )
        check = gr.Button("Check this model", scale=0, min_width=170)
    notice = gr.HTML("", elem_id="model-notice", elem_classes=["ft-note"])
    details = gr.Markdown("No model chosen yet.", elem_classes=["ft-card"], elem_id="model-details")
    with gr.Accordion("Models already on this computer", open=True):
        with gr.Row(elem_classes=["ft-row"]):
            local = gr.Dropdown(label="Downloaded models (Hugging Face cache)", choices=[], scale=4, elem_id="local-models")
            refresh = gr.Button("Refresh list", scale=0, min_width=150)
        gr.Markdown("A model folder saved with `save_pretrained` works too: type its path in the box above.")
    with gr.Accordion("Search the Hugging Face Hub", open=True):
        with gr.Row(elem_classes=["ft-row"]):
            query = gr.Textbox(label="Search", placeholder="e.g. bert, sentiment, smollm, flan-t5", scale=4)
            search = gr.Button("Search", scale=0, min_width=150)
        results = gr.Dataframe(
            headers=RESULT_COLUMNS, label="Results (most downloaded first; click a row to use it)", interactive=False, wrap=True
        )
    with gr.Accordion("Advanced model options", open=False):
        with gr.Row():
            ctx.form.field("model", "revision")
            ctx.form.field("model", "dtype")
            ctx.form.field("model", "trust_remote_code")
    with gr.Accordion("Private or gated model? Your Hugging Face token", open=False):
        # Not part of the run form: sent with the Train/Resume click only, never saved in a run, a log or a config.
        token = gr.Textbox(
            value="",
            label="Hugging Face token (optional)",
            type="password",
            placeholder="hf_…",
            info="Only needed for gated models (e.g. Llama) or private ones. Used for this run's downloads and never "
                 "saved: not in the run folder, its log or its config file. Create one at huggingface.co/settings/tokens.",
            elem_id="hf-token",
            max_lines=1,
        )

    def do_search(text: str, task_value: str) -> Any:
        """Search the Hub for models fitting the task; offline says so in one line."""
        cards = _catalog().search_models(text or "", task_value, limit=20)
        if not cards:
            gr.Info("No models matched. Try a shorter search word.")
        return [[c.as_row()[k] for k in RESULT_COLUMNS] for c in cards]

    def pick_result(evt: gr.SelectData, task_value: str) -> tuple[str, str]:
        """Use the clicked search result as the model."""
        row = evt.row_value or []
        name = str(row[0]) if row else ""
        return name, _safe_describe(name, task_value)

    def pick_local(path: str | None, current: str, task_value: str) -> tuple[str, str]:
        """Use the picked cached model as the model."""
        if not path:
            return current, gr.skip()
        return path, _safe_describe(path, task_value)

    def check_model(name: str, task_value: str) -> str:
        """Describe the chosen model, or say plainly what is wrong with it."""
        ctx.jobs.host.check_local_path("Model", name or "", ctx.uploads_dir)
        return describe_model(name, task_value)

    page_event(search.click, do_search, [query, task], [results], notice, api_name="search_models")
    page_event(query.submit, do_search, [query, task], [results], notice, concurrency_id="search_models")
    results.select(pick_result, [task], [model, details], api_visibility="private")
    local.input(pick_local, [local, model, task], [model, details], api_visibility="private")
    refresh.click(local_choices, None, [local], api_visibility="private")
    page_event(check.click, check_model, [model, task], [details], notice, api_name="check_model")
    page_event(model.submit, check_model, [model, task], [details], notice, concurrency_id="check_model")
    return ModelTab(model=model, hub_line=status, details=details, local=local, token=token)


def _safe_describe(name: str, task: str) -> str:
    """describe_model for a pick: a problem is shown in the card rather than as a popup."""
    try:
        return describe_model(name, task)
    except ValueError as exc:
        gr.Warning(str(exc))
        return f"**{name}**\n\n**Problem:** {exc}"

