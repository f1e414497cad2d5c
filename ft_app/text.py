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


def count_words(n: int | None, *, short: bool = False) -> str:
    """A count as people say it: 770, 1,536, 12 thousand, 22.7 million, 1.1 billion; `short` (a table cell or a
    summary): 12K, 22.7M, 1.1B; None: 'unknown'."""
    if n is None:
        return "unknown"
    if n < 10_000:
        return f"{n:,}"
    for word, letter, size in (("billion", "B", 1e9), ("million", "M", 1e6), ("thousand", "K", 1e3)):
        if n >= size:
            value = n / size
            number = f"{value:.1f}".removesuffix(".0") if value < 100 else f"{value:.0f}"
            return f"{number}{letter}" if short else f"{number} {word}"
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


def duration_words(seconds: float) -> str:
    """A duration as a person says it: 'a few seconds', 'about 40 seconds', 'about 3 minutes', 'about 2 hours'."""
    if seconds < 15:
        return "a few seconds"
    if seconds < 55:
        return f"about {int(round(seconds, -1))} seconds"
    minutes = seconds / 60
    if minutes < 1.5:
        return "about a minute"
    if minutes < 55:
        return f"about {round(minutes)} minutes"
    hours = minutes / 60
    return "about an hour" if hours < 1.5 else f"about {round(hours)} hours"


def limit_words(seconds: float) -> str:
    """A limit as a rule states it, exactly: '60 minutes', '1 minute', '12 seconds' (duration_words rounds)."""
    if seconds < 60:
        n, unit = round(seconds), "second"
    else:
        n, unit = round(seconds / 60), "minute"
    return f"{n} {unit}{'' if n == 1 else 's'}"


def first_line(error: BaseException | str, limit: int = 300) -> str:
    """The first line of an error's message (at most `limit` characters), or its type's name when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__
