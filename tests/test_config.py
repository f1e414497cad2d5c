"""The run config: JSON round-trip, the hand-written shape, validation, and the one conversion site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ft_app.config import (
    DEFAULT_LEARNING_RATES,
    ConfigError,
    RunConfig,
    Schedule,
    resolve_precision,
    resolve_schedule,
    to_bnb_config,
    to_lora_config,
    to_training_arguments,
)

ISSUE_EXAMPLE = """
{"task": "classification", "model": "distilbert-base-uncased or ./a/local/folder",
 "method": "full",
 "data": {"train": "imdb or ./reviews.csv", "validation": null,
          "text_column": null, "label_column": null, "max_rows": null},
 "training": {"epochs": 1, "learning_rate": 5e-5, "batch_size": 16, "max_steps": null, "seed": 42}}
"""


def _cfg(**overrides) -> RunConfig:
    raw = {"task": "classification", "model": "m", "data": {"train": "d.csv"}}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return RunConfig.from_dict(raw)


def _args(config: RunConfig, total: int = 100, has_eval: bool = True, tmp: str = "/tmp/ft-app-test-args"):
    return to_training_arguments(config, tmp, Schedule(total, has_eval, total), precision="fp32", use_cpu=True)


# ---------------------------------------------------------------- parsing and round-trip


def test_issue_example_parses() -> None:
    """The hand-written shape from the issue parses; nulls mean auto-detect, the rest are defaults."""
    config = RunConfig.from_json(ISSUE_EXAMPLE)
    assert config.task == "classification" and config.method == "full"
    assert config.model.name_or_path == "distilbert-base-uncased or ./a/local/folder"
    assert config.data.train == "imdb or ./reviews.csv"
    assert config.data.validation is None and config.data.text_column is None and config.data.max_rows is None
    t = config.training
    assert (t.epochs, t.learning_rate, t.batch_size, t.max_steps, t.seed) == (1.0, 5e-5, 16, None, 42)
    assert config.lora.r == 8 and config.model.trust_remote_code is False


def test_round_trip_keeps_every_value(tmp_path: Path) -> None:
    """to_dict -> from_dict, to_json -> from_json and save -> load give an equal config."""
    config = RunConfig.from_dict(
        {
            "task": "causal_lm",
            "model": {"name_or_path": "./tiny", "revision": "main", "dtype": "bfloat16"},
            "method": "lora",
            "name": "my-run_1",
            "data": {
                "train": "./chat.jsonl",
                "validation": "./val.jsonl",
                "messages_column": "messages",
                "template": "### Q:\n{prompt}\n### A:\n",
                "system_prompt": "Be brief.",
                "loss_on_prompt": True,
                "max_length": 96,
                "max_rows": 100,
            },
            "lora": {"r": 4, "alpha": 8, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]},
            "training": {
                "epochs": 2.5,
                "learning_rate": 1e-4,
                "batch_size": 2,
                "gradient_accumulation_steps": 4,
                "weight_decay": 0.01,
                "warmup_ratio": 0.1,
                "scheduler": "cosine",
                "optimizer": "adafactor",
                "eval_strategy": "steps",
                "eval_steps": 10,
                "save_strategy": "steps",
                "save_steps": 20,
                "early_stopping": True,
                "early_stopping_patience": 2,
                "metric_for_best_model": "eval_loss",
                "group_by_length": False,
                "seed": 7,
            },
        }
    )
    assert RunConfig.from_dict(config.to_dict()) == config
    assert RunConfig.from_json(config.to_json()) == config
    config.save(tmp_path / "run.json")
    assert RunConfig.load(tmp_path / "run.json") == config
    assert json.loads((tmp_path / "run.json").read_text())["lora"]["target_modules"] == ["q_proj", "v_proj"]
    assert RunConfig.from_dict(RunConfig.from_dict({"model": "m", "data": "d.csv"}).to_dict()) == RunConfig.from_dict(
        {"model": "m", "data": "d.csv"}
    )


def test_friendly_shapes_are_accepted() -> None:
    """A model or data string stands for its main field; model aliases, JSON ints for floats, comma lists."""
    a = RunConfig.from_dict({"model": "bert", "data": "x.csv"})
    b = RunConfig.from_dict({"model": {"id": "bert"}, "data": {"train": "x.csv"}})
    assert a == b and a.model.name_or_path == "bert"
    c = _cfg(training={"epochs": 2, "learning_rate": "3e-5"}, lora={"target_modules": "q_proj, v_proj"})
    assert c.training.epochs == 2.0 and isinstance(c.training.epochs, float)
    assert c.training.learning_rate == 3e-5
    assert c.lora.target_modules == ["q_proj", "v_proj"]
    assert _cfg(training={"batch_size": 8.0}).training.batch_size == 8


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"training": {"batch_size": 2.5}}, r"training.batch_size must be a whole number, got 2.5"),
        ({"training": {"early_stopping": "yes"}}, r"training.early_stopping must be true or false"),
        ({"training": {"epochs": None}}, r"training.epochs needs a value"),
        ({"training": {"scheduler": "exponential"}}, r"training.scheduler 'exponential' is not one of: linear"),
        ({"training": {"optimizer": "lion"}}, r"'lion' is not one of"),
        ({"task": "translation"}, r"task 'translation' is not one of"),
        ({"method": "prefix"}, r"method 'prefix' is not one of"),
        ({"task": "causal_lm", "method": "head"}, r"method 'head'.*'lora'"),
        ({"training": {"learning_rate": 2}}, r"learning_rate 2.*far too high"),
        ({"training": {"warmup_ratio": 0.1, "warmup_steps": 5}}, r"both set"),
        ({"training": {"warmup_ratio": 1.5}}, r"warmup_ratio must be between 0 and 1, got 1.5"),
        ({"training": {"early_stopping": True, "eval_strategy": "no"}}, r"early_stopping needs evaluation"),
        ({"training": {"early_stopping": True}, "data": {"validation_size": 0}}, r"early_stopping needs evaluation"),
        ({"training": {"seed": -1}}, r"seed must be a whole number of 0 or more, got -1"),
        ({"data": {"template": "Answer this: {question}"}}, r"has no \{prompt\} placeholder"),
        ({"data": {"validation_size": 2.5}}, r"validation_size 2.5 is above 1"),
        ({"lora": {"dropout": 1.0}}, r"lora.dropout must be between 0 and 1, got 1.0"),
        ({"name": "../escape"}, r"not a valid run name"),
        ({"model": ""}, r"model is empty"),
        ({"data": {"train": " "}}, r"data.train is empty"),
        ({"model": {"name_or_path": "m", "size": 3}}, r"Unknown key 'size' in 'model'"),
    ],
)
def test_validation_names_field_and_value(raw: dict, match: str) -> None:
    """Each bad value gets a ConfigError (a ValueError) that names the field and the value."""
    with pytest.raises(ConfigError, match=match):
        _cfg(**raw)


def test_load_missing_file(tmp_path: Path) -> None:
    """Loading a config file that is not there names the path."""
    with pytest.raises(ConfigError, match="nope.json.*does not exist"):
        RunConfig.load(tmp_path / "nope.json")


# ---------------------------------------------------------------- derived values


@pytest.mark.parametrize("method", ["full", "head", "lora", "qlora", "lora8bit"])
def test_learning_rate_default_per_method(method: str) -> None:
    """No learning rate given: the method's default reaches TrainingArguments; a given one wins."""
    config = _cfg(method=method)
    assert config.learning_rate == DEFAULT_LEARNING_RATES[method]
    assert _args(config).learning_rate == DEFAULT_LEARNING_RATES[method]
    assert _args(_cfg(method=method, training={"learning_rate": 3e-5})).learning_rate == 3e-5
    assert DEFAULT_LEARNING_RATES["head"] > DEFAULT_LEARNING_RATES["lora"] > DEFAULT_LEARNING_RATES["full"]


def test_max_length_default_per_task() -> None:
    """No max length: a task default; a given one wins."""
    assert _cfg().max_length == 256
    assert _cfg(task="causal_lm").max_length == 512
    assert _cfg(data={"max_length": 64}).max_length == 64


def test_resolve_schedule() -> None:
    """Steps per epoch count the batch, accumulation and processes; max_steps overrides epochs."""
    config = _cfg(training={"batch_size": 4, "gradient_accumulation_steps": 2, "epochs": 3})
    assert resolve_schedule(config, 100, 1, True) == Schedule(total_steps=39, has_eval=True, steps_per_epoch=13)
    assert resolve_schedule(config, 100, 2, False).steps_per_epoch == 7
    assert resolve_schedule(_cfg(training={"max_steps": 5}), 10_000, 1, True).total_steps == 5
    assert resolve_schedule(_cfg(training={"epochs": 0.5}), 3, 1, True).total_steps == 1


def test_resolve_precision() -> None:
    """auto is fp32 on CPU and bf16/fp16 on a GPU; half precision on CPU is refused with the fix."""
    assert resolve_precision(_cfg(), cuda=False, bf16_supported=False) == "fp32"
    assert resolve_precision(_cfg(), cuda=True, bf16_supported=True) == "bf16"
    assert resolve_precision(_cfg(), cuda=True, bf16_supported=False) == "fp16"
    with pytest.raises(ConfigError, match="'fp16' needs an NVIDIA GPU.*'fp32'"):
        resolve_precision(_cfg(training={"precision": "fp16"}), cuda=False, bf16_supported=False)
    with pytest.raises(ConfigError, match="'bf16' is not supported by this GPU"):
        resolve_precision(_cfg(training={"precision": "bf16"}), cuda=True, bf16_supported=False)


# ---------------------------------------------------------------- TrainingArguments


def test_training_arguments_map_the_knobs() -> None:
    """Each knob lands on its TrainingArguments field."""
    config = _cfg(
        training={
            "epochs": 2,
            "batch_size": 3,
            "eval_batch_size": 5,
            "gradient_accumulation_steps": 4,
            "weight_decay": 0.01,
            "warmup_ratio": 0.1,
            "max_grad_norm": 0.5,
            "scheduler": "cosine",
            "optimizer": "adafactor",
            "seed": 11,
            "logging_steps": 7,
            "save_total_limit": 3,
        }
    )
    args = _args(config, total=200)
    assert args.num_train_epochs == 2.0 and args.max_steps == -1
    assert args.per_device_train_batch_size == 3 and args.per_device_eval_batch_size == 5
    assert args.gradient_accumulation_steps == 4 and args.weight_decay == 0.01 and args.max_grad_norm == 0.5
    assert args.get_warmup_steps(200) == 20
    assert args.lr_scheduler_type.value == "cosine" and args.optim.value == "adafactor"
    assert args.seed == 11 and args.data_seed == 11
    assert args.logging_steps == 7 and args.logging_first_step and args.save_total_limit == 3
    assert args.report_to in ([], "none", ["none"]) or not args.report_to
    assert args.logging_nan_inf_filter is False  # NaN must reach the metrics callback
    assert args.fp16 is False and args.bf16 is False
    assert _args(_cfg(training={"warmup_steps": 15})).get_warmup_steps(200) == 15
    assert _args(_cfg(training={"max_steps": 9})).max_steps == 9
    assert _args(_cfg(), total=500).logging_steps == 10  # auto: about 50 points
    assert _args(_cfg(), total=20).logging_steps == 1
    checkpointing = _args(_cfg(training={"gradient_checkpointing": True}))
    assert checkpointing.activation_checkpointing or checkpointing.gradient_checkpointing


def test_eval_and_save_strategies() -> None:
    """auto evaluates about 5 times and saves with each evaluation; no eval data turns evaluation off."""
    auto = _args(_cfg(), total=100)
    assert (auto.eval_strategy.value, auto.eval_steps) == ("steps", 20)
    assert (auto.save_strategy.value, auto.save_steps) == ("steps", 20)
    assert auto.load_best_model_at_end is False and auto.metric_for_best_model is None

    epoch = _args(_cfg(training={"eval_strategy": "epoch", "save_strategy": "no"}))
    assert epoch.eval_strategy.value == "epoch" and epoch.save_strategy.value == "no"
    steps = _args(_cfg(training={"eval_strategy": "steps", "eval_steps": 7, "save_strategy": "steps", "save_steps": 14}))
    assert (steps.eval_steps, steps.save_steps) == (7, 14)

    no_eval = _args(_cfg(), has_eval=False)
    assert no_eval.eval_strategy.value == "no" and no_eval.save_strategy.value == "no"


def test_early_stopping_keeps_best_model() -> None:
    """Early stopping turns on load_best_model_at_end with the metric and its direction."""
    loss = _args(_cfg(training={"early_stopping": True}))
    assert loss.load_best_model_at_end is True
    assert loss.metric_for_best_model == "eval_loss" and loss.greater_is_better is False
    acc = _args(_cfg(training={"early_stopping": True, "metric_for_best_model": "accuracy"}))
    assert acc.metric_for_best_model == "eval_accuracy" and acc.greater_is_better is True
    explicit = _args(_cfg(training={"load_best_model_at_end": True, "metric_for_best_model": "eval_f1"}))
    assert explicit.load_best_model_at_end and explicit.metric_for_best_model == "eval_f1"
    # Without evaluation there is no best checkpoint to keep.
    assert _args(_cfg(training={"load_best_model_at_end": True}), has_eval=False).load_best_model_at_end is False
    with pytest.raises(ConfigError, match="same schedule"):
        _args(_cfg(training={"early_stopping": True, "save_strategy": "epoch"}))
    with pytest.raises(ConfigError, match=r"save_steps \(15\) to be a multiple of eval_steps \(10\)"):
        _args(
            _cfg(
                training={
                    "early_stopping": True,
                    "eval_strategy": "steps",
                    "eval_steps": 10,
                    "save_strategy": "steps",
                    "save_steps": 15,
                }
            )
        )


# ---------------------------------------------------------------- LoRA and bitsandbytes configs


@pytest.mark.parametrize(
    ("task", "task_type"),
    [("classification", "SEQ_CLS"), ("causal_lm", "CAUSAL_LM"), ("seq2seq", "SEQ_2_SEQ_LM")],
)
def test_lora_config(task: str, task_type: str) -> None:
    """r, alpha, dropout and the task type reach LoraConfig."""
    config = _cfg(task=task, method="lora", lora={"r": 4, "alpha": 32, "dropout": 0.2})
    lora = to_lora_config(config, "llama")
    assert lora.task_type.value == task_type
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (4, 32, 0.2)


def test_lora_target_modules() -> None:
    """Known architectures use peft's usual layers; unknown ones adapt all linear layers; a list is kept."""
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as KNOWN

    config = _cfg(method="lora")
    assert "llama" in KNOWN and to_lora_config(config, "llama").target_modules is None
    assert to_lora_config(config, "my-new-arch").target_modules == "all-linear"
    given = _cfg(method="lora", lora={"target_modules": ["q_proj", "k_proj"]})
    assert set(to_lora_config(given, "llama").target_modules) == {"q_proj", "k_proj"}
    every = _cfg(method="lora", lora={"target_modules": ["all-linear"]})
    assert to_lora_config(every, "llama").target_modules == "all-linear"


def test_bnb_config() -> None:
    """QLoRA is 4-bit NF4 with double quantization and the compute dtype; lora8bit is 8-bit; others none."""
    q = to_bnb_config(_cfg(task="causal_lm", method="qlora"), torch.bfloat16)
    assert q.load_in_4bit and not q.load_in_8bit
    assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert q.bnb_4bit_compute_dtype == torch.bfloat16
    e = to_bnb_config(_cfg(task="causal_lm", method="lora8bit"), torch.float16)
    assert e.load_in_8bit and not e.load_in_4bit
    assert to_bnb_config(_cfg(method="lora"), torch.float16) is None
    assert to_bnb_config(_cfg(method="full"), torch.float16) is None
