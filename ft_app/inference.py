"""Load a run's base and fine-tuned models for prediction, with the settings the run trained with."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ft_app.config import RunConfig
from ft_app.methods import get_method
from ft_app.runs import ADAPTER_DIR, MODEL_DIR, RunStore
from ft_app.tasks import GenerationSettings, Prediction, get_task

__all__ = ["GenerationSettings", "Prediction", "RunInfo", "load_run_info", "load_base_model", "load_finetuned_model"]


@dataclasses.dataclass
class RunInfo:
    """A finished run's config (columns and max length resolved) and its label names."""

    run_dir: Path
    config: RunConfig
    label_names: list[str] | None
    result_dir: Path

    @property
    def is_adapter(self) -> bool:
        """Whether the run saved a LoRA adapter rather than a whole model."""
        return self.result_dir.name == ADAPTER_DIR


def load_run_info(run_dir: Path) -> RunInfo:
    """Read what prediction needs from a run folder; plain errors when the run has no saved model."""
    store = RunStore(run_dir.parent)
    status = store.read_status(run_dir).get("status", "unknown")
    result = store.result_dir(run_dir)
    if result is None:
        raise ValueError(
            f"Run {run_dir.name!r} has no saved model yet (status: {status}). "
            "Wait for it to finish, or pick a completed or stopped run."
        )
    config = store.read_config(run_dir)
    info_path = run_dir / "data.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    mapping = info.get("mapping", {})
    data = dataclasses.replace(
        config.data,
        text_column=mapping.get("text") or config.data.text_column,
        label_column=mapping.get("label") or config.data.label_column,
        prompt_column=mapping.get("prompt") or config.data.prompt_column,
        input_column=mapping.get("input") or config.data.input_column,
        response_column=mapping.get("response") or config.data.response_column,
        messages_column=mapping.get("messages") or config.data.messages_column,
        target_column=mapping.get("target") or config.data.target_column,
        max_length=info.get("max_length") or config.data.max_length,
    )
    return RunInfo(
        run_dir=run_dir,
        config=dataclasses.replace(config, data=data),
        label_names=info.get("label_names"),
        result_dir=result,
    )


def inference_device() -> Any:
    """The device predictions run on."""
    from ft_app.modeling import device_info

    kind = device_info().kind
    return "cuda:0" if kind == "cuda" else kind


def load_base_model(info: RunInfo) -> tuple[Any, Any]:
    """The untouched base model (with the same seeded new head a classification run started from) and tokenizer."""
    from ft_app import modeling

    tokenizer = modeling.load_tokenizer(info.config)
    model = modeling.load_base_model(info.config, tokenizer, info.label_names)
    if not get_method(info.config.method).quantized:  # quantized weights were placed on the GPU while loading
        model.to(inference_device())
    return model.eval(), tokenizer


def load_finetuned_model(info: RunInfo, base: Any | None = None) -> Any:
    """The fine-tuned model: the saved model/, or the adapter on top of `base` (weights shared, not copied)."""
    task = get_task(info.config.task)
    if info.is_adapter:
        from peft import PeftModel

        if base is None:
            base, _ = load_base_model(info)
        return PeftModel.from_pretrained(base, str(info.result_dir)).eval()
    model = task.model_class().from_pretrained(str(info.run_dir / MODEL_DIR))
    return model.to(inference_device()).eval()


def predict(model: Any, tokenizer: Any, text: str, info: RunInfo, settings: GenerationSettings) -> Prediction:
    """One model's answer to one input, formatted exactly as the run trained."""
    if not text or not text.strip():
        raise ValueError("The input is empty: type a prompt or a text to classify.")
    return get_task(info.config.task).predict(model, tokenizer, text, info.config, settings)
