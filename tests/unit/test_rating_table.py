"""Longest-prefix lookup in a rate deck."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcredit.domain.errors import InvalidInput
from callcredit.domain.rating import Increment, Rate, RateTable


def rate(prefix: str, per_minute: str = "0.01") -> Rate:
    return Rate(prefix, prefix, Decimal(per_minute), Decimal(0), Increment(60, 60))


def test_longest_prefix_wins() -> None:
    """+447… is priced by +447, other +44 numbers by +44."""
    table = RateTable([rate("+44"), rate("+447"), rate("+1")])
    assert table.lookup("+447400123456") == rate("+447")
    assert table.lookup("+442079460000") == rate("+44")
    assert table.lookup("+12125550123") == rate("+1")


def test_no_matching_prefix_gives_none() -> None:
    """A number no prefix covers has no rate (the call is blocked)."""
    assert RateTable([rate("+44")]).lookup("+33612345678") is None


def test_a_prefix_longer_than_the_number_is_skipped() -> None:
    """A short pseudo number is matched by the prefixes it can hold."""
    table = RateTable([rate("+33"), rate("+33118218999")])
    assert table.lookup("+33118218") == rate("+33")


def test_duplicate_prefix_is_refused() -> None:
    """The same prefix twice is an error naming it."""
    with pytest.raises(InvalidInput, match=r"\+44 appears twice"):
        RateTable([rate("+44"), rate("+44", "0.02")])


prefixes = st.text("0123456789", min_size=1, max_size=8)


@given(st.lists(prefixes, min_size=1, max_size=40, unique=True), st.text("0123456789", max_size=8))
def test_longer_matching_prefix_always_wins(digits: list[str], tail: str) -> None:
    """For any deck and number, the answer is the longest prefix of the number in the deck."""
    table = RateTable(rate("+" + d) for d in digits)
    for d in digits:
        number = "+" + d + tail
        expected = max((p for p in digits if number[1:].startswith(p)), key=len)
        found = table.lookup(number)
        assert found is not None
        assert found.prefix == "+" + expected
