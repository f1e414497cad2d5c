"""What every task family provides: its facts (names, lengths, how LoRA and the Hub see it) and its behaviour (model
class, encoding, collator, metrics, evaluation, prediction, the card's words and the page's parts).

A task module subclasses `TaskSpec` and sets `TASK = TheTask()`. Every other module asks the task (`get_task`)
instead of branching on its name. This module imports nothing of the app but the limits, so that the run config
itself can ask a task for its facts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ft_app.limits import check_new_tokens

Encoder = Callable[[dict[str, list[Any]]], dict[str, list[Any]]]


@dataclass
class GenerationSettings:
    """Decoding settings shared by the base and the fine-tuned side of a comparison."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 42

    def __post_init__(self) -> None:
        self.max_new_tokens = check_new_tokens(self.max_new_tokens)
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or more, got {self.temperature!r}.")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be above 0 and at most 1, got {self.top_p!r}.")


@dataclass
class Prediction:
    """One model's answer to one input."""

    text: str
    label: str | None = None
    probabilities: dict[str, float] | None = field(default=None)
    note: str | None = None  # something the reader should know about this answer (e.g. the prompt was cut)


PromptMode = Literal["chat", "template", "plain", "text"]


@dataclass
class PromptFormat:
    """How a run turns a typed input into the model's prompt, written down so exported code can do the same.

    chat: the tokenizer's chat template; template: a text template with {prompt}; plain: the input is continued as
    it is; text: the input goes in unchanged (classification, seq2seq)."""

    mode: PromptMode
    template: str | None = None
    system_prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for demo.json."""
        return asdict(self)

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat messages an input becomes (chat mode)."""
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + [{"role": "user", "content": text}]

    def render(self, text: str, tokenizer: Any = None) -> str:
        """The prompt text for an input, exactly as the run's predict() builds it."""
        if self.mode == "chat":
            return tokenizer.apply_chat_template(self.messages(text), tokenize=False, add_generation_prompt=True)
        if self.mode == "template":
            return (self.template or "{prompt}").replace("{prompt}", text).replace("{input}", "")
        return text


@dataclass(frozen=True)
class Metric:
    """One number of the before/after evaluation, as the model card, the Hub's model-index and the page show it."""

    key: str  # in eval.json
    name: str  # in the card and in sentences ("answer loss")
    hub_type: str  # the Hub's metric type
    label: str  # the page's before/after card
    explanation: str  # what it measures, beside it on the page
    kind: str  # how it is written: "pct", "num", "loss" or "ppl"
    higher_is_better: bool


class TaskSpec:
    """One task family. Facts are class attributes; behaviour is methods (heavy libraries imported inside them)."""

    name: str = ""
    label: str = ""  # what the page's task choice says
    short: str = ""  # the task in a few words, in sentences ("text generation")
    has_head: bool = False  # a new head on an encoder (a method may train the head alone)
    labels: bool = False  # answers are labels from a fixed set (probabilities shown, accuracy measured)
    default_max_length: int = 256  # tokens per input when the run leaves max length empty
    max_passes: int = 5  # the most passes the automatic recipe makes over the data
    typical_tokens: int = 128  # tokens per row the time estimate assumes before the data is measured
    lm_logits: str | None = None  # language-model logits over the "input" or the "target" tokens (memory estimate)
    lora_task_type: str = ""  # peft's TaskType name
    lora_modules_to_save: tuple[str, ...] | None = None  # modules trained whole beside the adapters
    counts_tokens: bool = True  # the Trainer counts the tokens seen (the curve can show tokens/s)
    pipeline_tag: str = ""  # the Hub's pipeline tag, for the card and for searching models
    hub_pipeline_tags: tuple[str, ...] = ()  # the Hub pipeline tags of models that suit the task
    metrics: tuple[Metric, ...] = ()  # the before/after numbers, in the order the card and the page list them
    best_metric: str = "eval_loss"  # the eval metric that picks the best checkpoint (the task's own measure)
    curve_extras: tuple[tuple[str, str], ...] = ()  # (log key, words) of numbers the live curve shows beside the loss
    min_passes: int | None = None  # the fewest passes the automatic recipe makes (None: by the data's size)
    groups_by_length: bool = True  # batches of similar length (the task's trainer does not batch by itself)
    card_example: str = "Hello."  # the input the card's usage snippet runs when the run kept none
    mapping_parts: tuple[str, ...] = ()  # the column roles the task reads (data.ColumnMapping's fields)
    card_limitation: str = "Generated text can be wrong or made up; check it before relying on it."
    # The model continues its prompt: labels are shifted by one token for the loss, training pads on the right, the
    # prompt and the answer share the context window, and llama.cpp (GGUF) can run it.
    continues_prompt: bool = False
    checks_exact_match: bool = False  # held-out rows are also generated and checked for exact match
    space_requirements: tuple[str, ...] = ()  # what a demo Space needs beyond torch, transformers and peft

    def model_class(self) -> Any:
        """The `AutoModelFor...` class for this task."""
        raise NotImplementedError

    def detect_columns(self, pick: Any, data: Any) -> Any:
        """The ColumnMapping of a table for this task: `pick(part, given, exclude)` (data.ColumnPicker) finds one
        part's column; a plain error names the part it cannot tell."""
        raise NotImplementedError

    def check_rows(self, train: Any, mapping: Any) -> None:
        """Refuse (ValueError) training rows this task cannot learn from; warn in the log about doubtful ones."""

    def label_names(self, train: Any, validation: Any, mapping: Any) -> list[str] | None:
        """The class names a run trains on (None for a task without labels); a plain error when they cannot work."""
        return None

    def report_data(self, report: Any, table: Any, mapping: Any) -> bool:
        """Add the task's own findings to the Data tab's report (label balance, ...); False when nothing more can
        be said about this table (the rest of the report would be noise)."""
        return True

    def example_segments(self, row: dict[str, Any], mapping: Any, tokenizer: Any, data: Any,
                         max_length: int) -> list[tuple[str, str | None]] | None:
        """One row as the model sees it, as (text, 'trained' | None | 'cut') pieces; None when there is nothing to
        show beyond the preview (or it needs the tokenizer and there is none)."""
        return None

    def token_lengths(self, rows: Any, mapping: Any, tokenizer: Any, data: Any,
                      max_length: int) -> tuple[list[int], int, int]:
        """Token lengths of what the model reads for these rows, the rows that lose their whole answer to
        `max_length`, and the targets longer than the data's max target length."""
        raise NotImplementedError

    def model_kwargs(self, label_names: list[str] | None) -> dict[str, Any]:
        """Extra `from_pretrained` arguments (labels for classification)."""
        return {}

    def encoder(self, config: Any, tokenizer: Any, mapping: Any, label_names: list[str] | None) -> Encoder:
        """A batched function turning raw rows into input_ids, labels and a length column."""
        raise NotImplementedError

    def collator(self, tokenizer: Any, model: Any, pad_to_multiple_of: int | None) -> Any:
        """The dynamic-padding collator."""
        raise NotImplementedError

    def compute_metrics(self, label_names: list[str] | None) -> Callable | None:
        """Eval metrics beyond the loss, or None."""
        return None

    def loss_function(self, config: Any, train: Any, label_names: list[str] | None) -> Callable | None:
        """The Trainer's `compute_loss_func` for this run, or None for the model's own loss."""
        return None

    def example(self, row: dict[str, Any], mapping: Any, label_names: list[str] | None) -> dict[str, str]:
        """A raw row as {'input', 'reference'} for one-click prompts."""
        raise NotImplementedError

    def arguments_class(self, config: Any) -> tuple[Any, dict[str, Any]]:
        """The training-arguments class of the task's trainer and the extra arguments it takes."""
        from transformers import TrainingArguments

        return TrainingArguments, {}

    def make_trainer(self, config: Any, kwargs: dict[str, Any]) -> Any:
        """The task's trainer, built from the engine's arguments (model, args, data, collator, callbacks...)."""
        from ft_app.training.trainer import trainer_class

        return trainer_class()(**kwargs)  # length groups in shuffled order (training/trainer.py)

    def held_out_metrics(self, model: Any, tokenizer: Any, rows: Any, mapping: Any, config: Any) -> dict[str, Any] | None:
        """The task's own before/after numbers on the raw held-out rows, or None for the loss-based evaluation."""
        return None

    def change_sentence(self, before: dict[str, Any], after: dict[str, Any]) -> str | None:
        """The task's own sentence on what fine-tuning changed, or None for the shared one."""
        return None

    def predict(self, model: Any, tokenizer: Any, text: str, config: Any, settings: GenerationSettings) -> Prediction:
        """The model's answer to one input."""
        raise NotImplementedError

    def prompt_format(self, config: Any, tokenizer: Any) -> PromptFormat:
        """How an input becomes the model's prompt in this run (`config` with the columns the run resolved)."""
        return PromptFormat("text")

    def card_purpose(self, label_names: list[str] | None, fmt: PromptFormat) -> str:
        """The model card's one sentence on what the model was trained for."""
        raise NotImplementedError

    def usage_snippet(self, ref: str, adapter: bool, example: str, label_names: list[str] | None,
                      fmt: PromptFormat) -> str:
        """A few lines of plain transformers/peft code that load this kind of result from `ref` and run it once on
        `example`."""
        raise NotImplementedError


def generation_snippet(model_import: str, ref: str, encode: str, cut_prompt: bool) -> str:
    """The usage snippet of a generative result: load, encode the example, generate, print the answer."""
    ref_text = json.dumps(ref)
    answer = ("answer = model.generate(**inputs, max_new_tokens=64, do_sample=False)[0, inputs[\"input_ids\"].shape[1]:]\n"
              "print(tokenizer.decode(answer, skip_special_tokens=True))" if cut_prompt else
              "print(tokenizer.decode(model.generate(**inputs, max_new_tokens=64)[0], skip_special_tokens=True))")
    return (f"from {model_import}\nfrom transformers import AutoTokenizer\n"
            f"model, tokenizer = Model.from_pretrained({ref_text}), AutoTokenizer.from_pretrained({ref_text})\n"
            f"{encode}\n{answer}")
