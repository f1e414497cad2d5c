"""Data tab: upload a file or name a Hub dataset, check the preview, the column mapping and the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ft_app.config import DataConfig
from ft_app.text import plain_list
from ft_app.ui.common import dropdown_value, page_event, shorten, visitor
from ft_app.ui.context import AppContext

FILE_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".parquet"]
PREVIEW_ROWS = 20
MAPPING_FIELDS: tuple[str, ...] = (
    "text_column",
    "label_column",
    "prompt_column",
    "input_column",
    "response_column",
    "messages_column",
    "target_column",
)
# Which mapping dropdowns each task shows.
TASK_MAPPING: dict[str, tuple[str, ...]] = {
    "classification": ("text_column", "label_column"),
    "causal_lm": ("prompt_column", "input_column", "response_column", "messages_column", "text_column"),
    "seq2seq": ("text_column", "target_column"),
}
AUTO = ("(detect automatically)", "")


@dataclass
class DataTab:
    """The Data tab's widgets that other parts of the app use."""

    source: gr.Textbox
    mapping: dict[str, gr.Dropdown]
    preview: gr.Dataframe
    summary: gr.Markdown
    task_only: dict[str, list[gr.components.Component]]
    auto_report: Any
    report_outputs: list[gr.components.Component]


def _data() -> Any:
    from ft_app import data

    return data


def _preview(
    source: str, dataset_config: str | None, split: str | None, task: str, chosen: DataConfig | None = None
) -> list[Any]:
    """Load a table and turn it into the preview, the summary and the mapping dropdowns (chosen columns kept)."""
    data = _data()
    table = data.load_table(source, dataset_config=dataset_config, split=split or "train")
    columns = list(table.column_names)
    try:
        mapping = data.detect_columns(columns, task, chosen or DataConfig())
        note = "Detected: " + ", ".join(
            f"**{part}** ← `{col}`" for part, col in vars(mapping).items() if col
        ) + ". Change it below if it is wrong."
    except ValueError as exc:
        mapping = None
        gr.Warning(str(exc))
        note = f"**Please choose the columns below:** {exc}"
    from ft_app.data_report import preview

    head = preview(table, PREVIEW_ROWS)
    shown = plain_list([f"`{c}`" for c in columns], data.COLUMN_LIMIT)  # a wide table must not fill the screen
    summary = f"**{len(table):,} row{'s' if len(table) != 1 else ''}** · columns: {shown}\n\n{note}"
    choices = [AUTO] + [(c, c) for c in columns]
    updates = []
    for name in MAPPING_FIELDS:
        part = name.removesuffix("_column")
        value = getattr(mapping, part, None) if mapping else None
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


def build(ctx: AppContext, task: gr.Radio) -> DataTab:
    """Lay out the Data tab and wire its events."""
    form = ctx.form
    gr.Markdown(
        "### Step 2 · Give it examples to learn from\n"
        "Upload a table (CSV, TSV, JSON, JSONL or Parquet) or type a Hugging Face dataset id, then check the preview "
        "and which column means what."
    )
    with gr.Row():
        with gr.Column(scale=1):
            upload = gr.File(label=f"Upload a data file (up to {ctx.jobs.host.max_upload_mb} MB)", file_types=FILE_TYPES,
                             elem_id="data-upload", height=140)
        with gr.Column(scale=1):
            source = form.field(
                "data",
                "train",
                label="Training data (a file or a Hub dataset id)",
                placeholder="e.g. stanfordnlp/sst2, or the uploaded file",
                elem_id="data-source",
            )
            with gr.Row():
                dataset_config = form.add(
                    ("data", "dataset_config"),
                    gr.Dropdown(label="Configuration", choices=[], value="", allow_custom_value=True),
                )
                split = form.add(
                    ("data", "train_split"),
                    gr.Dropdown(label="Split to train on", choices=["train"], value="train", allow_custom_value=True),
                )
            load = gr.Button("Load and preview", variant="secondary")
    notice = gr.HTML("", elem_id="data-notice", elem_classes=["ft-note"])
    summary = gr.Markdown("No data loaded yet.", elem_classes=["ft-card"])
    preview = gr.Dataframe(label=f"Preview (first {PREVIEW_ROWS} rows)", interactive=False, wrap=True, max_height=320)
    gr.Markdown("#### Which column means what")
    mapping: dict[str, gr.Dropdown] = {}
    with gr.Row():
        for name in MAPPING_FIELDS:
            from ft_app.ui.form import config_field

            mapping[name] = form.add(
                ("data", name),
                gr.Dropdown(
                    label=_mapping_label(name),
                    info=config_field("data", name).metadata.get("help"),
                    choices=[AUTO],
                    value="",
                    allow_custom_value=True,
                    visible=name in TASK_MAPPING["classification"],
                    min_width=200,
                ),
            )
    with gr.Accordion("Data settings", open=False):
        with gr.Row():
            form.field("data", "max_length")
            form.field("data", "max_rows")
            form.field("data", "validation_size")
        with gr.Row():
            form.field("data", "validation")
            form.field("data", "max_eval_rows")
            target_len = form.field("data", "max_target_length", visible=False)
        with gr.Row():
            template = form.field("data", "template", visible=False)
            system_prompt = form.field("data", "system_prompt", visible=False)
            loss_on_prompt = form.field("data", "loss_on_prompt", visible=False)
    gr.Markdown("#### How the model will see it")
    report_btn = gr.Button("Check the data with the model's tokenizer")
    report_md = gr.Markdown("Load data and pick a model, then press the button above to see label balance and lengths.")
    with gr.Row():
        balance = gr.Plot(label="Label balance", visible=True, elem_id="data-balance")
        lengths = gr.Plot(label="Token lengths", elem_id="data-lengths")
    example = gr.HighlightedText(
        label="One training example as the model sees it (highlighted: the part it learns to write)",
        visible=False,
        combine_adjacent=True,
        show_legend=True,
    )

    def on_upload(file: str | None, task_value: str, owner_key: str | None = None, request: gr.Request = None,
                  profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Check an uploaded file is a table, keep it (named uploads/<name>, never by its server path; it is the
        visitor's), preview it."""
        if not file:
            return [gr.skip()] * (4 + len(MAPPING_FIELDS))
        from ft_app.uploads import check_uploads_allowed, keep_upload, upload_name

        check_uploads_allowed(ctx.jobs.host)  # before the file is even read
        rows = _preview(file, None, "train", task_value)  # refuses a non-table before anything changes
        kept = keep_upload(ctx.uploads_dir, file, ctx.jobs.host, visitor(owner_key, request, profile))
        return [upload_name(kept), gr.Dropdown(choices=[], value=""), gr.Dropdown(choices=["train"], value="train"), *rows]

    def on_load(src: str, config_name: str | None, split_name: str | None, task_value: str,
                owner_key: str | None = None, request: gr.Request = None,
                profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Preview a file path or a Hub dataset, with its configuration and split pickers."""
        src = (src or "").strip()
        if not src:
            raise ValueError("No data given: upload a file or type a Hub dataset id such as stanfordnlp/sst2.")
        ctx.jobs.host.check_local_path("Training data", src, ctx.uploads_dir, visitor(owner_key, request, profile))
        pickers, config_value, split_value = _hub_pickers(src, dropdown_value(config_name), dropdown_value(split_name))
        return [*pickers, *_preview(src, config_value, split_value, task_value)]

    def on_report(values: dict[Any, Any], request: gr.Request = None,
                  profile: gr.OAuthProfile | None = None) -> list[Any]:
        """Label balance or a rendered example, and token lengths, from the engine's data report."""
        return _report(ctx, values, visitor(values.get(ctx.owner), request, profile))

    def auto_report(values: dict[Any, Any], request: gr.Request = None,
                    profile: gr.OAuthProfile | None = None) -> list[Any]:
        """After loading data: the report when a model is chosen, else a line saying what to do."""
        if values.get(notice):  # the data was refused: nothing new to report on
            return [gr.skip()] * len(report_outputs)
        if not str(values.get(ctx.form.by_path[("model", "name_or_path")]) or "").strip():
            return ["Pick a model in the Model tab, then press the button above to see label balance and lengths.",
                    gr.skip(), gr.skip(), gr.skip()]
        try:
            return _report(ctx, values, visitor(values.get(ctx.owner), request, profile))
        except ValueError as exc:  # a report that cannot be made yet is a note in it, not an error on the page
            return [f"**Not checked yet:** {shorten(str(exc))}", gr.skip(), gr.skip(), gr.skip()]

    upload_outputs = [source, dataset_config, split, preview, summary, *mapping.values()]
    report_outputs = [report_md, balance, lengths, example]
    report_inputs = {*form.components(), notice, ctx.owner}
    page_event(upload.upload, on_upload, [upload, task, ctx.owner], upload_outputs, notice,
               api_name="upload_data").then(
        auto_report, report_inputs, report_outputs, api_visibility="private", show_progress="minimal"
    )
    load_outputs = [dataset_config, split, preview, summary, *mapping.values()]
    for trigger, api in ((load.click, "load_data"), (source.submit, None)):
        page_event(trigger, on_load, [source, dataset_config, split, task, ctx.owner], load_outputs, notice, api_name=api,
                   concurrency_id="load_data").then(
            auto_report, report_inputs, report_outputs, api_visibility="private", show_progress="minimal"
        )
    page_event(report_btn.click, on_report, {*form.components(), ctx.owner}, report_outputs, notice)

    task_only = {
        "classification": [balance],
        "causal_lm": [template, system_prompt, loss_on_prompt, example],
        "seq2seq": [target_len],
    }
    return DataTab(
        source=source, mapping=mapping, preview=preview, summary=summary, task_only=task_only, auto_report=auto_report,
        report_outputs=report_outputs,
    )


def _mapping_label(name: str) -> str:
    from ft_app.ui.common import field_label

    return field_label(name)


def _report(ctx: AppContext, values: dict[Any, Any], who: Any) -> list[Any]:
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
        lines.append(
            f"**Token lengths** ({stats.rows_measured} rows measured): average {stats.mean:.0f}, median {stats.p50:.0f}, "
            f"95% under {stats.p95:.0f}, longest {stats.max}. Max length is {stats.max_length}: "
            f"**{stats.over_limit} rows ({stats.over_limit_share:.0%}) will be cut.**"
        )
    for warning in report.warnings:
        gr.Warning(warning)
    lines = [f"**Warning:** {warning}" for warning in report.warnings] + lines
    lines += [f"- {note}" for note in report.notes]
    balance = (
        plots.label_balance_figure(dict(report.balance)) if report.balance else plots.empty_figure("No labels to count.")
    )
    lengths = (
        plots.length_histogram_figure(stats.lengths, max_length=stats.max_length)
        if stats is not None
        else plots.empty_figure("Token lengths appear once data and a model are chosen.")
    )
    example = (
        gr.HighlightedText(value=[(text, tag) for text, tag in report.example], visible=True)
        if report.example
        else gr.HighlightedText(value=None, visible=False)
    )
    return ["\n".join(lines) or "The data looks fine.", balance, lengths, example]
