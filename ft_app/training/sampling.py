"""Length-grouped batches that keep the order random: little padding, no accuracy cost.

transformers' `LengthGroupedSampler` sorts random "mega-batches" of up to 50 batches by length and
hands the batches out in that order: long to short, mega-batch after mega-batch. Each stretch of
training thus walks from the longest rows to the shortest (on SST-2, from full sentences down to two-word
phrases), the same way every time, and the last steps of the run see only the shortest rows. That cost
about a point of accuracy (bench/README.md).

This sampler sorts small windows of random rows by length, cuts them into batches (so each batch still
holds rows of similar length: little padding), then shuffles the order of all the batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

# Rows of this many batches are sorted together: enough for batches of similar length, few enough that a
# batch is a random draw of the data (measured in bench/padding.py).
WINDOW_BATCHES = 16


def grouped_order(lengths: Sequence[int], batch_size: int, window_batches: int = WINDOW_BATCHES,
                  generator: Any = None) -> list[int]:
    """Row indices in batch order: similar lengths within each batch, batches in random order, the longest second.

    Every batch but the last is full, so a DataLoader cutting this order every `batch_size` rows gets
    exactly these batches.
    """
    import torch

    n = len(lengths)
    if n == 0:
        return []
    order = torch.randperm(n, generator=generator).tolist()
    window = max(1, window_batches) * batch_size
    full: list[list[int]] = []
    partial: list[int] = []
    for start in range(0, n, window):
        rows = sorted(order[start : start + window], key=lambda i: lengths[i], reverse=True)
        for b in range(0, len(rows), batch_size):
            batch = rows[b : b + batch_size]
            if len(batch) == batch_size:
                full.append(batch)
            else:
                partial = batch  # only the last window can end short: it stays last
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    if shuffled:
        # The longest batch second, so running out of memory shows in the first seconds, not hours in; not first,
        # so the first point of the curve comes after a step of ordinary length (on SST-2 the longest batch is
        # ~2.5x the mean length: 0.3 s more before the first point on a CPU).
        longest = max(range(len(shuffled)), key=lambda i: lengths[shuffled[i][0]])
        slot = min(1, len(shuffled) - 1)
        shuffled[slot], shuffled[longest] = shuffled[longest], shuffled[slot]
    return [i for batch in shuffled for i in batch] + partial


class ShuffledLengthGroupedSampler:
    """A torch Sampler over `grouped_order`: a new random order every epoch (from torch's seeded RNG)."""

    def __init__(self, lengths: Sequence[int], batch_size: int, window_batches: int = WINDOW_BATCHES,
                 generator: Any = None) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.window_batches = window_batches
        self.generator = generator

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(grouped_order(self.lengths, self.batch_size, self.window_batches, self.generator))
