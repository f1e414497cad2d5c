"""The run config: JSON round-trip, the hand-written shape, validation, and the one conversion site."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from ft_app.config import (
    CUDA_ONLY_OPTIMIZERS,
    OPTIMIZERS,
    SCHEDULERS,
    ConfigError,
    RunConfig,
    Schedule,
    resolve_precision,
    resolve_schedule,
    to_bnb_config,
    to_lora_config,
    to_training_arguments,
)
from ft_app.methods import get_method

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
    ("raw", "match", "path"),
    [
        ({"training": {"batch_size": 2.5}}, r"^Batch size must be a whole number, not 2.5\.$", "training.batch_size"),
        ({"training": {"early_stopping": "yes"}}, r"^Early stopping must be yes or no \(true or false\), not 'yes'",
         "training.early_stopping"),
        ({"training": {"batch_size": None}}, r"^Batch size needs a value", "training.batch_size"),
        ({"training": {"epochs": 0}}, r"^Epochs must be more than 0, not 0: use a value above 0 \(or leave it empty\)",
         "training.epochs"),
        ({"training": {"scheduler": "exponential"}}, r"^Scheduler 'exponential' is not one of: linear, cosine",
         "training.scheduler"),
        ({"training": {"optimizer": "lion"}}, r"^Optimizer 'lion' is not one of", "training.optimizer"),
        ({"task": "translation"}, r"^Task 'translation' is not one of", "task"),
        ({"method": "prefix"}, r"^Training method 'prefix' is not one of", "method"),
        ({"task": "causal_lm", "method": "head"}, r"^Training method 'head'.*'lora'", "method"),
        ({"training": {"learning_rate": 5}}, r"^Learning rate 5 is far too high and would make the loss explode; try 0\.00005",
         "training.learning_rate"),
        ({"method": "lora", "training": {"learning_rate": 2}}, r"^Learning rate 2 is far too high.*try 0\.0002",
         "training.learning_rate"),
        ({"training": {"warmup_ratio": 0.1, "warmup_steps": 5}}, r"^Warmup ratio \(0.1\) and warmup steps \(5\) are both set",
         "training.warmup_ratio"),
        ({"training": {"warmup_ratio": 1.5}}, r"^Warmup ratio must be between 0 and 1, not 1.5", "training.warmup_ratio"),
        ({"training": {"early_stopping": True, "eval_strategy": "no"}},
         r"^Early stopping needs evaluation, but evaluation is off \(When to evaluate is 'no'\)", "training.early_stopping"),
        ({"training": {"early_stopping": True}, "data": {"validation_size": 0}},
         r"^Early stopping needs evaluation.*Held-out share for evaluation is 0", "training.early_stopping"),
        ({"training": {"seed": -1}}, r"^Seed must be a whole number of 0 or more, not -1", "training.seed"),
        ({"data": {"template": "Answer this: {question}"}}, r"^Prompt template 'Answer this: \{question\}' has no \{prompt\}",
         "data.template"),
        ({"data": {"validation_size": 2.5}}, r"^Held-out share for evaluation 2.5 is above 1", "data.validation_size"),
        ({"lora": {"dropout": 1.0}}, r"^LoRA dropout must be between 0 and 1, not 1", "lora.dropout"),
        ({"name": "../escape"}, r"^Run name '../escape' cannot be used", "name"),
        ({"model": ""}, r"^No model chosen: ", "model.name_or_path"),
        ({"data": {"train": " "}}, r"^Training data is empty", "data.train"),
        ({"model": {"name_or_path": "m", "size": 3}}, r"^Unknown key 'size' in 'model'", "model.size"),
        ({"training": {"lr": 1e-4}}, r"^Unknown key 'lr' in 'training'; did you mean 'learning_rate'\?", "training.lr"),
        ({"trainning": {}}, r"^Unknown key 'trainning' in the run config; did you mean 'training'\?", "trainning"),
    ],
)
def test_validation_uses_the_page_names_and_keeps_the_config_key(raw: dict, match: str, path: str) -> None:
    """Each bad value gets a ConfigError (a ValueError) in the page's words, naming the value; `path` is the JSON key."""
    with pytest.raises(ConfigError, match=match) as caught:
        _cfg(**raw)
    assert caught.value.path == path
    assert not re.search(r"\b(model|data|lora|training|evaluation)\.[a-z]", str(caught.value)), "a config path in the message"


def test_messages_stay_short_whatever_the_value() -> None:
    """A long value or a long list of choices is cut: no message runs to thousands of characters."""
    with pytest.raises(ConfigError) as caught:
        _cfg(data={"template": "x" * 5000})
    assert len(str(caught.value)) < 300 and "…" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        _cfg(training={"no_such_knob": 1})
    assert len(str(caught.value)) < 300 and str(caught.value).endswith("more.")
    with pytest.raises(ConfigError) as caught:
        _cfg(evaluation={"golden_prompts": [1] * 1000})
    assert len(str(caught.value)) < 300


def test_field_label_is_the_page_name() -> None:
    """One source of labels for the page and the messages: by field name or config path."""
    from ft_app.config import field_label

    assert field_label("training.learning_rate") == field_label("learning_rate") == "Learning rate"
    assert field_label("data.validation_size") == "Held-out share for evaluation"
    assert field_label("lora.r") == "LoRA rank (r)"


def test_run_name_with_spaces_becomes_dashes() -> None:
    """A name typed with spaces is kept as one name with dashes, not refused."""
    assert _cfg(name="  my first   run ").name == "my-first-run"
    assert _cfg(name="").name == ""


def test_load_missing_file(tmp_path: Path) -> None:
    """Loading a config file that is not there names the path."""
    with pytest.raises(ConfigError, match="nope.json.*does not exist"):
        RunConfig.load(tmp_path / "nope.json")


# ---------------------------------------------------------------- derived values


@pytest.mark.parametrize("method", ["full", "head", "lora", "qlora", "lora8bit"])
def test_learning_rate_default_per_method(method: str) -> None:
    """No learning rate given: the method's default reaches TrainingArguments; a given one wins."""
    config = _cfg(method=method)
    rate = get_method(method).base_learning_rate
    assert config.learning_rate == rate
    assert _args(config).learning_rate == rate  # a schedule without a model size
    assert _args(_cfg(method=method, training={"learning_rate": 3e-5})).learning_rate == 3e-5
    assert get_method("head").base_learning_rate > get_method("lora").base_learning_rate > get_method("full").base_learning_rate


def test_max_length_default_per_task() -> None:
    """No max length: a task default; a given one wins."""
    assert _cfg().max_length == 256
    assert _cfg(task="causal_lm").max_length == 512
    assert _cfg(data={"max_length": 64}).max_length == 64


def test_resolve_schedule() -> None:
    """Steps per epoch count the batch, accumulation and processes; max_steps overrides epochs."""
    config = _cfg(training={"batch_size": 4, "gradient_accumulation_steps": 2, "epochs": 3, "learning_rate": 3e-5,
                            "warmup_ratio": 0.0})
    assert resolve_schedule(config, 100, 1, True) == Schedule(
        total_steps=39, has_eval=True, steps_per_epoch=13, epochs=3.0, learning_rate=3e-5, warmup_steps=0,
        description="100 rows: 3 passes, 39 steps, learning rate 0.00003",
    )
    assert resolve_schedule(config, 100, 2, False).steps_per_epoch == 7
    assert resolve_schedule(_cfg(training={"max_steps": 5}), 10_000, 1, True).total_steps == 5
    assert resolve_schedule(_cfg(training={"epochs": 0.5}), 3, 1, True).total_steps == 1


def test_resolve_schedule_fills_the_empty_knobs_from_the_data_and_model() -> None:
    """No knob given: passes from the row count, learning rate from the model size, 10% warm-up; they reach the Trainer."""
    small = resolve_schedule(_cfg(), 400, 1, True, model_params=22_700_000)
    assert (small.epochs, small.total_steps, small.learning_rate, small.warmup_steps) == (8.0, 400, 1e-4, 40)
    assert small.description == "400 rows: 8 passes, 400 steps, learning rate 0.0001, warm-up 40 steps"
    large = resolve_schedule(_cfg(), 8000, 1, True, model_params=22_700_000)
    assert (large.epochs, large.total_steps) == (3.0, 3000)
    args = to_training_arguments(_cfg(), "/tmp/ft-app-test-args", small, precision="fp32", use_cpu=True)
    assert args.num_train_epochs == 8.0 and args.learning_rate == 1e-4 and args.get_warmup_steps(400) == 40
    # Given knobs win over the recipe.
    given = resolve_schedule(_cfg(training={"epochs": 1, "learning_rate": 2e-5, "warmup_steps": 3}), 400, 1, True,
                             model_params=22_700_000)
    assert (given.epochs, given.total_steps, given.learning_rate, given.warmup_steps) == (1.0, 50, 2e-5, 3)


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
    """auto evaluates about 5 times and saves with each evaluation; the last model is kept unless asked (measured:
    bench/keep_best.py); no eval data turns evaluation off."""
    auto = _args(_cfg(), total=100)
    assert (auto.eval_strategy.value, auto.eval_steps) == ("steps", 20)
    assert (auto.save_strategy.value, auto.save_steps) == ("steps", 20)
    assert auto.load_best_model_at_end is False and auto.metric_for_best_model is None
    # Asked for, the best checkpoint is chosen by the task's own measure: accuracy for labels, eval loss for text.
    kept = _args(_cfg(training={"load_best_model_at_end": True}))
    assert kept.metric_for_best_model == "eval_accuracy" and kept.greater_is_better is True
    text = _args(_cfg(task="causal_lm", training={"load_best_model_at_end": True}))
    assert text.metric_for_best_model == "eval_loss" and text.greater_is_better is False

    epoch = _args(_cfg(training={"eval_strategy": "epoch", "save_strategy": "no"}))
    assert epoch.eval_strategy.value == "epoch" and epoch.save_strategy.value == "no"
    steps = _args(_cfg(training={"eval_strategy": "steps", "eval_steps": 7, "save_strategy": "steps", "save_steps": 14}))
    assert (steps.eval_steps, steps.save_steps) == (7, 14)

    no_eval = _args(_cfg(), has_eval=False)
    assert no_eval.eval_strategy.value == "no" and no_eval.save_strategy.value == "no"


def test_scheduler_and_optimizer_choices_are_transformers_own() -> None:
    """The page's choices are values of transformers' enums (a curated few of them), so they cannot drift."""
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    assert set(SCHEDULERS) <= {s.value for s in SchedulerType}
    assert set(OPTIMIZERS) <= {o.value for o in OptimizerNames}
    assert set(CUDA_ONLY_OPTIMIZERS) <= set(OPTIMIZERS)


def test_early_stopping_keeps_best_model() -> None:
    """Early stopping turns on load_best_model_at_end with the metric and its direction."""
    loss = _args(_cfg(training={"early_stopping": True, "metric_for_best_model": "eval_loss"}))
    assert loss.load_best_model_at_end is True
    assert loss.metric_for_best_model == "eval_loss" and loss.greater_is_better is False
    acc = _args(_cfg(training={"early_stopping": True, "metric_for_best_model": "accuracy"}))
    assert acc.metric_for_best_model == "eval_accuracy" and acc.greater_is_better is True
    explicit = _args(_cfg(training={"load_best_model_at_end": True, "metric_for_best_model": "eval_f1"}))
    assert explicit.load_best_model_at_end and explicit.metric_for_best_model == "eval_f1"
    # Without evaluation there is no best checkpoint to keep.
    assert _args(_cfg(training={"load_best_model_at_end": True}), has_eval=False).load_best_model_at_end is False
    # TrainingArguments' own checks refuse these; their errors come back in the page's words.
    with pytest.raises(ConfigError, match="same schedule") as refused:
        _args(_cfg(training={"early_stopping": True, "save_strategy": "epoch"}))
    assert "load_best_model_at_end" in str(refused.value.__cause__)
    with pytest.raises(ConfigError, match=r"'Save every \(steps\)' \(15\) to be a multiple of 'Evaluate every \(steps\)' \(10\)"):
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
