"""What every task family provides: model class, encoding, collator, metrics and prediction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ft_app.config import RunConfig
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


class TaskSpec(Protocol):
    """The interface each task module implements."""

    name: str

    def model_class(self) -> Any:
        """The `AutoModelFor...` class for this task."""

    def model_kwargs(self, label_names: list[str] | None) -> dict[str, Any]:
        """Extra `from_pretrained` arguments (labels for classification)."""

    def encoder(self, config: RunConfig, tokenizer: Any, mapping: Any, label_names: list[str] | None) -> Encoder:
        """A batched function turning raw rows into input_ids, labels and a length column."""

    def collator(self, tokenizer: Any, model: Any, pad_to_multiple_of: int | None) -> Any:
        """The dynamic-padding collator."""

    def compute_metrics(self, label_names: list[str] | None) -> Callable | None:
        """Eval metrics beyond the loss, or None."""

    def loss_function(self, config: RunConfig, train: Any, label_names: list[str] | None) -> Callable | None:
        """The Trainer's `compute_loss_func` for this run, or None for the model's own loss."""

    def example(self, row: dict[str, Any], mapping: Any, label_names: list[str] | None) -> dict[str, str]:
        """A raw row as {'input', 'reference'} for one-click prompts."""

    def predict(
        self, model: Any, tokenizer: Any, text: str, config: RunConfig, settings: GenerationSettings
    ) -> Prediction:
        """The model's answer to one input."""
