"""Export tab: take a finished run anywhere (zip, merged model, model card, Hub, demo Space, recipe at scale).

Every file is written into Gradio's own cache and handed out by returning it from a handler; the runs folder
itself is never served (it is in the server's blocked paths).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app.ownership import Visitor
from ft_app.ui import words
from ft_app.ui.common import bind, made_for, method_label, page_event, task_words, visitor
from ft_app.ui.context import AppContext


@dataclass
class ExportTab:
    """The Export tab's widgets that other parts of the app use."""

    run: gr.Dropdown


def run_choices(ctx: AppContext, current: str | None = None, *preferred: str | None,
                who: Visitor | None = None) -> gr.Dropdown:
    """Runs that saved a model (that the visitor may see); keeps `current`, else the first of `preferred` that
    exists, else the newest."""
    from ft_app.ui.compare_tab import finished_runs

    runs = finished_runs(ctx, who)
    ids = [s.run_id for s in runs]
    value = next((r for r in (current, *preferred) if r in ids), ids[0] if ids else None)
    choices = [(words.RUN_CHOICE.format(run_id=s.run_id, status=words.STATUS_WORDS.get(s.status, s.status),
                                        model=s.model), s.run_id) for s in runs]
    return gr.Dropdown(choices=choices, value=value, info=words.FINISHED_RUNS)


def refresh_runs(ctx: AppContext, current: str | None, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> gr.Dropdown:
    """The finished runs (that this visitor may see), keeping the one shown.

    Args: the run dropdown, the visitor's owner key.
    Returns: the run dropdown.
    """
    return run_choices(ctx, current, who=visitor(owner_key, request, profile))


def follow(ctx: AppContext, opened: str | None, owner_key: str | None = None, request: gr.Request = None,
           profile: gr.OAuthProfile | None = None) -> gr.Dropdown:
    """Show the run just opened in the Runs or Compare tab (when it saved a model).

    Args: the run opened there, the visitor's owner key.
    Returns: the run dropdown.
    """
    return run_choices(ctx, opened, who=visitor(owner_key, request, profile))


def _run_dir(ctx: AppContext, run_id: str | None, who: Visitor | None) -> Path:
    if not run_id:
        raise ValueError(words.NO_RUN_TO_EXPORT if not run_choices(ctx, who=who).choices else words.PICK_RUN_TO_EXPORT)
    return ctx.jobs.run_dir(run_id, who)  # refuses a run that does not exist, or that this visitor may not see


def _exportable(ctx: AppContext, run_id: str | None, who: Visitor) -> Path:
    """The folder of a run whose files this visitor may take away (its owner or an admin, on a shared server)."""
    folder = _run_dir(ctx, run_id, who)
    ctx.jobs.access.check_export(folder, who)
    return folder


def describe_run(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Describe the picked run and show what can be done with it.

    Args: the run dropdown, the visitor's owner key.
    Returns: the run card, what each export section shows, the downloads hidden.
    """
    hidden = gr.DownloadButton(value=None, visible=False)
    if not run_id:
        return [words.NO_RUN_TO_EXPORT, gr.Checkbox(visible=False), gr.Accordion(visible=False), "", "", "", "",
                hidden, hidden, hidden, hidden, "", "", ""]
    from ft_app.export.merge import merge_plan as plan_for
    from ft_app.export.scale import run_recipe
    from ft_app.export.source import folder_size, human_size, load_export_run

    run = load_export_run(_run_dir(ctx, run_id, visitor(owner_key, request, profile)))
    summary = ctx.store.summary(run_id)
    lines = [
        words.RUN_CARD.format(run_id=run.run_id, task=task_words(run.config.task),
                              model=run.base_model, method=method_label(run.config.method),
                              status=words.STATUS_WORDS.get(summary.status, summary.status)),
        words.EXPORT_RESULT.format(name=run.result_dir.name, size=human_size(folder_size(run.result_dir)))
        + (words.ADAPTER_NOTE if run.is_adapter else ""),
    ]
    if run.has_merged:
        lines.append(words.EXPORT_MERGED.format(size=human_size(folder_size(run.merged_dir))))
    if run.results.summary:
        lines.append(f"- {run.results.summary}")
    recipe = run_recipe(run.run_dir)
    return ["\n".join(lines), gr.Checkbox(visible=run.has_merged, value=False), gr.Accordion(visible=run.is_adapter),
            plan_for(run), "", recipe.commands, recipe.config_json, hidden, hidden, hidden, hidden, "", "", ""]


def make_zip(ctx: AppContext, run_id: str | None, merged: bool, owner_key: str | None = None,
             request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[Any, str]:
    """Zip the run's result and everything that explains it; offer it for download.

    Args: the run dropdown, "include the merged model", the visitor's owner key.
    Returns: the zip's download button, the note (size, time taken).
    """
    from ft_app.export.archive import build_zip
    from ft_app.export.source import human_size

    start = time.monotonic()
    who = visitor(owner_key, request, profile)
    folder = _exportable(ctx, run_id, who)
    path = made_for(ctx, who, lambda out: build_zip(folder, out / f"{run_id}.zip", include_merged=bool(merged)))
    size = human_size(path.stat().st_size)
    note = words.ZIP_READY.format(name=path.name, size=size, seconds=time.monotonic() - start)
    return gr.DownloadButton(words.DOWNLOAD_SIZED.format(name=path.name, size=size), value=str(path),
                             visible=True), note


def merge_adapter(ctx: AppContext, run_id: str | None, hub_token: str, owner_key: str | None = None,
                  request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[str, Any, str]:
    """Merge the adapter into the base weights (saved in the run as merged/).

    Args: the run dropdown, the token box, the visitor's owner key.
    Returns: the merge note, "include the merged model" (shown), the run card.
    """
    if ctx.jobs.host.demo:
        raise ValueError(words.DEMO_NO_MERGE)
    from ft_app.export.merge import merge_lora
    from ft_app.hub_token import set_token

    who = visitor(owner_key, request, profile)
    folder = _run_dir(ctx, run_id, who)
    ctx.jobs.access.check_manage(folder, who, "merge into")  # it writes merged/ into the run's folder
    reset = set_token(hub_token)  # a gated base model is loaded with this visitor's token, in this request only
    try:
        result = merge_lora(folder)
    finally:
        reset.var.reset(reset)
    return result.message, gr.Checkbox(visible=True), describe_run(ctx, run_id, owner_key, request, profile)[0]


def make_card(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
              profile: gr.OAuthProfile | None = None) -> tuple[Any, Any, Any, str]:
    """Write the model card and its curve; show them and offer README.md.

    Args: the run dropdown, the visitor's owner key.
    Returns: README.md's download button, the Hub metadata, the loss curve, the card's text.
    """
    from ft_app.export.card import write_card

    who = visitor(owner_key, request, profile)
    folder = _exportable(ctx, run_id, who)
    path = made_for(ctx, who, lambda out: write_card(folder, out, portable=True))
    _, front, body = path.read_text(encoding="utf-8").split("---", 2)
    curve = path.parent / "loss_curve.png"
    return (
        gr.DownloadButton(value=str(path), visible=True),
        gr.Code(value=front.strip(), visible=True),
        gr.Image(value=str(curve) if curve.is_file() else None, visible=curve.is_file()),
        body.replace("![Train and eval loss by step](loss_curve.png)", words.CARD_PICTURE),
    )


def publish(ctx: AppContext, run_id: str | None, repo_name: str, is_private: bool, choice: str, hub_token: str,
            owner_key: str | None = None, request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> str:
    """Publish the result, the merged model or the demo Space to the Hub; return the link.

    Args: the run dropdown, the repo name, "private repo", what to publish, the token box, the visitor's owner key.
    Returns: the publish note (the link).
    """
    from ft_app.export.hub import publish_model, publish_space

    who = visitor(owner_key, request, profile)
    folder = _run_dir(ctx, run_id, who)
    ctx.jobs.access.check_publish(folder, who, token_given=bool((hub_token or "").strip()))
    options = {"token": hub_token, "private": bool(is_private), "host": ctx.jobs.host}
    # A Hub that cannot be reached is a HubError (a ValueError): shown like any refusal, nothing changed there.
    if choice == "space":
        result = publish_space(folder, repo_name or None, **options)
    else:
        result = publish_model(folder, repo_name or None, merged=choice == "merged", **options)
    return words.PUBLISHED.format(
        visibility=words.PRIVATE if result.private else words.PUBLIC,
        kind=words.SPACE_REPO if result.repo_type == "space" else words.MODEL_REPO, repo_id=result.repo_id,
        url=result.url, n=len(result.files), note=f"\n\n{result.note}" if result.note else "")


def publish_on_page(ctx: AppContext, run_id: str | None, repo_name: str, is_private: bool, choice: str,
                    hub_token: str, owner_key: str | None = None, request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None) -> str:
    """The Publish button: publish, and keep a failure in the publish box, whole and in words, until the next try
    (a toast vanished, and cut a long message off mid-address). API clients call `publish`, which raises.

    Args: the run dropdown, the repo name, "private repo", what to publish, the token box, the visitor's owner key.
    Returns: the publish note (the link, or why nothing was published).
    """
    from ft_app.hub_token import redact

    try:
        return publish(ctx, run_id, repo_name, is_private, choice, hub_token, owner_key, request, profile)
    except ValueError as exc:  # a refusal or a Hub failure: one plain sentence (ft_app/hub.py), the token masked
        return words.PUBLISH_FAILED.format(message=redact(str(exc)))


def make_space(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
               profile: gr.OAuthProfile | None = None) -> Any:
    """Zip the before/after demo app with the model files in it.

    Args: the run dropdown, the visitor's owner key.
    Returns: the demo app's download button.
    """
    from ft_app.export.archive import build_space_zip

    who = visitor(owner_key, request, profile)
    folder = _exportable(ctx, run_id, who)
    path = made_for(ctx, who, lambda out: build_space_zip(folder, out / f"{run_id}-demo-space.zip"))
    return gr.DownloadButton(words.DOWNLOAD.format(name=path.name), value=str(path), visible=True)


def make_recipe(ctx: AppContext, run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> Any:
    """Zip config.json, COMMANDS.md and the accelerate config files.

    Args: the run dropdown, the visitor's owner key.
    Returns: the recipe's download button.
    """
    from ft_app.export.archive import build_recipe_zip

    who = visitor(owner_key, request, profile)
    folder = _exportable(ctx, run_id, who)
    path = made_for(ctx, who, lambda out: build_recipe_zip(folder, out / f"{run_id}-recipe.zip"))
    return gr.DownloadButton(words.DOWNLOAD.format(name=path.name), value=str(path), visible=True)


def make_gguf(ctx: AppContext, run_id: str | None, quant: str, owner_key: str | None = None,
              request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> tuple[Any, Any, str]:
    """Write the run as one .gguf file and an Ollama Modelfile (a LoRA run is merged first); offer both.

    Args: the run dropdown, the quantization, the visitor's owner key.
    Returns: the .gguf's download button, the Modelfile's download button, the note.
    """
    from ft_app.export.gguf import export_gguf

    if ctx.jobs.host.demo:
        raise ValueError(words.GGUF_DEMO_OFF)
    who = visitor(owner_key, request, profile)
    folder = _exportable(ctx, run_id, who)
    made: list[Any] = []
    made_for(ctx, who, lambda out: made.append(export_gguf(folder, quant=quant, out_dir=out)) or out)
    result = made[0]
    return (gr.DownloadButton(words.DOWNLOAD.format(name=result.path.name), value=str(result.path), visible=True),
            gr.DownloadButton(words.MODELFILE_DOWNLOAD, value=str(result.modelfile), visible=True), result.message)


def gguf_note(ctx: AppContext, run_id: str | None) -> str:
    """Why GGUF is not for this run (a classifier, an architecture llama.cpp does not run), else its intro."""
    from ft_app.export.gguf import gguf_blocker

    return gguf_blocker(ctx.store.path(run_id)) or words.GGUF_INTRO if run_id else words.GGUF_INTRO


def _gguf_section(ctx: AppContext, run: gr.Dropdown, notice: gr.HTML) -> list[Any]:
    """GGUF for llama.cpp and Ollama; returns its note, its two downloads."""
    from ft_app.export.gguf import DEFAULT_QUANT, QUANT_WORDS

    with gr.Accordion(words.GGUF_BOX, open=False):
        note = gr.Markdown(words.GGUF_INTRO, elem_id="export-gguf-note")
        quant = gr.Radio([(f"{q}: {w}", q) for q, w in QUANT_WORDS.items()], value=DEFAULT_QUANT,
                         label=words.GGUF_QUANT, elem_id="export-gguf-quant")
        gguf_btn = gr.Button(words.MAKE_GGUF, elem_id="export-gguf-btn", interactive=not ctx.jobs.host.demo)
        with gr.Row():
            gguf_file = gr.DownloadButton(words.GGUF_DOWNLOAD, value=None, visible=False, elem_id="export-gguf-download")
            modelfile = gr.DownloadButton(words.MODELFILE_DOWNLOAD, value=None, visible=False,
                                          elem_id="export-modelfile-download")
    page_event(gguf_btn.click, bind(make_gguf, ctx), [run, quant, ctx.owner], [gguf_file, modelfile, note], notice,
               api_name="export_gguf", concurrency_limit=1)
    return [note, gguf_file, modelfile]


def _zip_section(ctx: AppContext, run: gr.Dropdown, notice: gr.HTML) -> list[Any]:
    """Download everything (.zip); returns "include the merged model", the zip's note and its download button."""
    with gr.Accordion(words.ZIP_BOX, open=True):
        gr.Markdown(words.ZIP_CONTENTS)
        with gr.Row(elem_classes=["ft-row"]):
            zip_btn = gr.Button(words.MAKE_ZIP, variant="primary", scale=0, min_width=200, elem_id="export-zip-btn")
            with_merged = gr.Checkbox(False, label=words.WITH_MERGED, visible=False, elem_id="export-with-merged")
        zip_note = gr.Markdown("", elem_id="export-zip-note")
        zip_file = gr.DownloadButton(words.ZIP_DOWNLOAD, value=None, visible=False, elem_id="export-zip-download")
    page_event(zip_btn.click, bind(make_zip, ctx), [run, with_merged, ctx.owner], [zip_file, zip_note], notice,
               api_name="export_zip", concurrency_limit=1)
    return [with_merged, zip_note, zip_file]


def _merge_section(ctx: AppContext, run: gr.Dropdown, token: gr.Textbox, notice: gr.HTML, info: gr.Markdown,
                   with_merged: gr.Checkbox) -> list[Any]:
    """Merge the LoRA adapter (shown for adapter runs); returns the box, the plan and the note."""
    demo_server = ctx.jobs.host.demo
    with gr.Accordion(words.MERGE_BOX, open=False, visible=False) as merge_box:
        merge_plan = gr.Markdown("")
        merge_btn = gr.Button(words.MERGE, visible=not demo_server, elem_id="export-merge-btn")
        if demo_server:
            gr.Markdown(words.MERGE_OFF)
        merge_note = gr.Markdown("", elem_id="export-merge-note")
    page_event(merge_btn.click, bind(merge_adapter, ctx), [run, token, ctx.owner], [merge_note, with_merged, info],
               notice, api_name="merge_lora", concurrency_limit=1)
    return [merge_box, merge_plan, merge_note]


def _card_section(ctx: AppContext, run: gr.Dropdown, notice: gr.HTML) -> list[Any]:
    """The model card; returns its download button and its text."""
    with gr.Accordion(words.CARD_BOX, open=False):
        gr.Markdown(words.CARD_INTRO)
        card_btn = gr.Button(words.WRITE_CARD, elem_id="export-card-btn")
        card_file = gr.DownloadButton(words.CARD_DOWNLOAD, value=None, visible=False, elem_id="export-card-download")
        with gr.Row():
            card_meta = gr.Code(language="yaml", label=words.CARD_META, visible=False, interactive=False)
            card_curve = gr.Image(label=words.CARD_CURVE, visible=False, interactive=False)
        card_text = gr.Markdown("", elem_id="export-card")
    page_event(card_btn.click, bind(make_card, ctx), [run, ctx.owner], [card_file, card_meta, card_curve, card_text],
               notice, api_name="model_card", concurrency_limit=1)
    return [card_file, card_text]


def _publish_section(ctx: AppContext, run: gr.Dropdown, token: gr.Textbox, notice: gr.HTML) -> gr.Markdown:
    """Publish to the Hub; returns the publish note."""
    demo_server = ctx.jobs.host.demo
    with gr.Accordion(words.PUBLISH_BOX, open=False):
        if demo_server:
            gr.Markdown(words.PUBLISH_OFF)
        gr.Markdown(words.PUBLISH_TOKEN_NOTE)
        with gr.Row(elem_classes=["ft-row"]):
            repo = gr.Textbox(**words.REPO, scale=3, elem_id="export-repo")
            private = gr.Checkbox(True, **words.PRIVATE_REPO, scale=1, elem_id="export-private")
        what = gr.Radio(words.PUBLISH_CHOICES, value="result", label=words.PUBLISH_WHAT, elem_id="export-what")
        publish_btn = gr.Button(words.PUBLISH, variant="primary", interactive=not demo_server,
                                elem_id="export-publish-btn")
        publish_note = gr.Markdown("", elem_id="export-publish-note")
    page_event(publish_btn.click, bind(publish_on_page, ctx), [run, repo, private, what, token, ctx.owner],
               [publish_note], notice, api_name="publish_to_hub", api_fn=bind(publish, ctx), concurrency_limit=1)
    return publish_note


def _space_and_recipe_sections(ctx: AppContext, run: gr.Dropdown, notice: gr.HTML) -> list[Any]:
    """The demo Space and the recipe at scale; returns the Space's download, the recipe's text, config and download."""
    with gr.Accordion(words.SPACE_BOX, open=False):
        gr.Markdown(words.SPACE_INTRO)
        space_btn = gr.Button(words.MAKE_SPACE, elem_id="export-space-btn")
        space_file = gr.DownloadButton(words.SPACE_DOWNLOAD, value=None, visible=False, elem_id="export-space-download")
    with gr.Accordion(words.RECIPE_BOX, open=False):
        recipe_text = gr.Markdown("", elem_id="export-recipe")
        recipe_config = gr.Code(language="json", label="config.json", interactive=False)
        recipe_btn = gr.Button(words.MAKE_RECIPE, elem_id="export-recipe-btn")
        recipe_file = gr.DownloadButton(words.RECIPE_DOWNLOAD, value=None, visible=False,
                                        elem_id="export-recipe-download")
    page_event(space_btn.click, bind(make_space, ctx), [run, ctx.owner], [space_file], notice, api_name="demo_space",
               concurrency_limit=1)
    page_event(recipe_btn.click, bind(make_recipe, ctx), [run, ctx.owner], [recipe_file], notice,
               api_name="recipe_zip", concurrency_limit=1)
    return [space_file, recipe_text, recipe_config, recipe_file]


def build(ctx: AppContext, token: gr.Textbox) -> ExportTab:
    """Lay out the Export tab and wire its events; `token` is the per-run token field of the Model tab."""
    gr.Markdown(words.EXPORT_INTRO)
    with gr.Row(elem_classes=["ft-row"]):
        run = gr.Dropdown(label=words.EXPORT_RUN, choices=[], value=None, scale=4, elem_id="export-run",
                          allow_custom_value=True)
        refresh = gr.Button(words.REFRESH_LIST, scale=0, min_width=150)
    info = gr.Markdown(words.NO_RUN_TO_EXPORT, elem_classes=["ft-card"], elem_id="export-info")
    notice = gr.HTML("", elem_id="export-notice", elem_classes=["ft-note"])
    with_merged, zip_note, zip_file = _zip_section(ctx, run, notice)
    merge_box, merge_plan, merge_note = _merge_section(ctx, run, token, notice, info, with_merged)
    card_file, card_text = _card_section(ctx, run, notice)
    publish_note = _publish_section(ctx, run, token, notice)
    gguf_note_box, gguf_file, modelfile = _gguf_section(ctx, run, notice)
    space_file, recipe_text, recipe_config, recipe_file = _space_and_recipe_sections(ctx, run, notice)
    page_event(run.change, bind(describe_run, ctx), [run, ctx.owner],
               [info, with_merged, merge_box, merge_plan, merge_note, recipe_text, recipe_config, zip_file, card_file,
                space_file, recipe_file, zip_note, card_text, publish_note], notice)
    run.change(bind(gguf_note, ctx), [run], [gguf_note_box], api_visibility="private")
    run.change(lambda: (gr.DownloadButton(visible=False), gr.DownloadButton(visible=False)), None,
               [gguf_file, modelfile], api_visibility="private")
    refresh.click(bind(refresh_runs, ctx), [run, ctx.owner], [run], api_name="export_runs")
    return ExportTab(run=run)
