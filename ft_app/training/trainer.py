"""The engine's Trainer: transformers' Trainer with length-grouped batches in shuffled order."""

from __future__ import annotations

import functools
from typing import Any

from ft_app.training.sampling import WINDOW_BATCHES, ShuffledLengthGroupedSampler


@functools.cache
def trainer_class() -> type:
    """`transformers.Trainer` with the engine's sampler (built on first use: transformers is heavy)."""
    from transformers import Trainer

    class StudioTrainer(Trainer):
        """The Trainer; `train_sampling_strategy="group_by_length"` gives length groups in shuffled order."""

        window_batches = WINDOW_BATCHES

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            if self.args.train_sampling_strategy != "group_by_length":
                return super()._get_train_sampler(train_dataset)
            lengths = _lengths(train_dataset, self.train_dataset, self.args.length_column_name)
            if lengths is None:
                return super()._get_train_sampler(train_dataset)
            return ShuffledLengthGroupedSampler(lengths, self.args.per_device_train_batch_size, self.window_batches)

    return StudioTrainer


def _lengths(dataset: Any, full: Any, column: str) -> list[int] | None:
    """Row lengths: the length column (the Trainer drops it from `dataset` before asking; `full` still has it)."""
    for source in (dataset, full):
        if source is not None and column in getattr(source, "column_names", ()) and len(source) == len(dataset or full):
            return [int(n) for n in source[column]]
    if dataset is not None and "input_ids" in getattr(dataset, "column_names", ()):
        return [len(ids) for ids in dataset["input_ids"]]
    return None
