"""Merge a LoRA adapter into its base weights and save a standalone model (safetensors) in RUN_DIR/merged/."""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ft_app.export.source import ExportRun, folder_size, human_size, load_export_run
from ft_app.methods import get_method
from ft_app.runs import LABELS_FILE

BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass
class MergeResult:
    """Where the merged model went, in what precision, how big it is, and a plain sentence about it."""

    path: Path
    dtype: str
    size_bytes: int
    message: str


def merge_dtype(run: ExportRun) -> str:
    """The precision of the merged model: the run's own, or 16-bit for QLoRA/8-bit (quantized weights cannot take
    the merged values)."""
    if not get_method(run.config.method).quantized:
        return run.config.model.dtype if run.config.model.dtype != "auto" else _auto_dtype(run)
    from ft_app.modeling import device_info

    device = device_info()
    return "float16" if device.cuda and not device.bf16 else "bfloat16"


def _auto_dtype(run: ExportRun) -> str:
    from ft_app.modeling import device_info, load_dtype

    return str(load_dtype(run.config, device_info())).removeprefix("torch.")


def merge_plan(run: ExportRun) -> str:
    """What merging this run will do and about how big the result will be, before it is done."""
    if not run.is_adapter:
        return "This run trained the whole model: its result is already a standalone model, nothing to merge."
    dtype = merge_dtype(run)
    params = run.status.get("total_params")
    size = f" (about {human_size(params * BYTES_PER_PARAM[dtype])})" if isinstance(params, int) else ""
    text = (f"Merging adds the adapter into a copy of the base weights and saves a standalone {dtype} model{size} "
            "that loads with plain transformers, no peft needed.")
    method = get_method(run.config.method)
    if method.quantized:
        bits = method.bits_words
        ratio = BYTES_PER_PARAM[dtype] / method.quant_bytes
        text += (f" This run trained on a {bits} base: the base is reloaded in {dtype} to merge (quantized weights "
                 f"cannot hold the merged values), so the merged model is about {ratio:.0f}x the size the {bits} "
                 "base took in memory.")
    return text


def merge_lora(run_dir: str | Path) -> MergeResult:
    """Merge the run's adapter into its base model and save it in RUN_DIR/merged/ (replacing an earlier merge)."""
    from peft import PeftModel

    from ft_app import modeling
    from ft_app.export.prompting import load_result_tokenizer

    run = load_export_run(run_dir)
    if not run.is_adapter:
        raise ValueError(
            f"Run {run.run_id!r} trained the whole model (method {run.config.method!r}): there is no adapter to "
            "merge, and its model/ folder already loads on its own."
        )
    dtype = merge_dtype(run)
    config = dataclasses.replace(
        run.config, method="lora", model=dataclasses.replace(run.config.model, dtype=dtype)
    )
    tokenizer = load_result_tokenizer(run.result_dir)
    base = modeling.load_base_model(config, tokenizer, run.label_names)
    merged = PeftModel.from_pretrained(base, str(run.result_dir)).merge_and_unload()
    staging = run.run_dir / ".merged.partial"
    if staging.exists():
        shutil.rmtree(staging)
    merged.save_pretrained(str(staging))  # safetensors
    tokenizer.save_pretrained(str(staging))
    if (run.result_dir / LABELS_FILE).is_file():
        shutil.copy2(run.result_dir / LABELS_FILE, staging / LABELS_FILE)
    if run.merged_dir.exists():
        shutil.rmtree(run.merged_dir)
    os.replace(staging, run.merged_dir)  # a reader sees no merged/ or a complete one
    size = folder_size(run.merged_dir)
    adapter_size = folder_size(run.result_dir)
    message = (f"Merged into a standalone {dtype} model: {human_size(size)} in merged/ (the adapter alone is "
               f"{human_size(adapter_size)}). It loads with plain transformers, no peft needed.")
    method = get_method(run.config.method)
    if method.quantized:
        message += (f" The base was reloaded in {dtype} for the merge, so this is about "
                    f"{BYTES_PER_PARAM[dtype] / method.quant_bytes:.0f}x the size of the "
                    f"{method.bits_words} base used in training.")
    return MergeResult(path=run.merged_dir, dtype=dtype, size_bytes=size, message=message)
