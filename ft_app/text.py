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
