"""How a run turns a typed input into the model's prompt (its task says: `TaskSpec.prompt_format`), and the tokenizer
its result was saved with, for exported code that must do the same."""

from __future__ import annotations

from typing import Any

from ft_app.config import RunConfig
from ft_app.tasks import get_task
from ft_app.tasks.base import PromptFormat

__all__ = ["PromptFormat", "load_result_tokenizer", "prompt_format"]


def prompt_format(config: RunConfig, tokenizer: Any) -> PromptFormat:
    """The prompt format a run's predictions use (`config` with the columns the run resolved)."""
    return get_task(config.task).prompt_format(config, tokenizer)


def load_result_tokenizer(result_dir: Any) -> Any:
    """The tokenizer saved with the result (the same one the run trained and compared with)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(result_dir))
