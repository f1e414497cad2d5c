"""Small helpers that put user-given values into messages a person can read."""

from __future__ import annotations

from collections.abc import Iterable

LIST_LIMIT = 5


def plain_list(items: Iterable[object], limit: int = LIST_LIMIT, *, quote: bool = False) -> str:
    """Items joined by commas, at most `limit` of them then 'and N more', so a message stays one line."""
    if limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit!r}.")
    words = [repr(str(item)) if quote else str(item) for item in items]
    # Hiding a single item behind "and 1 more" saves nothing: show it.
    if len(words) <= limit + 1:
        return ", ".join(words)
    return f"{', '.join(words[:limit])} and {len(words) - limit:,} more"


def count_words(n: int) -> str:
    """A count as people say it: 770, 1,536, 12 thousand, 22.7 million, 1.1 billion."""
    if n < 10_000:
        return f"{n:,}"
    for word, size in (("billion", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {word}".replace(".0 ", " ") if value < 100 else f"{value:.0f} {word}"
    return f"{n:,}"


def share_words(part: int, total: int) -> str:
    """A share as a percentage that never reads 0.00% for a real part: '1.2%', '0.034%', 'less than 0.01%'."""
    if total <= 0:
        return "?"
    share = 100 * part / total
    if part and share < 0.01:
        return "less than 0.01%"
    if share < 1:
        return f"{share:.2g}%"
    return f"{share:.1f}%".replace(".0%", "%")
