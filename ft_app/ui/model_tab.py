"""Model tab: search the Hub, pick a model from the local cache, or type a local folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app.text import count_words
from ft_app.ui import words
from ft_app.ui.common import bind, field_label, page_event, task_words
from ft_app.ui.context import AppContext

RESULT_KEYS = ["model", "downloads", "likes", "parameters", "architecture", "license", "gated", "fits"]


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
    """One line saying whether the Hub can be searched.

    Returns: the Hub line (Markdown).
    """
    status = _catalog().hub_status()
    return words.HUB_ONLINE if status.reachable else words.HUB_OFFLINE.format(message=status.message)


def local_choices() -> gr.Dropdown:
    """The models already on this computer as dropdown choices, looked for again: the Hugging Face cache, the app
    home, the local root, and model folders that installed packages ship (only those this server lets visitors open).

    Returns: the local-models dropdown.
    """
    catalog = _catalog()
    catalog.forget_found_models()
    models = catalog.local_models()
    choices = [(words.LOCAL_MODEL_CHOICE.format(id=m.id, count=count_words(m.params, short=True)) if m.params else m.id, name)
               for m, name in models]
    info = words.LOCAL_MODELS_FOUND.format(n=len(models)) if models else words.LOCAL_MODELS_NONE
    return gr.Dropdown(choices=choices, value=None, info=info)


def describe_model(name: str, task: str) -> str:
    """Markdown about the chosen model: size, architecture, license, and which task/method fits."""
    name = (name or "").strip()
    if not name:
        return words.NO_MODEL_YET
    catalog = _catalog()
    if Path(name).expanduser().exists() or name.startswith(("/", "./", "~")):
        m = catalog.inspect_local_model(name)
        rows = [
            words.MODEL_LOCAL_TITLE.format(id=m.id, path=m.path),
            words.MODEL_ARCHITECTURE.format(architecture=m.architecture or m.model_type or words.UNKNOWN),
            words.MODEL_WEIGHTS.format(count=count_words(m.params, short=True)),
            words.MODEL_FITS.format(fits=catalog.fits_text(m.fits)),
        ]
        suggested = m.suggested_task
    else:
        card = catalog.model_details(name)
        row = card.as_row()
        rows = [
            words.MODEL_HUB_TITLE.format(id=card.id),
            words.MODEL_HUB_ARCHITECTURE.format(architecture=row["architecture"] or words.UNKNOWN,
                                                parameters=row["parameters"]),
            words.MODEL_HUB_LICENSE.format(license=row["license"] or words.NOT_STATED, gated=row["gated"],
                                           downloads=card.downloads or 0),
            words.MODEL_FITS.format(fits=row["fits"]),
        ]
        suggested = card.suggested_task
    if suggested and suggested != task:
        rows.append(words.MODEL_TASK_MISMATCH.format(suggested=task_words(suggested),
                                                     task=task_words(task)))
    return "\n".join(rows)


def search_models(text: str, task_value: str) -> Any:
    """Search the Hub for models fitting the task; offline says so in one line.

    Args: the search box, the task.
    Returns: the results table's rows.
    """
    cards = _catalog().search_models(text or "", task_value, limit=20)
    if not cards:
        gr.Info(words.NO_SEARCH_MATCH)
    return [[c.as_row()[k] for k in RESULT_KEYS] for c in cards]


def pick_result(evt: gr.SelectData, task_value: str) -> tuple[str, str]:
    """Use the clicked search result as the model.

    Args: the clicked row, the task.
    Returns: the model box, the model card.
    """
    row = evt.row_value or []
    name = str(row[0]) if row else ""
    return name, _safe_describe(name, task_value)


def pick_local(path: str | None, current: str, task_value: str) -> tuple[str, str]:
    """Use the picked cached model as the model.

    Args: the local-models dropdown, the model box, the task.
    Returns: the model box, the model card.
    """
    if not path:
        return current, gr.skip()
    return path, _safe_describe(path, task_value)


def check_model(ctx: AppContext, name: str, task_value: str) -> str:
    """Describe the chosen model, or say plainly what is wrong with it.

    Args: the model box, the task.
    Returns: the model card.
    """
    ctx.jobs.host.check_local_path(field_label("name_or_path"), name or "", ctx.uploads_dir)
    return describe_model(name, task_value)


def _safe_describe(name: str, task: str) -> str:
    """describe_model for a pick: a problem is shown in the card rather than as a popup."""
    try:
        return describe_model(name, task)
    except ValueError as exc:
        gr.Warning(str(exc))
        return words.MODEL_PROBLEM.format(name=name, problem=exc)


def build(ctx: AppContext, task: gr.Radio) -> ModelTab:
    """Lay out the Model tab and wire its events."""
    form = ctx.form
    gr.Markdown(words.MODEL_INTRO)
    status = gr.Markdown(words.HUB_CHECKING, elem_classes=["ft-hub-line"])
    with gr.Row(elem_classes=["ft-row"]):
        model = form.field("model", "name_or_path", **words.MODEL_BOX, scale=4, elem_id="model-box")
        check = gr.Button(words.CHECK_MODEL, scale=0, min_width=170)
    notice = gr.HTML("", elem_id="model-notice", elem_classes=["ft-note"])
    details = gr.Markdown(words.NO_MODEL_YET, elem_classes=["ft-card"], elem_id="model-details")
    with gr.Accordion(words.LOCAL_MODELS_BOX, open=True):
        with gr.Row(elem_classes=["ft-row"]):
            local = gr.Dropdown(label=words.LOCAL_MODELS, choices=[], scale=4, elem_id="local-models")
            refresh = gr.Button(words.REFRESH_LIST, scale=0, min_width=150)
        gr.Markdown(words.LOCAL_FOLDER_NOTE)
    with gr.Accordion(words.HUB_SEARCH_BOX, open=True):
        with gr.Row(elem_classes=["ft-row"]):
            query = gr.Textbox(**words.HUB_SEARCH, scale=4)
            search = gr.Button(words.SEARCH, scale=0, min_width=150)
        results = gr.Dataframe(headers=words.MODEL_RESULT_HEADERS, label=words.MODEL_RESULTS, interactive=False,
                               wrap=True)
    with gr.Accordion(words.ADVANCED_MODEL, open=False):
        with gr.Row():
            for name in ("revision", "dtype", "trust_remote_code"):
                form.field("model", name)
    with gr.Accordion(words.TOKEN_BOX, open=False):
        # Not part of the run form: sent with the Train/Resume click only, never saved in a run, a log or a config.
        token = gr.Textbox(value="", **words.TOKEN, type="password", elem_id="hf-token", max_lines=1)
    page_event(search.click, search_models, [query, task], [results], notice, api_name="search_models")
    page_event(query.submit, search_models, [query, task], [results], notice, concurrency_id="search_models")
    results.select(pick_result, [task], [model, details], api_visibility="private")
    local.input(pick_local, [local, model, task], [model, details], api_visibility="private")
    refresh.click(local_choices, None, [local], api_visibility="private")
    page_event(check.click, bind(check_model, ctx), [model, task], [details], notice, api_name="check_model")
    page_event(model.submit, bind(check_model, ctx), [model, task], [details], notice, concurrency_id="check_model")
    return ModelTab(model=model, hub_line=status, details=details, local=local, token=token)
