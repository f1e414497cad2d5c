"""One module per task family; `get_task(name)` returns its implementation."""

from __future__ import annotations

from ft_app.tasks.base import GenerationSettings, Prediction, TaskSpec

__all__ = ["GenerationSettings", "Prediction", "TaskSpec", "get_task"]


def get_task(name: str) -> TaskSpec:
    """The task implementation for 'classification', 'causal_lm' or 'seq2seq'."""
    if name == "classification":
        from ft_app.tasks.classification import ClassificationTask

        return ClassificationTask()
    if name == "causal_lm":
        from ft_app.tasks.causal_lm import CausalLMTask

        return CausalLMTask()
    if name == "seq2seq":
        from ft_app.tasks.seq2seq import Seq2SeqTask

        return Seq2SeqTask()
    raise ValueError(f"Unknown task {name!r}. Choose classification, causal_lm or seq2seq.")
