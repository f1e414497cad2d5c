"""Data tab: upload a file or name a Hub dataset, check the preview, the column mapping and the report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.config import DataConfig
from ft_app.data import ColumnMapping
from ft_app.ownership import Visitor
from ft_app.tasks import TASK_NAMES, TaskSpec, get_task
from ft_app.text import plain_list
from ft_app.ui import words
from ft_app.ui.common import bind, dropdown_value, field_label, page_event, shorten, visitor
from ft_app.ui.context import AppContext
from ft_app.ui.form import config_field

PREVIEW_ROWS = 20
# One dropdown per column role a task can read (data.ColumnMapping's parts), each a DataConfig field.
MAPPING_FIELDS: tuple[str, ...] = tuple(f"{part.name}_column" for part in dataclasses.fields(ColumnMapping))


def shown_mapping(task: str) -> set[str]:
    """The mapping dropdowns (DataConfig fields) a task shows: the column roles it reads."""
    return {f"{part}_column" for part in get_task(task).mapping_parts}


AUTO = (words.AUTO_COLUMN, "")
REPORT_SLOTS = 4  # the report text, the label-balance plot, the length plot, the rendered example


@dataclass
class DataTab:
    """The Data tab's widgets that other parts of the app use."""

    source: gr.Textbox
    upload: gr.File
    mapping: dict[str, gr.Dropdown]
    preview: gr.Dataframe
    summary: gr.Markdown
    notice: gr.HTML
    # Widgets only some tasks show, each with the fact of the task that shows it.
    task_only: list[tuple[gr.components.Component, Callable[[TaskSpec], bool]]]
    report_outputs: list[gr.components.Component]  # the report text, label balance, token lengths, example


def _data() -> Any:
    from ft_app import data

    return data


def preview_table(
    source: str, dataset_config: str | None, split: str | None, task: str, chosen: DataConfig | None = None
) -> list[Any]:
    """Load a table and turn it into the preview, the summary and the mapping dropdowns (chosen columns kept)."""
    data = _data()
    table = data.load_table(source, dataset_config=dataset_config, split=split or "train")
    columns = list(table.column_names)
    try:
        mapping = data.detect_columns(columns, task, chosen or DataConfig())
        pairs = [words.DETECTED_PAIR.format(part=part, column=col) for part, col in vars(mapping).items() if col]
        note = words.DETECTED.format(pairs=", ".join(pairs))
    except ValueError as exc:
        mapping = None
        gr.Warning(str(exc))
        note = words.CHOOSE_COLUMNS.format(error=exc)
    from ft_app.data_report import preview

    head = preview(table, PREVIEW_ROWS)
    shown = plain_list([f"`{c}`" for c in columns], data.COLUMN_LIMIT)  # a wide table must not fill the screen
    summary = words.DATA_SUMMARY.format(rows=len(table), unit=words.ROWS if len(table) != 1 else words.ROW,
                                        columns=shown, note=note)
    choices = [AUTO] + [(c, c) for c in columns]
    updates = []
    for name in MAPPING_FIELDS:
        value = getattr(mapping, name.removesuffix("_column"), None) if mapping else None
        updates.append(gr.Dropdown(choices=choices, value=value or ""))
    return [head, summary, *updates]


def _hub_pickers(source: str, config_name: str | None, split_name: str | None) -> tuple[list[Any], str | None, str]:
    """Configuration and split pickers for a Hub dataset (none for a local file), and the chosen pair."""
    if _data().looks_like_path(source):
        return [gr.Dropdown(choices=[], value=""), gr.Dropdown(choices=["train"], value="train")], None, "train"
    from ft_app import catalog

    configs = catalog.dataset_configs(source)
    chosen = config_name if config_name in configs else (configs[0] if configs else None)
    splits = catalog.dataset_splits(source, chosen)
    split = split_name if split_name in splits else ("train" if "train" in splits or not splits else splits[0])
    return [gr.Dropdown(choices=configs, value=chosen or ""), gr.Dropdown(choices=splits, value=split)], chosen, split


def upload_data(ctx: AppContext, file: str | None, task_value: str, owner_key: str | None = None,
                request: gr.Request = None, profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Check an uploaded file is a table, keep it (named uploads/<name>, never by its server path; it is the
    visitor's), preview it.

    Args: the uploaded file, the task, the visitor's owner key.
    Returns: the training-data box, the configuration and split pickers, the preview, the summary, the mapping.
    """
    if not file:
        return [gr.skip()] * (4 + len(MAPPING_FIELDS))
    from ft_app.uploads import check_uploads_allowed, keep_upload, upload_name

    check_uploads_allowed(ctx.jobs.host)  # before the file is even read
    rows = preview_table(file, None, "train", task_value)  # refuses a non-table before anything changes
    kept = keep_upload(ctx.uploads_dir, file, ctx.jobs.host, visitor(owner_key, request, profile))
    return [upload_name(kept), gr.Dropdown(choices=[], value=""), gr.Dropdown(choices=["train"], value="train"), *rows]


def clear_refused_upload(notice_value: str) -> Any:
    """After an upload: a refused file does not stay in the box (the notice says why it was refused).

    Args: the Data tab's notice.
    Returns: the upload box.
    """
    return gr.update(value=None) if notice_value else gr.skip()


def forget_source_notices(refused: str = "") -> tuple[Any, Any]:
    """Another source was put in (e.g. Try an example): a refusal of the last one, and its file, go (unless the new
    source was itself refused: then nothing changed here).

    Args: the notice of the action that put the new source in.
    Returns: the Data tab's notice, the upload box.
    """
    return (gr.skip(), gr.skip()) if refused else ("", gr.update(value=None))


def load_data(ctx: AppContext, src: str, config_name: str | None, split_name: str | None, task_value: str,
              owner_key: str | None = None, request: gr.Request = None,
              profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Preview a file path or a Hub dataset, with its configuration and split pickers.

    Args: the training-data box, the configuration and split pickers, the task, the visitor's owner key.
    Returns: the configuration and split pickers, the preview, the summary, the mapping.
    """
    src = (src or "").strip()
    if not src:
        raise ValueError(words.NO_DATA_GIVEN)
    ctx.jobs.host.check_local_path(field_label("train"), src, ctx.uploads_dir, visitor(owner_key, request, profile))
    pickers, config_value, split_value = _hub_pickers(src, dropdown_value(config_name), dropdown_value(split_name))
    return [*pickers, *preview_table(src, config_value, split_value, task_value)]


def data_report(ctx: AppContext, values: dict[Any, Any], request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> list[Any]:
    """Label balance or a rendered example, and token lengths, from the engine's data report.

    Args: the whole form and the visitor's owner key, as {widget: value}.
    Returns: the report text, the label-balance plot, the token-length plot, the rendered example.
    """
    return _report(ctx, values, visitor(values.get(ctx.owner), request, profile))


def auto_report(ctx: AppContext, notice: gr.HTML, values: dict[Any, Any], request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> list[Any]:
    """After loading data: the report when a model is chosen, else a line saying what to do.

    Args: the whole form, the Data tab's notice and the visitor's owner key, as {widget: value}.
    Returns: the report text, the label-balance plot, the token-length plot, the rendered example.
    """
    if values.get(notice):  # the data was refused: nothing new to report on
        return [gr.skip()] * REPORT_SLOTS
    if not str(values.get(ctx.form.by_path[("model", "name_or_path")]) or "").strip():
        return [words.REPORT_PICK_MODEL, gr.skip(), gr.skip(), gr.skip()]
    try:
        return _report(ctx, values, visitor(values.get(ctx.owner), request, profile))
    except ValueError as exc:  # a report that cannot be made yet is a note in it, not an error on the page
        return [words.REPORT_NOT_YET.format(error=shorten(str(exc))), gr.skip(), gr.skip(), gr.skip()]


def _report(ctx: AppContext, values: dict[Any, Any], who: Visitor) -> list[Any]:
    """Run the engine's data report for the form's config, with the model's tokenizer."""
    from ft_app.data_report import describe
    from ft_app.modeling import load_tokenizer

    config = ctx.form.to_config(values)
    ctx.jobs.host.check_config_paths(config, ctx.uploads_dir, who)
    return report_widgets(describe(config, load_tokenizer(config)))


def report_widgets(report: Any) -> list[Any]:
    """Turn a DataReport into the report text, the label-balance and length plots, and the rendered example."""
    from ft_app import plots

    lines = []
    stats = report.lengths
    if stats is not None:
        lines.append(words.REPORT_LENGTHS.format(
            measured=stats.rows_measured, mean=stats.mean, p50=stats.p50, p95=stats.p95, longest=stats.max,
            max_length=stats.max_length, over=stats.over_limit, share=stats.over_limit_share))
    for warning in report.warnings:
        gr.Warning(warning)
    lines = [words.REPORT_WARNING.format(warning=warning) for warning in report.warnings] + lines
    lines += [f"- {note}" for note in report.notes]
    balance = (
        plots.label_balance_figure(dict(report.balance)) if report.balance else plots.empty_figure(words.NO_LABELS)
    )
    lengths = (
        plots.length_histogram_figure(stats.lengths, max_length=stats.max_length)
        if stats is not None
        else plots.empty_figure(words.LENGTHS_LATER)
    )
    example = (
        gr.HighlightedText(value=[(text, tag) for text, tag in report.example], visible=True)
        if report.example
        else gr.HighlightedText(value=None, visible=False)
    )
    return ["\n".join(lines) or words.DATA_FINE, balance, lengths, example]


def _source_section(ctx: AppContext) -> list[Any]:
    """The upload, the training-data box with its configuration and split pickers, and the Load button."""
    form = ctx.form
    with gr.Row():
        with gr.Column(scale=1):
            # No file_types: Gradio's own type check marks the box with a red Error badge that outlives the
            # refusal and never reaches the handler; upload_data refuses another kind of file in words instead.
            upload = gr.File(label=words.UPLOAD.format(mb=ctx.jobs.host.max_upload_mb), elem_id="data-upload",
                             height=140)
        with gr.Column(scale=1):
            source = form.field("data", "train", **words.DATA_SOURCE, elem_id="data-source")
            with gr.Row():
                dataset_config = form.add(("data", "dataset_config"), gr.Dropdown(
                    label=words.DATASET_CONFIG, choices=[], value="", allow_custom_value=True))
                split = form.add(("data", "train_split"), gr.Dropdown(
                    label=words.TRAIN_SPLIT, choices=["train"], value="train", allow_custom_value=True))
            load = gr.Button(words.LOAD_DATA, variant="secondary")
    return [upload, source, dataset_config, split, load]


def _mapping_section(ctx: AppContext) -> dict[str, gr.Dropdown]:
    """One dropdown per column role (those of the classification task shown at first)."""
    gr.Markdown(words.MAPPING_TITLE)
    mapping: dict[str, gr.Dropdown] = {}
    with gr.Row():
        for name in MAPPING_FIELDS:
            mapping[name] = ctx.form.add(("data", name), gr.Dropdown(
                label=field_label(name), info=config_field("data", name).metadata.get("help"), choices=[AUTO],
                value="", allow_custom_value=True, visible=name in shown_mapping(TASK_NAMES[0]), min_width=200,
                elem_id=f"map-{name}".replace("_", "-")))
    return mapping


def _settings_section(ctx: AppContext) -> tuple[gr.Number, list[gr.components.Component]]:
    """The data settings; returns the task-only ones: the target length and the chat settings."""
    form = ctx.form
    with gr.Accordion(words.DATA_SETTINGS, open=False):
        with gr.Row():
            for name in ("max_length", "max_rows", "validation_size"):
                form.field("data", name)
        with gr.Row():
            form.field("data", "validation")
            form.field("data", "max_eval_rows")
            target_len = form.field("data", "max_target_length", visible=False)
        with gr.Row():
            chat = [form.field("data", name, visible=False) for name in ("template", "system_prompt", "loss_on_prompt")]
    return target_len, chat


def build(ctx: AppContext, task: gr.Radio) -> DataTab:
    """Lay out the Data tab and wire its events."""
    form, owner = ctx.form, ctx.owner
    gr.Markdown(words.DATA_INTRO)
    upload, source, dataset_config, split, load = _source_section(ctx)
    notice = gr.HTML("", elem_id="data-notice", elem_classes=["ft-note"])
    summary = gr.Markdown(words.NO_DATA_YET, elem_classes=["ft-card"])
    preview = gr.Dataframe(label=words.PREVIEW.format(rows=PREVIEW_ROWS), interactive=False, wrap=True,
                           max_height=320)
    mapping = _mapping_section(ctx)
    target_len, chat = _settings_section(ctx)
    gr.Markdown(words.REPORT_TITLE)
    report_btn = gr.Button(words.REPORT_BUTTON)
    report_md = gr.Markdown(words.REPORT_START, elem_id="data-report")
    with gr.Row():
        balance = gr.Plot(label=words.LABEL_BALANCE, visible=True, elem_id="data-balance")
        lengths = gr.Plot(label=words.TOKEN_LENGTHS, elem_id="data-lengths")
    example = gr.HighlightedText(label=words.EXAMPLE_AS_SEEN, visible=False, combine_adjacent=True, show_legend=True)
    report_outputs = [report_md, balance, lengths, example]
    columns = list(mapping.values())
    report_after = bind(auto_report, ctx, notice)
    report_inputs = {*form.components(), notice, owner}
    page_event(upload.upload, bind(upload_data, ctx), [upload, task, owner],
               [source, dataset_config, split, preview, summary, *columns], notice, api_name="upload_data").then(
        clear_refused_upload, [notice], [upload], api_visibility="private", show_progress="hidden"
    ).then(report_after, report_inputs, report_outputs, api_visibility="private", show_progress="minimal")
    for trigger, api in ((load.click, "load_data"), (source.submit, None)):
        page_event(trigger, bind(load_data, ctx), [source, dataset_config, split, task, owner],
                   [dataset_config, split, preview, summary, *columns], notice, api_name=api,
                   concurrency_id="load_data").then(
            report_after, report_inputs, report_outputs, api_visibility="private", show_progress="minimal"
        )
    page_event(report_btn.click, bind(data_report, ctx), {*form.components(), owner}, report_outputs, notice)
    # A column picked by the person re-checks the data, so the report's warnings follow the mapping shown (a warning
    # about a wrong label column goes when the column is set back). `input`, not `change`: loading data sets the
    # dropdowns itself and reports once after.
    for column in columns:
        column.input(report_after, report_inputs, report_outputs, api_visibility="private", show_progress="minimal",
                     trigger_mode="always_last")
    task_only = [(balance, lambda t: t.labels), *[(c, lambda t: t.continues_prompt) for c in (*chat, example)],
                 (target_len, lambda t: "target" in t.mapping_parts)]
    return DataTab(source=source, upload=upload, mapping=mapping, preview=preview, summary=summary, notice=notice,
                   task_only=task_only, report_outputs=report_outputs)
