"""The classic fine-tuning recipes and the per-task "try an example" choices, as partial run configs.

Everything here is plain data in the hand-written config shape (`RunConfig.from_dict`), so the same
presets serve the UI, the CLI and tests. No gradio, no heavy imports.

A recipe sets the method and the kind of knobs (sequence length, adapter size, memory savers,
scheduler). It sets no number of passes or steps, and no learning rate where the method's usual one
fits: those come from the auto recipe (ft_app/recipe.py), which sizes them to the data and the model.
A fixed "2 epochs" starves 400 rows (50 steps: the model learns nothing) and wastes time on 50,000.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ft_app.tasks import TASK_NAMES

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"


@dataclass(frozen=True)
class Preset:
    """One classic recipe: a task, a method, a suggested model and the knobs that make it work."""

    key: str
    title: str
    description: str
    task: str
    method: str
    model: str
    settings: dict[str, Any] = field(default_factory=dict)

    def config(self, *, with_model: bool = True) -> dict[str, Any]:
        """The recipe as a partial config dict (task, method, optionally the model, and the knobs)."""
        out: dict[str, Any] = {"task": self.task, "method": self.method}
        if with_model:
            out["model"] = {"name_or_path": self.model}
        out.update(copy.deepcopy(self.settings))
        return out


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            key="sentiment-encoder",
            title="Sentiment with a small encoder (full fine-tuning)",
            description="Sort texts into labels (positive/negative, spam/not spam) by training all weights of a small "
            "encoder such as DistilBERT. Works on a CPU for a few thousand rows.",
            task="classification",
            method="full",
            model="distilbert-base-uncased",
            settings={
                "data": {"max_length": 128},
                "training": {"weight_decay": 0.01},
            },
        ),
        Preset(
            key="sentiment-head",
            title="Sentiment, fastest: train only a new head",
            description="Keep the encoder frozen and train only the new classification layer. Very fast and light; "
            "a bit less accurate than full fine-tuning.",
            task="classification",
            method="head",
            model="distilbert-base-uncased",
            settings={
                "data": {"max_length": 128},
            },
        ),
        Preset(
            key="sentiment-lora",
            title="Sentiment with LoRA",
            description="Train small adapters inside the encoder: nearly as good as full fine-tuning with a tiny "
            "fraction of the weights, and a small file to keep.",
            task="classification",
            method="lora",
            model="distilbert-base-uncased",
            settings={
                "data": {"max_length": 128},
                "lora": {"r": 8, "alpha": 16, "dropout": 0.1},
            },
        ),
        Preset(
            key="instruction-lora",
            title="Instruction tuning / chat bot with LoRA",
            description="Teach a small chat model to answer in your style (Q&A, support answers, quotes). "
            "Trains LoRA adapters on the answers only.",
            task="causal_lm",
            method="lora",
            model="HuggingFaceTB/SmolLM2-135M-Instruct",
            settings={
                "data": {"max_length": 512},
                "lora": {"r": 16, "alpha": 32, "dropout": 0.05},
                "training": {
                    "batch_size": 4,
                    "gradient_accumulation_steps": 4,
                    "scheduler": "cosine",
                    "warmup_ratio": 0.03,
                },
            },
        ),
        Preset(
            key="qlora-large",
            title="QLoRA: a 7-8B model on one GPU",
            description="Load a large model in 4-bit and train LoRA adapters on top: a 7B model fits in about "
            "10-16 GB of GPU memory. Needs an NVIDIA GPU.",
            task="causal_lm",
            method="qlora",
            model="Qwen/Qwen2.5-7B-Instruct",
            settings={
                "data": {"max_length": 1024},
                "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": ["all-linear"]},
                "training": {
                    "batch_size": 4,
                    "gradient_accumulation_steps": 4,
                    "gradient_checkpointing": True,
                    "optimizer": "paged_adamw_8bit",
                    "scheduler": "cosine",
                    "warmup_ratio": 0.03,
                },
            },
        ),
        Preset(
            key="preference-dpo",
            title="Prefer good answers (DPO) with LoRA",
            description="Teach a small chat model which of two answers is better, from pairs you wrote: a prompt, "
            "the good answer and a bad one. Trains LoRA adapters with DPO; the model stays close to where it started.",
            task="preference",
            method="lora",
            model="HuggingFaceTB/SmolLM2-135M-Instruct",
            settings={
                "data": {"max_length": 256},
                "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": ["all-linear"]},
                # bench/preference_spike.py: 600 SST-2 pairs, one pass, batch 8, lr 5e-4, beta 0.1.
                "training": {"learning_rate": 5e-4, "batch_size": 8, "preference_beta": 0.1},
            },
        ),
        Preset(
            key="text2text-flan-t5",
            title="Text-to-text with flan-t5 and LoRA",
            description="Turn an input text into an output text (a sentiment word, a summary, a fixed answer) with "
            "flan-t5 and LoRA adapters.",
            task="seq2seq",
            method="lora",
            model="google/flan-t5-base",
            settings={
                "data": {"max_length": 256, "max_target_length": 16},
                "lora": {"r": 16, "alpha": 32, "dropout": 0.05},
                # T5 is trained with larger steps than the usual LoRA rate.
                "training": {"learning_rate": 1e-3},
            },
        ),
    )
}


@dataclass(frozen=True)
class Example:
    """A known-good model and dataset for one task, with an offline file from assets/."""

    task: str
    title: str
    model: str
    dataset: str
    offline_file: str
    preset: str
    data: dict[str, Any] = field(default_factory=dict)
    offline_data: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


EXAMPLES: dict[str, Example] = {
    "classification": Example(
        task="classification",
        title="Movie-review sentiment (positive / negative)",
        model="distilbert-base-uncased",
        dataset="stanfordnlp/sst2",
        offline_file="sentiment.csv",
        preset="sentiment-encoder",
        data={"text_column": "sentence", "label_column": "label", "validation": "validation", "max_rows": 2000},
        offline_data={"text_column": "text", "label_column": "label"},
    ),
    "causal_lm": Example(
        task="causal_lm",
        title="Follow instructions (Alpaca-style questions and answers)",
        model="HuggingFaceTB/SmolLM2-135M-Instruct",
        dataset="tatsu-lab/alpaca",
        offline_file="instructions.jsonl",
        preset="instruction-lora",
        data={"prompt_column": "instruction", "input_column": "input", "response_column": "output", "max_rows": 1000},
        offline_data={"prompt_column": "instruction", "response_column": "response"},
    ),
    "preference": Example(
        task="preference",
        title="Prefer right and friendly answers (preference pairs)",
        model="HuggingFaceTB/SmolLM2-135M-Instruct",
        dataset="trl-lib/ultrafeedback_binarized",
        offline_file="preferences.jsonl",
        preset="preference-dpo",
        data={"chosen_column": "chosen", "rejected_column": "rejected", "max_rows": 600},
        offline_data={"prompt_column": "prompt", "chosen_column": "chosen", "rejected_column": "rejected"},
    ),
    "seq2seq": Example(
        task="seq2seq",
        title="Financial news sentiment as text-to-text",
        model="google/flan-t5-small",
        dataset="FinGPT/fingpt-sentiment-train",
        offline_file="text2text.csv",
        preset="text2text-flan-t5",
        data={"text_column": "input", "target_column": "output", "max_rows": 2000},
        offline_data={"text_column": "text", "target_column": "target"},
    ),
}


def presets_for(task: str | None = None) -> list[Preset]:
    """The presets of one task (all of them when task is None)."""
    return [p for p in PRESETS.values() if task is None or p.task == task]


def get_preset(key: str) -> Preset:
    """The preset with this key; a plain error for an unknown one."""
    try:
        return PRESETS[key]
    except KeyError:
        raise ValueError(f"Unknown preset {key!r}. Choose one of: {', '.join(PRESETS)}.") from None


def example_file(task: str) -> Path:
    """The bundled offline example data file for a task."""
    return EXAMPLES_DIR / _example(task).offline_file


def example_config(task: str, *, online: bool, local_model: str | None = None) -> dict[str, Any]:
    """A partial config for the task's example: Hub model and dataset when online, the assets/ file offline.

    Offline, the model is `local_model` (any model folder on this machine) or left empty for the
    user to pick.
    """
    ex = _example(task)
    config = get_preset(ex.preset).config(with_model=False)
    data = dict(config.get("data", {}))
    if online:
        model = ex.model
        data.update(train=ex.dataset, **ex.data)
    else:
        model = local_model or ""
        data.update(train=str(example_file(task)), **ex.offline_data)
    config["data"] = data
    config["model"] = {"name_or_path": model}
    config["training"] = {**config.get("training", {}), **ex.training}
    return config


def _example(task: str) -> Example:
    if task not in EXAMPLES:
        raise ValueError(f"Unknown task {task!r}. Choose one of: {', '.join(TASK_NAMES)}.")
    return EXAMPLES[task]
