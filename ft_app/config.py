"""Typed run config: model, data, method and training knobs, validated in one place.

This module is the ONE place that converts a run config into `TrainingArguments`,
`LoraConfig` and `BitsAndBytesConfig`. Heavy libraries are imported inside those functions.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from ft_app import limits
from ft_app.methods import METHOD_NAMES, get_method
from ft_app.tasks import TASK_NAMES, get_task
from ft_app.tracking import REPORT_TO_CHOICES, TRACKER_PACKAGES

Precision = Literal["auto", "fp32", "fp16", "bf16"]
Strategy = Literal["auto", "steps", "epoch", "no"]
ModelDtype = Literal["auto", "float32", "float16", "bfloat16"]
ReportTo = Literal["none", "tensorboard", "trackio"]
LabelWeights = Literal["auto", "balanced", "none"]
PreferenceLoss = Literal["dpo", "orpo"]

# The page's choices: curated values of transformers' SchedulerType and OptimizerNames (the full enums hold dozens);
# TrainingArguments checks them against the enums, and tests/test_config.py keeps them a subset, so they cannot drift.
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)
OPTIMIZERS = (
    "adamw_torch",
    "adamw_torch_fused",
    "adafactor",
    "sgd",
    "adamw_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
)
CUDA_ONLY_OPTIMIZERS = ("adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit")

MIN_MAX_LENGTH = 8  # fewer tokens leave no room for text beside the markers a model adds (BERT: 2)
# Values no run could reach on any machine: a typo or a probe, refused everywhere (hosts set their own limits).
MAX_EPOCHS = 1e6
MAX_STEPS = 1e9
# How many points the live curve should get when logging_steps is left to "auto".
TARGET_LOG_POINTS = 50
# How many evaluations a run gets when eval_strategy is "auto".
TARGET_EVAL_POINTS = 5


class ConfigError(ValueError):
    """A config value a user can fix: the message uses the page's names; `path` is the config key (for a CLI user)."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


# The page's name for each config field (the widget label); a field not listed is its name with spaces.
FIELD_LABELS: dict[str, str] = {
    "task": "Task",
    "method": "Training method",
    "name": "Run name",
    "name_or_path": "Model",
    "revision": "Revision",
    "dtype": "Weight precision",
    "trust_remote_code": "Trust remote code",
    "train": "Training data",
    "validation": "Validation data",
    "dataset_config": "Dataset configuration",
    "train_split": "Split to train on",
    "validation_size": "Held-out share for evaluation",
    "text_column": "Text column",
    "label_column": "Label column",
    "prompt_column": "Prompt / instruction column",
    "input_column": "Extra input column",
    "response_column": "Response / answer column",
    "messages_column": "Chat messages column",
    "target_column": "Target text column",
    "chosen_column": "Good answer (chosen) column",
    "rejected_column": "Bad answer (rejected) column",
    "template": "Prompt template",
    "system_prompt": "System prompt",
    "loss_on_prompt": "Also learn the prompt",
    "max_length": "Max length (tokens)",
    "max_target_length": "Max target length (tokens)",
    "max_rows": "Use at most this many rows",
    "max_eval_rows": "Evaluate on at most this many rows",
    "r": "LoRA rank (r)",
    "alpha": "LoRA alpha",
    "dropout": "LoRA dropout",
    "target_modules": "Target layers",
    "max_steps": "Max steps",
    "eval_batch_size": "Eval batch size",
    "gradient_accumulation_steps": "Gradient accumulation steps",
    "max_grad_norm": "Max gradient norm",
    "warmup_ratio": "Warmup ratio",
    "warmup_steps": "Warmup steps",
    "precision": "Precision (fp16 / bf16)",
    "eval_strategy": "When to evaluate",
    "eval_steps": "Evaluate every (steps)",
    "save_strategy": "When to save checkpoints",
    "save_steps": "Save every (steps)",
    "logging_steps": "Log every (steps)",
    "save_total_limit": "Checkpoints to keep",
    "early_stopping_patience": "Early stopping patience",
    "load_best_model_at_end": "Keep the best checkpoint",
    "metric_for_best_model": "Metric for the best checkpoint",
    "group_by_length": "Group by length",
    "label_weights": "Label weights",
    "preference_loss": "Preference method",
    "preference_beta": "Preference strength (beta)",
    "before_after": "Test before and after training",
    "golden_prompts": "Test prompts",
    "golden_from_heldout": "Also test on this many held-out rows",
    "max_new_tokens": "Longest answer for test prompts (tokens)",
    "temperature": "Temperature for test prompts",
    "zero_shot_model": "Zero-shot baseline model",
    "exact_match_rows": "Rows checked for exact match",
}
# How long a value or a list may get inside a message.
MAX_SHOWN_CHARS = 60
MAX_SHOWN_ITEMS = 8


def field_label(name_or_path: str) -> str:
    """The page's name for a config field: 'training.learning_rate' or 'learning_rate' -> 'Learning rate'."""
    name = name_or_path.rsplit(".", 1)[-1]
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def _help(text: str, separator: str = ",", **kwargs: Any) -> Any:
    """A dataclass field with its plain-language help (and, for lists, how a typed string splits)."""
    return field(metadata={"help": text, "separator": separator}, **kwargs)


@dataclass
class ModelConfig:
    """Which pretrained model to start from."""

    name_or_path: str = _help("A Hugging Face Hub model id (e.g. distilbert-base-uncased) or a local folder.", default="")
    revision: str | None = _help("Hub branch, tag or commit to use; empty means the default branch.", default=None)
    dtype: ModelDtype = _help("Weight precision when loading; auto picks what suits the device and method.", default="auto")
    trust_remote_code: bool = _help(
        "Run Python code shipped with the model. Off unless you trust the model's authors.", default=False
    )


@dataclass
class DataConfig:
    """Where the examples come from and which columns mean what."""

    train: str = _help("A Hub dataset id (e.g. imdb) or a local CSV/TSV/JSON/JSONL/Parquet file or dataset folder.", default="")
    validation: str | None = _help(
        "A separate file or Hub dataset, or a split name of the training dataset; empty means a held-out slice.",
        default=None,
    )
    dataset_config: str | None = _help("The Hub dataset's configuration (subset) name, if it has several.", default=None)
    train_split: str = _help("Which split of the training source to train on.", default="train")
    validation_size: float = _help(
        "When there is no validation data: the share (0-1) or number of training rows held out for evaluation.",
        default=0.1,
    )
    text_column: str | None = _help("Column with the input text; empty means detect it.", default=None)
    label_column: str | None = _help("Classification: column with the label; empty means detect it.", default=None)
    prompt_column: str | None = _help("Instruction tuning: column with the prompt or instruction.", default=None)
    input_column: str | None = _help("Instruction tuning: optional extra input column (Alpaca style).", default=None)
    response_column: str | None = _help("Instruction tuning: column with the answer to learn.", default=None)
    messages_column: str | None = _help("Chat data: column with a list of {role, content} messages.", default=None)
    target_column: str | None = _help("Seq2seq: column with the target text.", default=None)
    chosen_column: str | None = _help("Preference pairs: column with the good (chosen) answer.", default=None)
    rejected_column: str | None = _help("Preference pairs: column with the bad (rejected) answer.", default=None)
    template: str | None = _help(
        "Causal LM prompt template with {prompt} (and optionally {input}); 'chat' uses the tokenizer's chat "
        "template; empty picks the chat template when the tokenizer has one, else a plain instruction template.",
        default=None,
    )
    system_prompt: str | None = _help("Causal LM with a chat template: an optional system message.", default=None)
    loss_on_prompt: bool = _help(
        "Causal LM: also learn to reproduce the prompt (full-sequence loss). Off trains on answers only.", default=False
    )
    max_length: int | None = _help("Longest input in tokens; longer inputs are cut. Empty means a task default.", default=None)
    max_target_length: int = _help("Seq2seq: longest target in tokens.", default=128)
    max_rows: int | None = _help("Use at most this many training rows (for quick tries).", default=None)
    max_eval_rows: int | None = _help(
        "Evaluate on at most this many held-out rows (keeps evaluation quick); empty means all of them.", default=1000
    )


@dataclass
class LoraSettings:
    """LoRA adapter knobs."""

    r: int = _help("Adapter rank: higher learns more but is bigger and slower (4-64).", default=8)
    alpha: int = _help("Adapter scaling; usually twice the rank.", default=16)
    dropout: float = _help("Dropout on the adapter; raise it (0.1) if the model overfits.", default=0.05)
    target_modules: list[str] | None = _help(
        "Layers that get adapters; empty picks the usual ones for the architecture, 'all-linear' adapts all.",
        default=None,
    )


@dataclass
class TrainingSettings:
    """The knobs of training that matter."""

    epochs: float | None = _help(
        "Passes over the training data; empty lets the data size decide (more passes for small data, fewer for large).",
        default=None,
    )
    max_steps: int | None = _help("Stop after this many optimizer steps (overrides epochs).", default=None)
    learning_rate: float | None = _help(
        "Step size. Too high: loss jumps or becomes NaN; too low: loss stays flat. Empty picks one for the method "
        "and the model's size.",
        default=None,
    )
    batch_size: int = _help("Examples per step on each device. Lower it if you run out of memory.", default=8)
    eval_batch_size: int | None = _help("Examples per evaluation step; empty means twice the batch size.", default=None)
    gradient_accumulation_steps: int = _help(
        "Add up gradients over this many steps before updating: a bigger effective batch without more memory.", default=1
    )
    weight_decay: float = _help("Pulls weights toward zero to fight overfitting (0-0.1).", default=0.0)
    warmup_ratio: float | None = _help(
        "Share of steps (0-1) spent ramping the learning rate up from zero; empty means 10% (unless warm-up steps are set).",
        default=None,
    )
    warmup_steps: int = _help("Number of steps spent ramping the learning rate up (instead of warmup_ratio).", default=0)
    max_grad_norm: float = _help("Clips large gradients; keeps training stable (1.0 is standard).", default=1.0)
    scheduler: str = _help("How the learning rate changes over training (linear decay is standard).", default="linear")
    optimizer: str = _help(
        "The optimizer; adamw_torch_fused is standard AdamW in one fused kernel (the fastest), 8-bit ones save GPU memory.",
        # transformers' own default since torch 2.8; adamw_torch (a per-tensor loop on CPU) cost MiniLM ~20% more per step.
        default="adamw_torch_fused",
    )
    precision: Precision = _help("Number format for training math; auto uses bf16/fp16 on a GPU, fp32 on CPU.", default="auto")
    gradient_checkpointing: bool = _help("Recompute activations to save memory, at about 30% more time.", default=False)
    eval_strategy: Strategy = _help("When to evaluate: auto (a few times per run), steps, epoch or no.", default="auto")
    eval_steps: int | None = _help("With eval_strategy steps: evaluate every this many steps.", default=None)
    save_strategy: Strategy = _help("When to save checkpoints: auto (with each evaluation), steps, epoch or no.", default="auto")
    save_steps: int | None = _help("With save_strategy steps: save every this many steps.", default=None)
    logging_steps: int | None = _help("Log the loss every this many steps; empty aims for about 50 points.", default=None)
    save_total_limit: int | None = _help("Keep at most this many checkpoints on disk.", default=2)
    early_stopping: bool = _help(
        "Stop when the best-checkpoint metric stops improving, and keep the best checkpoint (off by default: on 400 "
        "rows, picking the best of a few dozen held-out rows cost accuracy; bench/README.md).",
        default=False,
    )
    early_stopping_patience: int = _help("Evaluations without improvement before early stopping.", default=3)
    load_best_model_at_end: bool | None = _help(
        "Keep the checkpoint with the best eval metric at the end; empty means on with early stopping.",
        default=None,
    )
    metric_for_best_model: str = _help(
        "Metric that decides the best checkpoint (eval_loss, accuracy, f1); auto: the task's own measure (accuracy "
        "for labels, eval loss for text).",
        default="auto",
    )
    group_by_length: bool = _help("Batch examples of similar length together: much less padding, faster.", default=True)
    label_weights: LabelWeights = _help(
        "Classification: balanced makes every label count the same in training however few rows have it, so the "
        "model does not lean toward the most common label; none counts every row the same; auto lets the method "
        "decide (balanced for a new head only).",
        default="auto",
    )
    seed: int = _help("Random seed; the same seed gives the same run.", default=42)
    preference_loss: PreferenceLoss = _help(
        "Preference pairs: dpo (Direct Preference Optimization, against the model as it started) or orpo (odds "
        "ratio, no reference model: lighter, also learns the good answers).",
        default="dpo",
    )
    preference_beta: float = _help(
        "Preference pairs: how far the model may move from where it started to prefer the good answers (0.1 is "
        "standard; lower moves further).",
        default=0.1,
    )
    report_to: ReportTo = _help(
        "Also log the curves to TensorBoard or Trackio (their package must be installed); none keeps them in the app.",
        default="none",
    )
    devices: list[int] | None = _help(
        "GPUs to train on, by number (e.g. 0, 1). Empty uses every GPU this machine shows.", default=None
    )
    num_processes: int | None = _help(
        "Training processes, one per GPU; more than one trains in parallel (accelerate). Empty: one per chosen GPU, "
        "or one on a machine without a GPU.",
        default=None,
    )


@dataclass
class EvaluationSettings:
    """Before/after evaluation, golden prompts and the zero-shot baseline."""

    before_after: bool = _help(
        "Evaluate the base model on the held-out rows before training and the fine-tuned one after.", default=True
    )
    golden_prompts: list[str] = _help(
        "Prompts answered by the base model before training and by the fine-tuned model after (one per line).",
        separator="\n",
        default_factory=list,
    )
    golden_from_heldout: int = _help("Also answer this many held-out rows (with their references) before and after.", default=0)
    max_new_tokens: int = _help("Longest generated answer for golden prompts and exact-match scoring.", default=64)
    temperature: float = _help("0 answers the same way every time (greedy); higher is more varied.", default=0.0)
    zero_shot_model: str | None = _help(
        "Classification: an NLI model scoring the held-out rows with no training, as a baseline "
        "(e.g. cross-encoder/nli-distilroberta-base). Empty skips it.",
        default=None,
    )
    exact_match_rows: int = _help("Seq2seq: held-out rows whose generated text is checked for exact match.", default=200)


@dataclass
class RunConfig:
    """Everything one fine-tuning run needs; what the form builds and the CLI reads."""

    task: str = "classification"  # a task of ft_app/tasks/ (TASK_NAMES)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: str = "full"  # a method of ft_app/methods.py (METHOD_NAMES)
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    name: str | None = None

    def __post_init__(self) -> None:
        self._mask_tokens()
        if isinstance(self.name, str) and self.name.strip():
            # A name typed with spaces ("my first run") is meant as one name: the folder gets dashes.
            self.name = re.sub(r"\s+", "-", self.name.strip())
        self.validate()

    def _mask_tokens(self) -> None:
        """Mask anything shaped like a Hugging Face token in every text field: a token pasted into the wrong box
        must never reach config.json, the page or a message (tokens travel beside the config, never in it)."""
        from ft_app.hub_token import redact

        for section in (self.model, self.data, self.lora, self.training, self.evaluation):
            if not dataclasses.is_dataclass(section):
                continue  # validate() says what is wrong with it
            for f in fields(section):
                value = getattr(section, f.name)
                if isinstance(value, str):
                    setattr(section, f.name, redact(value))
                elif isinstance(value, list):
                    setattr(section, f.name, [redact(v) if isinstance(v, str) else v for v in value])
        if isinstance(self.name, str):
            self.name = redact(self.name)

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ConfigError with a plain sentence for the first bad value."""
        _check_choice("task", self.task, TASK_NAMES)
        _check_choice("method", self.method, METHOD_NAMES)
        if not str(self.model.name_or_path).strip():
            from ft_app.catalog import no_model_message

            raise ConfigError(no_model_message(self.task), "model.name_or_path")
        _check_choice("model.dtype", self.model.dtype, get_args(ModelDtype))
        if not str(self.data.train).strip():
            raise ConfigError(
                "Training data is empty: give a Hub dataset id (e.g. imdb) or the path of a CSV/JSON/Parquet file.",
                "data.train",
            )
        task, method = get_task(self.task), get_method(self.method)
        if not method.fits(task.has_head):
            raise ConfigError(
                f"Training method '{method.name}' (train only a new head) fits classification, not the task "
                f"'{self.task}'. Use 'lora' to train a small part of a generative model.",
                "method",
            )
        if self.name is not None and self.name.strip():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.name.strip()):
                raise ConfigError(
                    f"Run name {_shown(self.name)} cannot be used: use up to 64 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit.",
                    "name",
                )
        d, t, lo = self.data, self.training, self.lora
        _check_positive("data.max_length", d.max_length, allow_none=True)
        if d.max_length is not None and d.max_length < MIN_MAX_LENGTH:
            raise ConfigError(
                f"{field_label('max_length')} {d.max_length} leaves no room for text: the model adds markers of its "
                f"own to every row. Use at least {MIN_MAX_LENGTH} ({task.default_max_length} is usual for this "
                "task), or leave it empty.",
                "data.max_length",
            )
        _check_positive("data.max_target_length", d.max_target_length)
        _check_positive("data.max_rows", d.max_rows, allow_none=True)
        _check_positive("data.max_eval_rows", d.max_eval_rows, allow_none=True)
        if not (_is_number(d.validation_size) and d.validation_size >= 0):
            raise ConfigError(
                f"{field_label('validation_size')} must be a share between 0 and 1 or a row count, not "
                f"{_shown(d.validation_size)}. Use 0.1 to hold out 10% of the rows, or 0 for no evaluation.",
                "data.validation_size",
            )
        if d.validation_size >= 1 and float(d.validation_size) != int(d.validation_size):
            raise ConfigError(
                f"{field_label('validation_size')} {_shown(d.validation_size)} is above 1 but not a whole number of "
                "rows. Use a share such as 0.1 or a row count such as 200.",
                "data.validation_size",
            )
        if d.template not in (None, "", "chat") and "{prompt}" not in d.template:
            raise ConfigError(
                f"{field_label('template')} {_shown(d.template)} has no {{prompt}} placeholder. Write it like "
                "'### Question:\\n{prompt}\\n### Answer:\\n', or leave it empty.",
                "data.template",
            )
        _check_positive("training.epochs", t.epochs, allow_none=True)
        _check_positive("training.max_steps", t.max_steps, allow_none=True)
        for path, value, cap in (("training.epochs", t.epochs, MAX_EPOCHS), ("training.max_steps", t.max_steps, MAX_STEPS)):
            if value is not None and value > cap:
                raise ConfigError(
                    f"{field_label(path)} {_shown(value)} is more than any run could reach on any machine (at most "
                    f"{cap:,.0f}). Leave it empty to let the data size decide: a few passes over the data are usual.",
                    path,
                )
        _check_positive("training.learning_rate", t.learning_rate, allow_none=True)
        if t.learning_rate is not None and t.learning_rate >= 1:
            raise ConfigError(
                f"Learning rate {t.learning_rate:g} is far too high and would make the loss explode; try "
                f"{_plain_number(method.base_learning_rate)}, or leave it empty to let the run choose.",
                "training.learning_rate",
            )
        _check_positive("training.batch_size", t.batch_size)
        _check_positive("training.eval_batch_size", t.eval_batch_size, allow_none=True)
        _check_positive("training.gradient_accumulation_steps", t.gradient_accumulation_steps)
        _check_non_negative("training.weight_decay", t.weight_decay)
        _check_non_negative("training.max_grad_norm", t.max_grad_norm)
        _check_non_negative("training.warmup_steps", t.warmup_steps)
        if t.warmup_ratio is not None and not (_is_number(t.warmup_ratio) and 0 <= t.warmup_ratio < 1):
            raise ConfigError(
                f"Warmup ratio must be between 0 and 1, not {_shown(t.warmup_ratio)}. Try 0.1, or leave it empty.",
                "training.warmup_ratio",
            )
        if t.warmup_ratio and t.warmup_steps:
            raise ConfigError(
                f"Warmup ratio ({t.warmup_ratio:g}) and warmup steps ({t.warmup_steps}) are both set: "
                "keep one and empty the other.",
                "training.warmup_ratio",
            )
        _check_choice("training.scheduler", t.scheduler, SCHEDULERS)
        _check_choice("training.optimizer", t.optimizer, OPTIMIZERS)
        _check_choice("training.precision", t.precision, get_args(Precision))
        _check_choice("training.eval_strategy", t.eval_strategy, get_args(Strategy))
        _check_choice("training.save_strategy", t.save_strategy, get_args(Strategy))
        _check_choice("training.report_to", t.report_to, get_args(ReportTo))
        _check_choice("training.label_weights", t.label_weights, get_args(LabelWeights))
        _check_choice("training.preference_loss", t.preference_loss, get_args(PreferenceLoss))
        if not isinstance(t.preference_beta, (int, float)) or isinstance(t.preference_beta, bool) or t.preference_beta <= 0:
            raise ConfigError(
                f"{field_label('preference_beta')} must be a number above 0, not {_shown(t.preference_beta)}. Use 0.1 "
                "if unsure.", "training.preference_beta")
        _check_positive("training.eval_steps", t.eval_steps, allow_none=True)
        _check_positive("training.save_steps", t.save_steps, allow_none=True)
        _check_positive("training.logging_steps", t.logging_steps, allow_none=True)
        _check_positive("training.save_total_limit", t.save_total_limit, allow_none=True)
        _check_positive("training.early_stopping_patience", t.early_stopping_patience)
        if not isinstance(t.seed, int) or isinstance(t.seed, bool) or t.seed < 0:
            raise ConfigError(
                f"Seed must be a whole number of 0 or more, not {_shown(t.seed)}. Use 42 if unsure.", "training.seed"
            )
        if t.early_stopping and (t.eval_strategy == "no" or d.validation_size == 0 and not d.validation):
            off = (f"{field_label('eval_strategy')} is 'no'" if t.eval_strategy == "no"
                   else f"{field_label('validation_size')} is 0 and there is no validation data")
            raise ConfigError(
                f"Early stopping needs evaluation, but evaluation is off ({off}). "
                "Turn evaluation on or switch early stopping off.",
                "training.early_stopping",
            )
        if t.early_stopping and t.load_best_model_at_end is False:
            raise ConfigError(
                f"Early stopping keeps the best checkpoint, so '{field_label('load_best_model_at_end')}' cannot be "
                "No: set it to Automatic or Yes.",
                "training.load_best_model_at_end",
            )
        ev = self.evaluation
        if not isinstance(ev.golden_prompts, list) or not all(isinstance(p, str) for p in ev.golden_prompts):
            raise ConfigError(
                f"{field_label('golden_prompts')} must be a list of texts, not {_shown(ev.golden_prompts)}.",
                "evaluation.golden_prompts",
            )
        if len(ev.golden_prompts) > limits.MAX_TEST_PROMPTS:
            raise ConfigError(
                f"{field_label('golden_prompts')} has {len(ev.golden_prompts)} prompts; keep it to "
                f"{limits.MAX_TEST_PROMPTS} or fewer.",
                "evaluation.golden_prompts",
            )
        _check_non_negative("evaluation.golden_from_heldout", ev.golden_from_heldout, limits.MAX_HELDOUT_TEST_ROWS)
        _check_positive("evaluation.max_new_tokens", ev.max_new_tokens, most=limits.MAX_NEW_TOKENS)
        _check_non_negative("evaluation.temperature", ev.temperature)
        _check_non_negative("evaluation.exact_match_rows", ev.exact_match_rows, limits.MAX_EXACT_MATCH_ROWS)
        _check_positive("lora.r", lo.r)
        _check_positive("lora.alpha", lo.alpha)
        if not (_is_number(lo.dropout) and 0 <= lo.dropout < 1):
            raise ConfigError(f"LoRA dropout must be between 0 and 1, not {_shown(lo.dropout)}. Try 0.05.", "lora.dropout")
        if lo.target_modules is not None and (
            not isinstance(lo.target_modules, list) or not all(isinstance(m, str) and m for m in lo.target_modules)
        ):
            raise ConfigError(
                f"{field_label('target_modules')} must be a list of layer names such as q_proj, v_proj, not "
                f"{_shown(lo.target_modules)}. Leave it empty for the usual choice.",
                "lora.target_modules",
            )

    # ---- derived values ----------------------------------------------------------------------
    @property
    def uses_adapter(self) -> bool:
        """Whether this run trains a LoRA adapter rather than the model's own weights."""
        return get_method(self.method).adapter

    @property
    def learning_rate(self) -> float:
        """The given learning rate, or the method's usual one (the run scales it for the model's size: see Schedule)."""
        return self.training.learning_rate or get_method(self.method).base_learning_rate

    @property
    def max_length(self) -> int:
        """The token limit to use: the given one or the task's default."""
        return self.data.max_length or get_task(self.task).default_max_length

    @property
    def load_best_model_at_end(self) -> bool:
        """Whether to restore the best checkpoint at the end (when the run evaluates): on with early stopping.

        Off by default, measured (bench/keep_best.py): MiniLM on 400 SST-2 rows kept its pass-1 model, best on the
        40 held-out rows (0.800) but 0.656 on the 872 dev rows, where the last model scores 0.789. A few dozen rows
        are too few to pick a model by; the automatic recipe is sized to end well.
        """
        t = self.training
        return bool(self.early_stopping if t.load_best_model_at_end is None else t.load_best_model_at_end)

    @property
    def early_stopping(self) -> bool:
        """Whether to stop once the best-checkpoint metric stops improving (when the run evaluates)."""
        return bool(self.training.early_stopping)

    @property
    def best_metric(self) -> tuple[str, bool]:
        """The eval metric that decides the best checkpoint (e.g. 'eval_accuracy') and whether higher is better."""
        metric = self.training.metric_for_best_model
        if metric == "auto":
            metric = get_task(self.task).best_metric
        metric = metric if metric.startswith("eval_") else f"eval_{metric}"
        return metric, not metric.endswith("loss")

    # ---- JSON round-trip ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain dict that `from_dict` turns back into an equal config."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON."""
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Build a config from a dict as a person would write it; unknown keys are errors."""
        if not isinstance(raw, dict):
            raise ConfigError(f"The run config must be a JSON object ({{...}}), got {type(raw).__name__}.")
        raw = dict(raw)
        model = raw.get("model", {})
        if isinstance(model, str):
            model = {"name_or_path": model}
        data = raw.get("data", {})
        if isinstance(data, str):
            data = {"train": data}
        sections = {
            "model": _section(ModelConfig, model, "model"),
            "data": _section(DataConfig, data, "data"),
            "lora": _section(LoraSettings, raw.get("lora", {}) or {}, "lora"),
            "training": _section(TrainingSettings, raw.get("training", {}) or {}, "training"),
            "evaluation": _section(EvaluationSettings, raw.get("evaluation", {}) or {}, "evaluation"),
        }
        top = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - top)
        if unknown:
            guess = _closest_key(unknown[0], sorted(top))
            hint = f"; did you mean {guess!r}?" if guess else "."
            raise ConfigError(
                f"Unknown key {_shown(unknown[0])} in the run config{hint} Known keys: {_listed(sorted(top))}.", unknown[0]
            )
        scalars = {k: v for k, v in raw.items() if k not in sections}
        return cls(**scalars, **sections)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Parse JSON text into a config."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"The run config is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from exc
        return cls.from_dict(raw)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a config from a JSON file."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file {str(p)!r} does not exist. Check the path.")
        return cls.from_json(p.read_text(encoding="utf-8"))


# ---- the one conversion site ----------------------------------------------------------------


@dataclass
class Schedule:
    """Step counts, passes, learning rate and warm-up: known only once the data (and the model) is loaded."""

    total_steps: int
    has_eval: bool
    steps_per_epoch: int
    epochs: float | None = None  # None: the config's epochs
    learning_rate: float | None = None  # None: the config's learning rate or the method's default
    warmup_steps: int | None = None  # None: from the config's warm-up knobs
    description: str = ""  # the recipe in one plain line


def resolve_schedule(
    config: RunConfig, train_rows: int, world_size: int, has_eval: bool, model_params: int | None = None
) -> Schedule:
    """Work out this run's steps, passes, learning rate and warm-up (the auto recipe fills the empty knobs)."""
    from ft_app.recipe import choose_recipe, describe

    recipe = choose_recipe(**recipe_inputs(config, train_rows, world_size, model_params))
    return Schedule(
        total_steps=recipe.total_steps,
        has_eval=has_eval,
        steps_per_epoch=recipe.steps_per_epoch,
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        warmup_steps=recipe.warmup_steps,
        description=describe(recipe),
    )


def recipe_inputs(config: RunConfig, train_rows: int, world_size: int = 1, model_params: int | None = None) -> dict[str, Any]:
    """The keyword arguments of `recipe.choose_recipe` for this config and data size."""
    t = config.training
    return dict(
        task=config.task,
        method=config.method,
        train_rows=train_rows,
        examples_per_step=t.batch_size * t.gradient_accumulation_steps * max(1, world_size),
        model_params=model_params,
        epochs=t.epochs,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        warmup_ratio=t.warmup_ratio,
        warmup_steps=t.warmup_steps,
    )


def resolve_precision(config: RunConfig, cuda: bool, bf16_supported: bool) -> str:
    """Pick fp32, fp16 or bf16 for the training math, and refuse what the machine cannot do."""
    p = config.training.precision
    if p == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if bf16_supported else "fp16"
    if p in ("fp16", "bf16") and not cuda:
        raise ConfigError(
            f"Precision {p!r} needs an NVIDIA GPU, and this machine has none. Use 'auto' or 'fp32'.", "training.precision"
        )
    if p == "bf16" and not bf16_supported:
        raise ConfigError("Precision 'bf16' is not supported by this GPU. Use 'fp16' or 'auto'.", "training.precision")
    return p


def to_training_arguments(
    config: RunConfig,
    output_dir: str | Path,
    schedule: Schedule,
    *,
    precision: str,
    disable_tqdm: bool = True,
    use_cpu: bool = False,
) -> Any:
    """Build `transformers.TrainingArguments` (or the task's trainer's subclass of it) for this run."""
    task = get_task(config.task)
    arguments_class, extra = task.arguments_class(config)
    t = config.training
    total = schedule.total_steps
    logging_steps = t.logging_steps or max(1, total // TARGET_LOG_POINTS)
    eval_strategy, eval_steps = _strategy(t.eval_strategy, t.eval_steps, total)
    if not schedule.has_eval:
        eval_strategy, eval_steps = "no", None
    save_strategy, save_steps = (
        (eval_strategy, eval_steps) if t.save_strategy == "auto" else _strategy(t.save_strategy, t.save_steps, total)
    )
    load_best = config.load_best_model_at_end and eval_strategy != "no"
    metric, greater = config.best_metric if load_best else (None, None)
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        num_train_epochs=float(schedule.epochs or t.epochs or 1),
        max_steps=t.max_steps or -1,
        learning_rate=schedule.learning_rate or config.learning_rate,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size or t.batch_size * 2,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        weight_decay=t.weight_decay,
        # A share below 1 is a ratio of the steps the Trainer really takes; a count is a count.
        warmup_steps=_warmup(t, schedule),
        max_grad_norm=t.max_grad_norm,
        lr_scheduler_type=t.scheduler,
        optim=t.optimizer,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        activation_checkpointing=t.gradient_checkpointing,
        eval_strategy=eval_strategy,
        eval_steps=eval_steps,
        save_strategy=save_strategy,
        save_steps=save_steps or 500,
        save_total_limit=t.save_total_limit,
        logging_strategy="steps",
        logging_steps=logging_steps,
        logging_first_step=True,
        # NaN must reach our callback so the run can stop and say why, not be averaged away.
        logging_nan_inf_filter=False,
        load_best_model_at_end=load_best,
        metric_for_best_model=metric,
        greater_is_better=greater,
        seed=t.seed,
        data_seed=t.seed,
        train_sampling_strategy="group_by_length" if t.group_by_length and task.groups_by_length else "random",
        length_column_name="length",
        report_to=report_to_argument(t.report_to),
        disable_tqdm=disable_tqdm,
        save_only_model=False,
        remove_unused_columns=True,
        use_cpu=use_cpu,
        include_num_input_tokens_seen="non_padding" if get_task(config.task).counts_tokens else "no",
        dataloader_pin_memory=not use_cpu,
    )
    if t.gradient_checkpointing:
        kwargs["activation_checkpointing_kwargs"] = {"use_reentrant": False}
    try:
        return arguments_class(**kwargs, **extra)
    except ValueError as exc:  # the Trainer's own checks of keeping the best checkpoint, in the page's words
        if "load_best_model_at_end" not in str(exc):
            raise
        if "multiple" in str(exc):
            raise ConfigError(
                f"Keeping the best checkpoint needs '{field_label('save_steps')}' ({save_steps}) to be a multiple of "
                f"'{field_label('eval_steps')}' ({eval_steps}).",
                "training.save_steps",
            ) from exc
        raise ConfigError(
            f"Keeping the best checkpoint needs saving and evaluating on the same schedule, but "
            f"'{field_label('save_strategy')}' is {save_strategy!r} and '{field_label('eval_strategy')}' is "
            f"{eval_strategy!r}. Set '{field_label('save_strategy')}' to 'auto'.",
            "training.save_strategy",
        ) from exc


def report_to_argument(value: str) -> str:
    """The `report_to` value for TrainingArguments, after checking that the chosen tracker is installed."""
    if value not in REPORT_TO_CHOICES:
        raise ConfigError(f"training.report_to {value!r} is not one of: {', '.join(REPORT_TO_CHOICES)}.")
    if value != "none" and not any(importlib.util.find_spec(p) for p in TRACKER_PACKAGES[value]):
        raise ConfigError(
            f"training.report_to {value!r} needs the {value} package, which is not installed here. Install it with "
            f"`pip install {value}`, or set report_to to 'none'."
        )
    return value


def to_lora_config(config: RunConfig, model_type: str) -> Any:
    """Build the `peft.LoraConfig` for this run and architecture."""
    from peft import LoraConfig, TaskType
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

    task = get_task(config.task)
    targets: list[str] | str | None = config.lora.target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    if not targets:
        # PEFT knows the usual attention projections per architecture; other models adapt every linear layer.
        targets = (
            None if model_type in TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING else "all-linear"
        )
    return LoraConfig(
        task_type=TaskType[task.lora_task_type],
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=targets,
        modules_to_save=list(task.lora_modules_to_save) if task.lora_modules_to_save else None,
    )


def to_bnb_config(config: RunConfig, compute_dtype: Any) -> Any:
    """Build the `BitsAndBytesConfig` for QLoRA (4-bit) or 8-bit loading; None for other methods."""
    return get_method(config.method).bnb_config(compute_dtype)


# ---- helpers ---------------------------------------------------------------------------------


def _warmup(t: TrainingSettings, schedule: Schedule) -> float:
    if t.warmup_steps:
        return t.warmup_steps
    if t.warmup_ratio is not None:
        return t.warmup_ratio
    from ft_app.recipe import WARMUP_SHARE

    return WARMUP_SHARE


def _strategy(strategy: str, steps: int | None, total: int) -> tuple[str, int | None]:
    if strategy == "auto":
        return "steps", steps or max(1, total // TARGET_EVAL_POINTS)
    if strategy == "steps":
        return "steps", steps or max(1, total // TARGET_EVAL_POINTS)
    return strategy, None


def _section(cls: type, raw: Any, name: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"'{name}' in the run config must be an object ({{...}}), not {_shown(raw)}.", name)
    known = {f.name: f for f in fields(cls)}
    aliases = {"model": {"name": "name_or_path", "id": "name_or_path", "path": "name_or_path"}}.get(name, {})
    values = {}
    for key, value in raw.items():
        key = aliases.get(key, key)
        if key not in known:
            guess = _closest_key(key, list(known))
            hint = f"; did you mean {guess!r}?" if guess else "."
            raise ConfigError(
                f"Unknown key {_shown(key)} in '{name}'{hint} Known keys: {_listed(sorted(known))}.", f"{name}.{key}"
            )
        values[key] = _coerce(name, known[key], value)
    return cls(**values)


def _coerce(section: str, f: dataclasses.Field, value: Any) -> Any:
    """Accept what JSON gives (ints for floats, a comma string for a list) and reject the rest plainly."""
    where = f"{section}.{f.name}"
    label = field_label(f.name)
    kind = str(f.type)
    if value is None:
        if "None" not in kind:
            raise ConfigError(
                f"{label} needs a value: fill it in (in a config file, leave the key out to get the default).", where
            )
        return None
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(f"{label} must be yes or no (true or false), not {_shown(value)}.", where)
        return value
    if kind.startswith("int"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{label} must be a whole number, not {_shown(value)}.", where)
        return value
    if kind.startswith("float"):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{label} must be a number, not {_shown(value)}.", where) from None
        if not _is_number(value):
            raise ConfigError(f"{label} must be a number, not {_shown(value)}.", where)
        return float(value)
    if kind.startswith("list"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(f.metadata.get("separator", ",")) if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{label} must be a list, not {_shown(value)}.", where)
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{label} must be text, not {_shown(value)}.", where)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_positive(path: str, value: Any, allow_none: bool = False, most: float | None = None) -> None:
    if value is None and allow_none:
        return
    if not _is_number(value) or value <= 0:
        empty = " (or leave it empty)" if allow_none else ""
        raise ConfigError(f"{field_label(path)} must be more than 0, not {_shown(value)}: use a value above 0{empty}.", path)
    _check_most(path, value, most)


def _check_non_negative(path: str, value: Any, most: float | None = None) -> None:
    if not _is_number(value) or value < 0:
        raise ConfigError(f"{field_label(path)} must be 0 or more, not {_shown(value)}.", path)
    _check_most(path, value, most)


def _check_most(path: str, value: Any, most: float | None) -> None:
    if most is not None and value > most:
        raise ConfigError(f"{field_label(path)} is {_shown(value)}, more than the app allows ({most:,.0f}). Use "
                          f"{most:,.0f} or less.", path)


def _check_choice(path: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{field_label(path)} {_shown(value)} is not one of: {_listed(list(choices))}.", path)


# Names other tools use for a knob (TrainingArguments, common abbreviations), for "did you mean".
KEY_SYNONYMS = {
    "lr": "learning_rate",
    "num_train_epochs": "epochs",
    "per_device_train_batch_size": "batch_size",
    "per_device_eval_batch_size": "eval_batch_size",
    "bs": "batch_size",
    "warmup": "warmup_ratio",
    "lr_scheduler_type": "scheduler",
    "optim": "optimizer",
    "lora_alpha": "alpha",
    "lora_dropout": "dropout",
    "model_name_or_path": "name_or_path",
}


def _closest_key(key: str, known: list[str]) -> str | None:
    """The known key a mistyped or foreign key most likely means."""
    import difflib

    if KEY_SYNONYMS.get(key) in known:
        return KEY_SYNONYMS[key]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return close[0] if close else None


def _shown(value: Any) -> str:
    """A value as a message quotes it: numbers plainly, texts in quotes, never longer than MAX_SHOWN_CHARS."""
    from ft_app.hub_token import redact

    text = redact(f"{value:g}" if _is_number(value) and not isinstance(value, int) else repr(value))
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def _listed(items: list[str]) -> str:
    """Up to MAX_SHOWN_ITEMS names, then how many more."""
    shown = ", ".join(items[:MAX_SHOWN_ITEMS])
    rest = len(items) - MAX_SHOWN_ITEMS
    return f"{shown} and {rest} more" if rest > 0 else shown


def _plain_number(value: float) -> str:
    from ft_app.recipe import plain_number

    return plain_number(value)
