"""The model card: Hub metadata (huggingface_hub.ModelCardData) and the run told in plain words."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ft_app.config import LoraSettings, TrainingSettings
from ft_app.export.curve import LOSS_CURVE_FILE, write_loss_curve
from ft_app.export.prompting import PromptFormat, load_result_tokenizer, prompt_format
from ft_app.export.source import ExportRun, load_export_run
from ft_app.methods import get_method
from ft_app.paths import looks_like_path
from ft_app.tasks import get_task

CARD_FILE = "README.md"
CARD_DIR = "card"
STUDIO_TAG = "fine-tune-studio"
def card_metadata(run: ExportRun, *, merged: bool = False, model_name: str | None = None) -> Any:
    """The card's YAML metadata: base model, library, pipeline, datasets, license, tags and the after numbers."""
    from huggingface_hub import EvalResult, ModelCardData

    task, method = get_task(run.config.task), get_method(run.config.method)
    pipeline = task.pipeline_tag
    dataset = _hub_dataset(run)
    adapter = run.is_adapter and not merged
    tags = [STUDIO_TAG, pipeline, method.name]
    if method.adapter and method.quantized:
        tags.append("lora")
    results = []
    name = model_name or run.model_name
    for key, label, metric in ((m.key, m.name, m.hub_type) for m in task.metrics):
        value = run.results.after.get(key)
        if isinstance(value, (int, float)):
            results.append(EvalResult(
                task_type=pipeline,
                dataset_type=dataset or "local",
                dataset_name=dataset or "held-out rows of the training data",
                dataset_split="held-out",
                metric_type=metric,
                metric_name=label,
                metric_value=value,
            ))
    return ModelCardData(
        base_model=None if run.base_is_local else run.base_model,
        library_name="peft" if adapter else "transformers",
        pipeline_tag=pipeline,
        datasets=[dataset] if dataset else None,
        license=base_license(run.base_model),
        tags=tags,
        model_name=name,
        eval_results=results or None,
    )


def base_license(base_model: str) -> str | None:
    """The base model's license from its card when it is on this machine (a local folder or the Hub cache)."""
    if looks_like_path(base_model):
        readme: Path | str | None = Path(base_model).expanduser() / CARD_FILE
    else:
        from huggingface_hub import try_to_load_from_cache

        readme = try_to_load_from_cache(base_model, CARD_FILE)  # never goes online
    if not isinstance(readme, (str, Path)) or not Path(readme).is_file():
        return None
    from huggingface_hub import ModelCard

    value = ModelCard.load(readme).data.to_dict().get("license")
    return value if isinstance(value, str) else None


def render_card(run: ExportRun, *, model_ref: str, merged: bool = False, curve_file: str | None = LOSS_CURVE_FILE,
                model_name: str | None = None) -> Any:
    """The model card (a huggingface_hub.ModelCard) for loading the result from `model_ref` (a repo id or a folder)."""
    from huggingface_hub import ModelCard

    tokenizer = load_result_tokenizer(run.result_dir)
    fmt = prompt_format(run.config, tokenizer)
    data = card_metadata(run, merged=merged, model_name=model_name)
    sections = [
        _intro(run, merged),
        _purpose(run, fmt),
        _data_section(run),
        _method_section(run, merged),
        _results_section(run),
        _golden_section(run),
        f"## Training curve\n\n![Train and eval loss by step]({curve_file})\n" if curve_file else "",
        _usage_section(run, fmt, model_ref, merged),
        _gguf_section(run),
        _limitations(run, merged),
    ]
    body = "\n".join(s for s in sections if s)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def write_card(run_dir: str | Path, out_dir: str | Path | None = None, *, model_ref: str | None = None,
               portable: bool = False) -> Path:
    """Write README.md (the card) and loss_curve.png into `out_dir` (default: RUN_DIR/card/); returns the card.

    The usage snippet loads the result from `model_ref`; by default from its folder on this machine, or with
    `portable` from `./adapter` (or `./model`) beside the card, as in the zip: a card that leaves the machine names
    no path on it. Files a person put in `out_dir` are never overwritten.
    """
    from ft_app.export.output import check_free, record_made

    run = load_export_run(run_dir)
    out = Path(out_dir) if out_dir else run.run_dir / CARD_DIR
    check_free(out, (CARD_FILE, LOSS_CURVE_FILE))
    out.mkdir(parents=True, exist_ok=True)
    curve = write_loss_curve(run.metrics, out / LOSS_CURVE_FILE, f"Training curve · {run.run_id}")
    ref = model_ref or (f"./{run.result_dir.name}" if portable else str(run.result_dir))
    card = render_card(run, model_ref=ref, curve_file=LOSS_CURVE_FILE if curve else None)
    path = out / CARD_FILE
    card.save(path)
    record_made(out, (CARD_FILE, LOSS_CURVE_FILE))
    return path


# ---- sections -------------------------------------------------------------------------------------


def _intro(run: ExportRun, merged: bool) -> str:
    base = f"`{run.base_name}` (a local model folder)" if run.base_is_local else (
        f"[{run.base_model}](https://huggingface.co/{run.base_model})")
    how = get_method(run.config.method).card_words
    if merged:
        what = f"{base} with a LoRA adapter merged into its weights: a standalone model, trained by {how}"
    elif run.is_adapter:
        what = f"A LoRA adapter for {base}, trained by {how}"
    else:
        what = f"{base} fine-tuned by {how}"
    return f"# {run.title}\n\n{what[0].upper() + what[1:]}, with Fine-Tune Studio.\n"


def _purpose(run: ExportRun, fmt: PromptFormat) -> str:
    what = get_task(run.config.task).card_purpose(run.label_names, fmt)
    return f"## What it was trained for\n\n{what}\n"


def _data_section(run: ExportRun) -> str:
    d = run.config.data
    dataset = _hub_dataset(run)
    source = f"[{dataset}](https://huggingface.co/datasets/{dataset})" if dataset else f"a local file, `{Path(d.train).name}`"
    info = run.data_info
    if d.validation:
        held = f"the separate validation data `{Path(d.validation).name if looks_like_path(d.validation) else d.validation}`"
    else:
        share = d.validation_size
        held = (f"{share:.0%} of the rows" if share < 1 else f"{int(share)} rows") + \
            f" picked at random with seed {run.config.training.seed}"
    lines = [
        "## Training data",
        "",
        f"- Source: {source}" + (f" (configuration `{d.dataset_config}`)" if d.dataset_config else ""),
        f"- Rows: {info.get('train_rows', '?')} for training, {info.get('eval_rows', 0)} held out for evaluation "
        f"({held})" + (f"; {info['dropped_rows']} rows dropped (empty or too long)" if info.get("dropped_rows") else ""),
    ]
    mapping = {k: v for k, v in (info.get("mapping") or {}).items() if v}
    if mapping:
        lines.append("- Columns used: " + ", ".join(f"{role} = `{col}`" for role, col in mapping.items()))
    if run.label_names:
        lines.append("- Labels: " + ", ".join(f"`{n}`" for n in run.label_names))
    return "\n".join(lines) + "\n"


def _method_section(run: ExportRun, merged: bool) -> str:
    c, s = run.config, run.status
    lines = ["## Method and settings", "", f"- Method: {get_method(c.method).card_words}"]
    if merged:
        lines.append("- The adapter was merged into the base weights: this folder is a standalone model.")
    done = [f"for {s['step']} steps" + (f" ({s['epoch']:.2f} epochs)" if s.get("epoch") else "") if s.get("step") else "",
            f"on {s['device']}" if s.get("device") else "", f"{s['precision']} precision" if s.get("precision") else "",
            f"{s['elapsed_s'] / 60:.1f} min" if s.get("elapsed_s") else ""]
    if any(done):
        lines.append("- Trained " + ", ".join(p for p in done if p) + f"; status: {s.get('status', '?')}.")
    if s.get("trainable_params") and s.get("total_params"):
        lines.append(f"- Trainable parameters: {s['trainable_params']:,} of {s['total_params']:,} "
                     f"({100 * s['trainable_params'] / s['total_params']:.2f}%)")
    if s.get("recipe"):
        lines.append(f"- Schedule: {s['recipe']}.")
    # The auto recipe may have chosen the learning rate: the status records what the run used.
    used_lr = s.get("learning_rate") if isinstance(s.get("learning_rate"), (int, float)) else c.learning_rate
    rows = [("learning_rate (used)", f"{used_lr:g}"), ("max_length (used)", str(c.max_length))]
    rows += [(f.name, _value(getattr(c.training, f.name))) for f in dataclasses.fields(TrainingSettings)]
    if c.uses_adapter:
        rows += [(f"lora.{f.name}", _value(getattr(c.lora, f.name))) for f in dataclasses.fields(LoraSettings)]
    for name in ("max_rows", "max_eval_rows", "template", "system_prompt", "loss_on_prompt", "max_target_length"):
        rows.append((f"data.{name}", _value(getattr(c.data, name))))
    lines += ["", "| setting | value |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in rows]
    lines += ["", "The complete run config is `config.json` (re-run it with `python -m ft_app train config.json`)."]
    return "\n".join(lines) + "\n"


def _results_section(run: ExportRun) -> str:
    r = run.results
    if not r.has_eval:
        return "## Results\n\nThis run kept no held-out rows, so there are no before/after numbers.\n"
    rows_n = r.after.get("rows") or r.before.get("rows") or "?"
    lines = [
        "## Results: before -> after",
        "",
        f"On {rows_n} held-out rows the model never trained on, the base model before fine-tuning and the fine-tuned "
        "model after it:",
        "",
        "| metric | before (base model) | after (fine-tuned) | change |",
        "|---|---|---|---|",
    ]
    for key, label in ((m.key, m.name) for m in get_task(run.config.task).metrics):
        before, after = r.before.get(key), r.after.get(key)
        if before is None and after is None:
            continue
        change = f"{after - before:+.4f}" if isinstance(before, (int, float)) and isinstance(after, (int, float)) else ""
        lines.append(f"| {label} | {_number(before)} | {_number(after)} | {change} |")
    if r.summary:
        lines += ["", r.summary]
    zs = r.zero_shot or {}
    if zs.get("accuracy") is not None:
        lines += ["", f"Zero-shot baseline (`{zs.get('model')}`, no training): accuracy {zs['accuracy']:.4f}, "
                      f"macro-F1 {zs.get('f1', 0):.4f}."]
    return "\n".join(lines) + "\n"


def _golden_section(run: ExportRun) -> str:
    rows = run.results.golden
    if not rows:
        return ""
    lines = ["## Test prompts, before and after", "", "| prompt | expected | before | after |", "|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {_cell(row.get('input', ''))} | {_cell(row.get('reference', ''))} | "
            f"{_cell(answer_text(row.get('base')))} | {_cell(answer_text(row.get('finetuned')))} |"
        )
    return "\n".join(lines) + "\n"


def _usage_section(run: ExportRun, fmt: PromptFormat, model_ref: str, merged: bool) -> str:
    code = usage_snippet(run, fmt, model_ref, merged)
    where = f"Run it in the unzipped folder (the one that holds `{model_ref[2:]}/`). " if model_ref.startswith("./") else ""
    need = "It downloads the base model too. " if run.is_adapter and not merged and not run.base_is_local else ""
    if run.is_adapter and not merged and run.base_is_local:
        need = f"It needs the base model folder this run used (`{run.base_model}`) on the same path. "
    return f"## How to use\n\n{where}{need}\n\n```python\n{code}\n```\n"


def usage_snippet(run: ExportRun, fmt: PromptFormat, model_ref: str, merged: bool = False) -> str:
    """A few lines of plain transformers/peft code that load exactly this kind of result and run it once."""
    adapter = run.is_adapter and not merged
    return get_task(run.config.task).usage_snippet(model_ref, adapter, _example_input(run), run.label_names, fmt)


def _gguf_section(run: ExportRun) -> str:
    """For a causal LM that GGUF export covers: the commands that run it on a laptop with Ollama or llama.cpp."""
    from ft_app.export.gguf import gguf_blocker, gguf_file_name, ollama_name

    if gguf_blocker(run):  # says why when the task is not one llama.cpp runs
        return ""
    name, run_path = ollama_name(run), f"runs/{run.run_id}"
    return (
        "## Run it on your laptop (GGUF)\n\n"
        "Fine-Tune Studio writes this model as one GGUF file (8-bit) with an Ollama Modelfile beside it, for "
        "[Ollama](https://ollama.com), [llama.cpp](https://github.com/ggml-org/llama.cpp) or LM Studio:\n\n"
        f"```bash\npython -m ft_app export {run_path} --gguf\ncd {run_path}/gguf\n"
        f"ollama create {name} -f Modelfile && ollama run {name}\n"
        f"llama-cli -m {gguf_file_name(run)} -cnv   # or with llama.cpp\n```\n"
    )


def _limitations(run: ExportRun, merged: bool) -> str:
    info = run.data_info
    lines = [
        "## Limitations",
        "",
        f"- Trained on {info.get('train_rows', '?')} rows and checked on {info.get('eval_rows', 0)} held-out rows from "
        "the same source: expect weaker results on texts unlike these.",
        "- It keeps the limitations and biases of its base model; read the base model's card.",
    ]
    lines.append(f"- {get_task(run.config.task).card_limitation}")
    if run.is_adapter and not merged:
        lines.append("- This is an adapter: it runs only on top of the exact base model it was trained on.")
    if merged and get_method(run.config.method).quantized:
        lines.append("- Trained on a quantized base and merged into a 16-bit one: outputs can differ slightly from "
                     "the adapter on the quantized base.")
    if run.status.get("status") == "stopped":
        lines.append("- Training was stopped before the end: this is what it had learned by then.")
    return "\n".join(lines) + "\n"


# ---- helpers --------------------------------------------------------------------------------------


def _hub_dataset(run: ExportRun) -> str | None:
    train = run.config.data.train
    return None if looks_like_path(train) else train


def _example_input(run: ExportRun) -> str:
    for row in run.results.golden:
        if str(row.get("input", "")).strip():
            return str(row["input"])
    from ft_app.compare import held_out_examples

    for row in held_out_examples(run.run_dir, 1):
        if str(row.get("input", "")).strip():
            return str(row["input"])
    return get_task(run.config.task).card_example


def answer_text(side: Any) -> str:
    """A recorded golden answer (a prediction dict or text) as one text."""
    if isinstance(side, dict):
        return str(side.get("label") or side.get("text") or "")
    return "" if side is None else str(side)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _value(value: Any) -> str:
    if value is None:
        return "(default)"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(default)"
    return str(value)


def _cell(text: Any, limit: int = 200) -> str:
    """Text fit for one Markdown table cell: one line, pipes escaped, long text cut."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
