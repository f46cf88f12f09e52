"""The arithmetic of a charge: increments, rates, billed seconds, cost, and
how long a call may run on a given amount of money.

A call of ``d`` answered seconds under increment ``a/b`` is billed ``a``
seconds when ``d ≤ a``, else ``a + ceil((d − a) / b) · b`` seconds; its cost is
``connect_fee + per_minute · billed / 60`` rounded half-up to the minor unit,
once, at the end. An unanswered call (``d = 0``) costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from callcredit.domain.errors import InvalidRate
from callcredit.domain.money import Money, exponent

MAX_DECIMALS = 6
_INCREMENT = re.compile(r"^\s*(\d{1,5})\s*/\s*(\d{1,5})\s*$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_PREFIX = re.compile(r"^\+[0-9]{1,15}$")


@dataclass(frozen=True, slots=True)
class Increment:
    """Billing increment ``first/step``: the first ``first`` seconds are billed
    as a block, then every started ``step`` seconds."""

    first: int
    step: int

    def __post_init__(self) -> None:
        if self.first < 1 or self.step < 1:
            raise InvalidRate(
                f"increment {self.first}/{self.step}: both numbers must be at least 1"
            )

    @classmethod
    def parse(cls, text: str) -> Increment:
        """Parse ``"60/60"``, ``"30/6"``, ``"1/1"``."""
        match = _INCREMENT.match(text)
        if match is None:
            raise InvalidRate(
                f"increment {text!r} is not of the form a/b (seconds, e.g. 60/60 or 30/6)"
            )
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.first}/{self.step}"


def parse_amount(text: str, what: str) -> Decimal:
    """Parse a plain decimal number such as a per-minute rate; exponents,
    NaN and infinities are refused. :class:`Rate` checks sign and precision."""
    text = text.strip()
    if not _DECIMAL.match(text):
        raise InvalidRate(f"{what} {text!r} is not a decimal number")
    return Decimal(text)


def check_amount(value: Decimal, what: str) -> Decimal:
    """``value`` if it is finite, non-negative, with at most six decimals."""
    if not value.is_finite():
        raise InvalidRate(f"{what} {value} is not a decimal number")
    if value < 0:
        raise InvalidRate(f"{what} {value} is negative")
    exp = value.as_tuple().exponent
    if isinstance(exp, int) and exp < -MAX_DECIMALS:
        raise InvalidRate(f"{what} {value} has more than {MAX_DECIMALS} decimals")
    return value


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of the destinations starting with ``prefix`` (``"+447"``)."""

    prefix: str
    description: str
    per_minute: Decimal
    connect_fee: Decimal
    increment: Increment

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix):
            raise InvalidRate(f"prefix {self.prefix!r} must be '+' followed by 1 to 15 digits")
        check_amount(self.per_minute, "per_minute")
        check_amount(self.connect_fee, "connect_fee")


def billed_seconds(answered: int, increment: Increment) -> int:
    """Seconds billed for ``answered`` seconds: 0, ``a``, or ``a + k·b``."""
    if answered < 0:
        raise InvalidRate(f"answered seconds cannot be negative ({answered})")
    if answered == 0:
        return 0
    a, b = increment.first, increment.step
    if answered <= a:
        return a
    return a + -(-(answered - a) // b) * b


def price(billed: int, rate: Rate, currency: str) -> Money:
    """Cost of ``billed`` seconds (already a billing boundary, > 0) with the
    connect fee, rounded half-up once."""
    return Money.from_decimal(rate.connect_fee + rate.per_minute * billed / 60, currency)


def call_cost(answered: int, rate: Rate, currency: str) -> Money:
    """What a call of ``answered`` seconds costs under ``rate``."""
    billed = billed_seconds(answered, rate.increment)
    if billed == 0:
        return Money.zero(currency)
    return price(billed, rate, currency)


def first_interval_cost(rate: Rate, currency: str) -> Money:
    """Connect fee plus the first increment: the least a paid call costs."""
    return price(rate.increment.first, rate, currency)


def granted_seconds(rate: Rate, available_minor: int, quota_seconds: int, currency: str) -> int:
    """The largest billing boundary (``a``, ``a+b``, ``a+2b`` …) at most
    ``quota_seconds`` whose cost fits in ``available_minor``; 0 when even the
    first interval is unaffordable.

    The first interval is indivisible: when the quota is shorter than ``a``
    but ``a`` seconds are affordable, ``a`` is granted (a call is never billed
    less than ``a`` seconds, so a shorter grant would reserve the same money).
    Computed exactly in integers, in constant time.
    """
    if quota_seconds < 1:
        raise InvalidRate(f"quota must be at least one second ({quota_seconds})")
    a, b = rate.increment.first, rate.increment.step
    # In millionths (rates have at most six decimals) and minor units 10^-e:
    # cost(s) ≤ M  ⇔  C + R·s/60 < (M + ½)·10^-e  (half-up rounding)
    #             ⇔  2·10^e·(60·C6 + R6·s) < 60·10^6·(2M + 1).
    scale = 2 * 10 ** exponent(currency)
    per_minute = int(rate.per_minute.scaleb(MAX_DECIMALS))
    room = 60 * 10**MAX_DECIMALS * (2 * available_minor + 1) - scale * (
        60 * int(rate.connect_fee.scaleb(MAX_DECIMALS)) + per_minute * a
    )
    if room <= 0:
        return 0
    steps = (quota_seconds - a) // b if quota_seconds >= a else 0
    if per_minute > 0:
        # The largest k with scale·R6·b·k < room.
        steps = min(steps, (room - 1) // (scale * per_minute * b))
    return a + steps * b


def decimal_text(value: Decimal) -> str:
    """A rate or fee as text with at least four decimals (``0.0450``)."""
    places = max(4, -int(value.as_tuple().exponent))
    return f"{value:.{places}f}"
