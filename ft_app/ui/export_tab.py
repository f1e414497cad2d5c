"""Export tab: take a finished run anywhere (zip, merged model, model card, Hub, demo Space, recipe at scale).

Every file is written into Gradio's own cache and handed out by returning it from a handler; the runs folder
itself is never served (it is in the server's blocked paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ft_app.ownership import Visitor
from ft_app.ui.common import METHOD_LABELS, STATUS_WORDS, TASK_SHORT, made_for, page_event, visitor
from ft_app.ui.context import AppContext

NO_RUN_MESSAGE = "No finished run yet: train a model in the Train tab first; when it has finished, pick it here."
PUBLISH_CHOICES = [("The result (the adapter, or the whole model)", "result"), ("The merged model", "merged"),
                   ("A before/after demo Space", "space")]
ZIP_CONTENTS = (
    "One file with everything: the model (or LoRA adapter) with its tokenizer, the label names, the run's "
    "`config.json`, `metrics.jsonl` and `eval.json`, the loss curve as a PNG, a model card (`README.md`) with a "
    "five-line usage snippet, a before/after demo app (`space/`) and the commands to run it again at scale "
    "(`recipe/`). It loads with plain `transformers`/`peft`, no Fine-Tune Studio needed."
)


@dataclass
class ExportTab:
    """The Export tab's widgets and handlers that other parts of the app use."""

    run: gr.Dropdown
    refresh: Any  # (current run id) -> the run dropdown with fresh choices, keeping the run shown
    follow: Any  # (run id opened elsewhere) -> the run dropdown showing that run


def run_choices(ctx: AppContext, current: str | None = None, *preferred: str | None,
                who: Visitor | None = None) -> gr.Dropdown:
    """Runs that saved a model (that the visitor may see); keeps `current`, else the first of `preferred` that
    exists, else the newest."""
    from ft_app.ui.compare_tab import finished_runs

    runs = finished_runs(ctx, who)
    ids = [s.run_id for s in runs]
    value = next((r for r in (current, *preferred) if r in ids), ids[0] if ids else None)
    choices = [(f"{s.run_id} · {STATUS_WORDS.get(s.status, s.status)} · {s.model}", s.run_id) for s in runs]
    return gr.Dropdown(choices=choices, value=value, info="Runs that finished (or were stopped) and saved a model.")


def build(ctx: AppContext, token: gr.Textbox) -> ExportTab:
    """Lay out the Export tab and wire its events; `token` is the per-run token field of the Model tab."""
    demo_server = ctx.jobs.host.demo
    gr.Markdown(
        "### Step 6 · Take it anywhere\n"
        "Download your fine-tuned model, merge a LoRA adapter into it, publish it to the Hugging Face Hub with a "
        "model card, get a before/after demo app, or the commands to train it again on bigger machines."
    )
    with gr.Row(elem_classes=["ft-row"]):
        run = gr.Dropdown(label="Run to export", choices=[], value=None, scale=4, elem_id="export-run",
                          allow_custom_value=True)
        refresh = gr.Button("Refresh list", scale=0, min_width=150)
    info = gr.Markdown(NO_RUN_MESSAGE, elem_classes=["ft-card"], elem_id="export-info")
    notice = gr.HTML("", elem_id="export-notice", elem_classes=["ft-note"])

    with gr.Accordion("Download everything (.zip)", open=True):
        gr.Markdown(ZIP_CONTENTS)
        with gr.Row(elem_classes=["ft-row"]):
            zip_btn = gr.Button("Make the zip", variant="primary", scale=0, min_width=200, elem_id="export-zip-btn")
            with_merged = gr.Checkbox(False, label="Include the merged model", visible=False,
                                      elem_id="export-with-merged")
        zip_note = gr.Markdown("", elem_id="export-zip-note")
        zip_file = gr.DownloadButton("Download the zip", value=None, visible=False, elem_id="export-zip-download")

    with gr.Accordion("Merge the LoRA adapter into the base model", open=False, visible=False) as merge_box:
        merge_plan = gr.Markdown("")
        merge_btn = gr.Button("Merge", visible=not demo_server, elem_id="export-merge-btn")
        if demo_server:
            gr.Markdown("Merging is switched off on this demo server.")
        merge_note = gr.Markdown("", elem_id="export-merge-note")

    with gr.Accordion("Model card", open=False):
        gr.Markdown("The card the Hub shows for the model: what it was trained for, on what data, every setting, the "
                    "before -> after numbers, the test prompts, the curve, how to use it and its limits.")
        card_btn = gr.Button("Write the model card", elem_id="export-card-btn")
        card_file = gr.DownloadButton("Download README.md", value=None, visible=False, elem_id="export-card-download")
        with gr.Row():
            card_meta = gr.Code(language="yaml", label="Hub metadata (front matter)", visible=False, interactive=False)
            card_curve = gr.Image(label="Loss curve (loss_curve.png)", visible=False, interactive=False)
        card_text = gr.Markdown("", elem_id="export-card")

    with gr.Accordion("Publish to the Hugging Face Hub", open=False):
        if demo_server:
            gr.Markdown("**Publishing is switched off on this demo server.** Download the zip instead.")
        gr.Markdown(
            "Uses the token from **1 · Model → Private or gated model?** (a token with *write* access), else the "
            "server's `HF_TOKEN`. It is used for this upload only and never saved."
        )
        with gr.Row(elem_classes=["ft-row"]):
            repo = gr.Textbox(label="Repo name", placeholder="empty: <your user>/<base model>-<run id>", scale=3,
                              elem_id="export-repo")
            private = gr.Checkbox(True, label="Private repo", scale=1, elem_id="export-private",
                                  info="Only you (and your organisation) can see it.")
        what = gr.Radio(PUBLISH_CHOICES, value="result", label="What to publish", elem_id="export-what")
        publish_btn = gr.Button("Publish", variant="primary", interactive=not demo_server,
                                elem_id="export-publish-btn")
        publish_note = gr.Markdown("", elem_id="export-publish-note")

    with gr.Accordion("Before/after demo app (a Gradio Space)", open=False):
        gr.Markdown(
            "A small app of its own: it loads the base model and your fine-tuned one and shows their answers side by "
            "side, on the run's test prompts and on any text. Upload the folder as a Hugging Face Space, or run it "
            "on your computer with `pip install gradio -r requirements.txt && python app.py`."
        )
        space_btn = gr.Button("Make the demo app (.zip)", elem_id="export-space-btn")
        space_file = gr.DownloadButton("Download the demo app", value=None, visible=False,
                                       elem_id="export-space-download")

    with gr.Accordion("Run it again, at scale", open=False):
        recipe_text = gr.Markdown("", elem_id="export-recipe")
        recipe_config = gr.Code(language="json", label="config.json", interactive=False)
        recipe_btn = gr.Button("Download config.json and the accelerate files (.zip)", elem_id="export-recipe-btn")
        recipe_file = gr.DownloadButton("Download the recipe", value=None, visible=False,
                                        elem_id="export-recipe-download")

    def run_dir(run_id: str | None, who: Visitor | None) -> Path:
        if not run_id:
            raise ValueError(NO_RUN_MESSAGE if not run_choices(ctx, who=who).choices else "Pick a run to export first.")
        return ctx.jobs.run_dir(run_id, who)  # refuses a run that does not exist, or that this visitor may not see

    def exportable(run_id: str | None, who: Visitor) -> Path:
        """The folder of a run whose files this visitor may take away (its owner or an admin, on a shared server)."""
        folder = run_dir(run_id, who)
        ctx.jobs.access.check_export(folder, who)
        return folder

    def on_run(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
               profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Describe the picked run and show what can be done with it."""
        hidden = gr.DownloadButton(value=None, visible=False)
        if not run_id:
            return [NO_RUN_MESSAGE, gr.Checkbox(visible=False), gr.Accordion(visible=False), "", "", "", "",
                    hidden, hidden, hidden, hidden, "", "", ""]
        from ft_app.export.merge import merge_plan as plan_for
        from ft_app.export.scale import run_recipe
        from ft_app.export.source import folder_size, human_size, load_export_run

        run = load_export_run(run_dir(run_id, visitor(owner_key, request, profile)))
        summary = ctx.store.summary(run_id)
        lines = [
            f"**{run.run_id}** · {TASK_SHORT.get(run.config.task, run.config.task)} · `{run.base_model}` · "
            f"{METHOD_LABELS.get(run.config.method, run.config.method)} · {STATUS_WORDS.get(summary.status, summary.status)}",
            f"- Result: `{run.result_dir.name}/`, {human_size(folder_size(run.result_dir))}"
            + (" (a LoRA adapter: it needs the base model to run)" if run.is_adapter else ""),
        ]
        if run.has_merged:
            lines.append(f"- Merged model: `merged/`, {human_size(folder_size(run.merged_dir))}")
        if run.results.summary:
            lines.append(f"- {run.results.summary}")
        recipe = run_recipe(run.run_dir)
        return [
            "\n".join(lines),
            gr.Checkbox(visible=run.has_merged, value=False),
            gr.Accordion(visible=run.is_adapter),
            plan_for(run),
            "",
            recipe.commands,
            recipe.config_json,
            hidden, hidden, hidden, hidden,
            "", "", "",
        ]

    def make_zip(run_id: str | None, merged: bool, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> tuple[Any, str]:
        """Zip the run's result and everything that explains it; offer it for download."""
        import time

        from ft_app.export.archive import build_zip
        from ft_app.export.source import human_size

        start = time.monotonic()
        who = visitor(owner_key, request, profile)
        folder = exportable(run_id, who)
        path = made_for(ctx, who, lambda out: build_zip(folder, out / f"{run_id}.zip", include_merged=bool(merged)))
        size = human_size(path.stat().st_size)
        note = f"Ready: `{path.name}`, {size}, made in {time.monotonic() - start:.1f} s."
        return gr.DownloadButton(f"Download {path.name} ({size})", value=str(path), visible=True), note

    def do_merge(run_id: str | None, hub_token: str, owner_key: str | None = None, request: gr.Request = None,
                 profile: gr.OAuthProfile | None = None) -> tuple[str, Any, str]:
        """Merge the adapter into the base weights (saved in the run as merged/)."""
        if demo_server:
            raise ValueError("This is a demo server: merging is switched off here. Download the zip instead.")
        from ft_app.export.merge import merge_lora
        from ft_app.hub_token import set_token

        who = visitor(owner_key, request, profile)
        folder = run_dir(run_id, who)
        ctx.jobs.access.check_manage(folder, who, "merge into")  # it writes merged/ into the run's folder
        reset = set_token(hub_token)  # a gated base model is loaded with this visitor's token, in this request only
        try:
            result = merge_lora(folder)
        finally:
            reset.var.reset(reset)
        return result.message, gr.Checkbox(visible=True), on_run(run_id, owner_key, request, profile)[0]

    def make_card(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                  profile: gr.OAuthProfile | None = None) -> tuple[Any, Any, Any, str]:
        """Write the model card and its curve; show them and offer README.md."""
        from ft_app.export.card import write_card

        who = visitor(owner_key, request, profile)
        folder = exportable(run_id, who)
        path = made_for(ctx, who, lambda out: write_card(folder, out, portable=True))
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---", 2)
        curve = path.parent / "loss_curve.png"
        return (
            gr.DownloadButton(value=str(path), visible=True),
            gr.Code(value=front.strip(), visible=True),
            gr.Image(value=str(curve) if curve.is_file() else None, visible=curve.is_file()),
            body.replace("![Train and eval loss by step](loss_curve.png)", "*(the picture above)*"),
        )

    def do_publish(run_id: str | None, repo_name: str, is_private: bool, choice: str, hub_token: str,
                   owner_key: str | None = None, request: gr.Request = None,
                   profile: gr.OAuthProfile | None = None) -> str:
        """Publish the result, the merged model or the demo Space to the Hub; return the link."""
        from ft_app.export.hub import HubUnreachableError, publish_model, publish_space

        who = visitor(owner_key, request, profile)
        folder = run_dir(run_id, who)
        ctx.jobs.access.check_publish(folder, who, token_given=bool((hub_token or "").strip()))
        try:
            if choice == "space":
                result = publish_space(folder, repo_name or None, token=hub_token, private=bool(is_private),
                                       host=ctx.jobs.host)
            else:
                result = publish_model(folder, repo_name or None, token=hub_token, private=bool(is_private),
                                       merged=choice == "merged", host=ctx.jobs.host)
        except HubUnreachableError as exc:
            raise ValueError(str(exc)) from exc  # shown like any refusal: nothing was changed on the Hub
        kind = "Space" if result.repo_type == "space" else "model repo"
        visibility = "private" if result.private else "public"
        note = f"\n\n{result.note}" if result.note else ""
        return (f"Published to the {visibility} {kind} **[{result.repo_id}]({result.url})** in one commit "
                f"({len(result.files)} files).{note}")

    def make_space(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                   profile: gr.OAuthProfile | None = None) -> Any:
        """Zip the before/after demo app with the model files in it."""
        from ft_app.export.archive import build_space_zip

        who = visitor(owner_key, request, profile)
        folder = exportable(run_id, who)
        path = made_for(ctx, who, lambda out: build_space_zip(folder, out / f"{run_id}-demo-space.zip"))
        return gr.DownloadButton(f"Download {path.name}", value=str(path), visible=True)

    def make_recipe(run_id: str | None, owner_key: str | None = None, request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None) -> Any:
        """Zip config.json, COMMANDS.md and the accelerate config files."""
        from ft_app.export.archive import build_recipe_zip

        who = visitor(owner_key, request, profile)
        folder = exportable(run_id, who)
        path = made_for(ctx, who, lambda out: build_recipe_zip(folder, out / f"{run_id}-recipe.zip"))
        return gr.DownloadButton(f"Download {path.name}", value=str(path), visible=True)

    on_run_outputs = [info, with_merged, merge_box, merge_plan, merge_note, recipe_text, recipe_config,
                      zip_file, card_file, space_file, recipe_file, zip_note, card_text, publish_note]
    def refresh_runs(current: str | None, owner_key: str | None = None, request: gr.Request = None,
                     profile: gr.OAuthProfile | None = None) -> gr.Dropdown:
        """The finished runs (that this visitor may see), keeping the one shown."""
        return run_choices(ctx, current, who=visitor(owner_key, request, profile))

    def follow(opened: str | None, owner_key: str | None = None, request: gr.Request = None,
               profile: gr.OAuthProfile | None = None) -> gr.Dropdown:
        """Show the run just opened in the Runs or Compare tab (when it saved a model)."""
        return run_choices(ctx, opened, who=visitor(owner_key, request, profile))

    owner = ctx.owner
    page_event(run.change, on_run, [run, owner], on_run_outputs, notice)
    refresh.click(refresh_runs, [run, owner], [run], api_name="export_runs")
    page_event(zip_btn.click, make_zip, [run, with_merged, owner], [zip_file, zip_note], notice, api_name="export_zip",
               concurrency_limit=1)
    page_event(merge_btn.click, do_merge, [run, token, owner], [merge_note, with_merged, info], notice,
               api_name="merge_lora", concurrency_limit=1)
    page_event(card_btn.click, make_card, [run, owner], [card_file, card_meta, card_curve, card_text], notice,
               api_name="model_card", concurrency_limit=1)
    page_event(publish_btn.click, do_publish, [run, repo, private, what, token, owner], [publish_note], notice,
               api_name="publish_to_hub", concurrency_limit=1)
    page_event(space_btn.click, make_space, [run, owner], [space_file], notice, api_name="demo_space",
               concurrency_limit=1)
    page_event(recipe_btn.click, make_recipe, [run, owner], [recipe_file], notice, api_name="recipe_zip",
               concurrency_limit=1)

    return ExportTab(run=run, refresh=refresh_runs, follow=follow)
