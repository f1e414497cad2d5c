"""Length-grouped batches in shuffled order: every row once, similar lengths per batch, no long-to-short sweep."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from ft_app.training.sampling import ShuffledLengthGroupedSampler, grouped_order
from ft_app.training.trainer import trainer_class

_RNG = random.Random(7)
LENGTHS = [_RNG.randint(2, 60) for _ in range(1000)]


def _batches(order: list[int], size: int) -> list[list[int]]:
    return [order[i : i + size] for i in range(0, len(order), size)]


def test_every_row_once_and_only_the_last_batch_short() -> None:
    order = grouped_order(LENGTHS, 32, generator=torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(len(LENGTHS)))
    sizes = [len(b) for b in _batches(order, 32)]
    assert sizes[:-1] == [32] * (len(sizes) - 1) and sizes[-1] == 1000 % 32


def test_batches_hold_similar_lengths_far_below_random_padding() -> None:
    """Padding (each batch padded to its longest row) is a fraction of what a random order needs."""
    gen = torch.Generator().manual_seed(0)
    grouped = _batches(grouped_order(LENGTHS, 32, generator=gen), 32)
    shuffled = _batches(torch.randperm(len(LENGTHS), generator=gen).tolist(), 32)

    def padded(batches: list[list[int]]) -> int:
        return sum(max(LENGTHS[i] for i in b) * len(b) for b in batches)

    real = sum(LENGTHS)
    assert padded(grouped) - real < 0.25 * (padded(shuffled) - real)


def test_batch_order_is_shuffled_not_long_to_short() -> None:
    """transformers' sampler hands out each mega-batch long to short; here the batch lengths go up and down."""
    batches = _batches(grouped_order(LENGTHS, 32, generator=torch.Generator().manual_seed(1)), 32)[:-1]
    longest = [max(LENGTHS[i] for i in b) for b in batches]
    # The longest batch second: out of memory shows at once, yet the first point comes after an ordinary step.
    assert longest[1] == max(longest) and longest[0] < max(longest)
    rises = sum(b > a for a, b in zip(longest[2:], longest[3:]))
    falls = sum(b < a for a, b in zip(longest[2:], longest[3:]))
    assert rises > 5 and falls > 5
    # A new order each epoch, and the same order for the same seed.
    again = grouped_order(LENGTHS, 32, generator=torch.Generator().manual_seed(1))
    other = grouped_order(LENGTHS, 32, generator=torch.Generator().manual_seed(2))
    assert again == [i for b in batches for i in b] + again[len(batches) * 32 :]
    assert other != again


def test_small_and_empty_data() -> None:
    assert grouped_order([], 8) == []
    assert sorted(grouped_order([3, 1, 2], 8)) == [0, 1, 2]
    assert len(ShuffledLengthGroupedSampler([1, 2, 3, 4, 5], 2)) == 5


@pytest.mark.parametrize(("strategy", "grouped"), [("group_by_length", True), ("random", False)])
def test_the_engine_trainer_uses_it_when_grouping_by_length(
    tiny_bert_dir: Path, tmp_path: Path, strategy: str, grouped: bool
) -> None:
    """The Trainer the runner builds: shuffled length groups for group_by_length (the length column is dropped
    from the dataset before the sampler is asked, so it is read from the full one), transformers' own otherwise."""
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        TrainingArguments,
    )

    rows = 100
    rng = random.Random(3)
    lengths = [rng.randint(3, 40) for _ in range(rows)]
    table = datasets.Dataset.from_dict(
        {"input_ids": [[5] * n for n in lengths], "attention_mask": [[1] * n for n in lengths],
         "labels": [i % 2 for i in range(rows)], "length": lengths}
    )
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=2)
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=8, train_sampling_strategy=strategy, use_cpu=True,
        report_to="none", length_column_name="length",
    )
    collator = DataCollatorWithPadding(AutoTokenizer.from_pretrained(tiny_bert_dir))
    trainer = trainer_class()(model=model, args=args, train_dataset=table, data_collator=collator)
    without_length = trainer._remove_unused_columns(table)  # what the Trainer hands its sampler
    assert "length" not in without_length.column_names
    assert isinstance(trainer._get_train_sampler(without_length), ShuffledLengthGroupedSampler) is grouped
    waste = 0
    for batch in trainer.get_train_dataloader():
        waste += batch["input_ids"].numel() - int(batch["attention_mask"].sum())
    if grouped:
        assert waste < 0.1 * sum(lengths)
    else:
        assert waste > 0.3 * sum(lengths)
