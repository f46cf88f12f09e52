"""Money as integer minor units of an ISO 4217 currency.

Amounts never pass through ``float``. Parsing and formatting belong to the
edges (CLI, API, pages); inside, money moves as :class:`Money`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from callcredit.domain.errors import InvalidAmount

# ISO 4217 minor-unit exponents that differ from the usual two decimals.
_EXPONENTS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "CLF": 4,
    "UYW": 4,
}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_AMOUNT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def check_currency(code: str) -> str:
    """Return ``code`` if it is a three-letter upper-case ISO 4217 code."""
    if not _CURRENCY.match(code):
        raise InvalidAmount(f"currency must be a three-letter ISO 4217 code, not {code!r}")
    return code


def exponent(currency: str) -> int:
    """Number of decimals of the currency's minor unit (2 for EUR, 0 for JPY)."""
    return _EXPONENTS.get(currency, 2)


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in the minor unit (cents for EUR) of one currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise InvalidAmount("money amounts are integers in minor units")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a major-unit amount such as ``"25"`` or ``"25.00"``; more
        decimals than the currency has are refused rather than rounded."""
        text = text.strip()
        if not _AMOUNT.match(text):
            raise InvalidAmount(f"not an amount: {text!r}")
        try:
            value = Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the regex guards it
            raise InvalidAmount(f"not an amount: {text!r}") from exc
        scaled = value.scaleb(exponent(currency))
        if scaled != scaled.to_integral_value():
            raise InvalidAmount(
                f"{text} has more than {exponent(currency)} decimals for {currency}"
            )
        return cls(int(scaled), currency)

    @classmethod
    def from_decimal(cls, value: Decimal, currency: str) -> Money:
        """Round a major-unit Decimal half-up to the minor unit: the one
        rounding a call's price goes through."""
        quantum = Decimal(1).scaleb(-exponent(currency))
        rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
        return cls(int(rounded.scaleb(exponent(currency))), currency)

    def to_decimal(self) -> Decimal:
        """The amount in major units, with exactly the currency's decimals."""
        return Decimal(self.minor).scaleb(-exponent(self.currency))

    def __str__(self) -> str:
        """Plain major-unit text with the currency's decimals (``"-0.14"``)."""
        return f"{self.to_decimal():.{exponent(self.currency)}f}"

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidAmount(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def is_positive(self) -> bool:
        return self.minor > 0
