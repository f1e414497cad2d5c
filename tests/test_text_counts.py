"""Counts and shares in the words the page uses."""

from __future__ import annotations

import pytest

from ft_app.text import count_words, share_words


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "0"), (770, "770"), (1536, "1,536"), (12_400, "12.4 thousand"), (22_713_216, "22.7 million"),
     (7_000_000, "7 million"), (135_000_000, "135 million"), (1_100_000_000, "1.1 billion")],
)
def test_counts_read_as_people_say_them(n: int, words: str) -> None:
    assert count_words(n) == words


@pytest.mark.parametrize(
    ("part", "total", "words"),
    [(770, 22_713_216, "less than 0.01%"), (294_912, 135_000_000, "0.22%"), (1, 3, "33.3%"), (5, 5, "100%"),
     (0, 5, "0%"), (3, 0, "?")],
)
def test_a_real_part_never_reads_as_zero_percent(part: int, total: int, words: str) -> None:
    assert share_words(part, total) == words
