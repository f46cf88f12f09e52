"""A rate deck in memory, with longest-prefix lookup."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from callcredit.domain.errors import InvalidRateDeck
from callcredit.domain.rating.arithmetic import Rate


class RateTable:
    """Rates keyed by prefix digits. A lookup tries the distinct prefix
    lengths of the deck from the longest down (at most 15 dictionary probes),
    so its cost does not grow with the number of prefixes."""

    __slots__ = ("_by_digits", "_lengths")

    def __init__(self, rates: Iterable[Rate]) -> None:
        by_digits: dict[str, Rate] = {}
        for rate in rates:
            digits = rate.prefix[1:]
            if digits in by_digits:
                raise InvalidRateDeck(f"prefix {rate.prefix} appears twice")
            by_digits[digits] = rate
        self._by_digits = by_digits
        self._lengths = sorted({len(d) for d in by_digits}, reverse=True)

    def lookup(self, e164: str) -> Rate | None:
        """The rate of the longest prefix of ``e164`` (``"+4420…"``), if any."""
        digits = e164[1:] if e164.startswith("+") else e164
        by_digits = self._by_digits
        for length in self._lengths:
            if length <= len(digits):
                rate = by_digits.get(digits[:length])
                if rate is not None:
                    return rate
        return None

    def __len__(self) -> int:
        return len(self._by_digits)

    def __iter__(self) -> Iterator[Rate]:
        return iter(self._by_digits.values())
