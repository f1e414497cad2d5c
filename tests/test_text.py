"""plain_list: every user-given list in a message is cut to a few items and a count of the rest."""

from __future__ import annotations

import pytest

from ft_app.text import plain_list


def test_short_lists_are_shown_whole() -> None:
    assert plain_list(["train", "validation"]) == "train, validation"
    assert plain_list([]) == ""
    # One item over the limit is shown rather than hidden behind "and 1 more".
    assert plain_list(list("abcdef"), limit=5) == "a, b, c, d, e, f"


def test_long_lists_show_the_first_items_and_count_the_rest() -> None:
    reviews = [f"review {i}" for i in range(400)]
    text = plain_list(reviews)
    assert text == "review 0, review 1, review 2, review 3, review 4 and 395 more"
    assert plain_list(range(2000), limit=2) == "0, 1 and 1,998 more"


def test_quote_names_each_item_as_a_value() -> None:
    assert plain_list(["a b", "c"], quote=True) == "'a b', 'c'"


def test_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit must be 1 or more, got 0"):
        plain_list(["a"], limit=0)
