"""Increments, billed seconds, call cost and granted seconds: the contract's
arithmetic, by worked examples and by properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcredit.domain.errors import InvalidInput
from callcredit.domain.money import Money
from callcredit.domain.rating import (
    Increment,
    Rate,
    billed_seconds,
    call_cost,
    first_interval_cost,
    granted_seconds,
)


def rate(per_minute: str, connect: str = "0", increment: str = "60/60") -> Rate:
    return Rate("+44", "test", Decimal(per_minute), Decimal(connect), Increment.parse(increment))


# Increments


def test_increment_parses_first_and_step() -> None:
    """'30/6' means a first block of 30 seconds, then steps of 6."""
    assert Increment.parse("30/6") == Increment(30, 6)
    assert str(Increment.parse(" 60 / 60 ")) == "60/60"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/0", "at least 1"),
        ("0/6", "at least 1"),
        ("30/0", "at least 1"),
        ("x/y", "not of the form a/b"),
        ("60", "not of the form a/b"),
        ("-1/6", "not of the form a/b"),
        ("", "not of the form a/b"),
    ],
)
def test_bad_increments_are_refused_with_a_reason(text: str, message: str) -> None:
    """An increment that is not a/b with a, b ≥ 1 is an input error that says why."""
    with pytest.raises(InvalidInput, match=message):
        Increment.parse(text)


# Billed seconds


@pytest.mark.parametrize(
    ("increment", "answered", "billed"),
    [
        ("60/60", 0, 0),
        ("60/60", 1, 60),
        ("60/60", 60, 60),
        ("60/60", 61, 120),
        ("60/60", 120, 120),
        ("60/60", 121, 180),
        ("30/6", 1, 30),
        ("30/6", 30, 30),
        ("30/6", 31, 36),
        ("30/6", 36, 36),
        ("30/6", 37, 42),
        ("30/6", 125, 126),
        ("1/1", 1, 1),
        ("1/1", 125, 125),
    ],
)
def test_billed_seconds_follow_the_increment(increment: str, answered: int, billed: int) -> None:
    """Billed is a when d ≤ a, else a + ceil((d − a)/b)·b, and 0 for an unanswered call."""
    assert billed_seconds(answered, Increment.parse(increment)) == billed


def test_negative_duration_is_refused() -> None:
    """A negative answered duration is an input error, not a free call."""
    with pytest.raises(InvalidInput, match="negative"):
        billed_seconds(-1, Increment(60, 60))


# Cost


def test_unanswered_call_is_free_even_with_a_connect_fee() -> None:
    """d = 0 costs nothing: no connect fee for a call nobody answered."""
    assert call_cost(0, rate("0.8000", "0.1500", "1/1"), "EUR") == Money(0, "EUR")


def test_uk_landline_worked_example() -> None:
    """125 s to the UK at 0.0450/min, 60/60: billed 180 s, 0.135 → 0.14 EUR."""
    assert call_cost(125, rate("0.0450"), "EUR") == Money(14, "EUR")


def test_connect_fee_is_added_before_the_single_rounding() -> None:
    """118 218 for 30 s: 2.99 + 0.99 × 60/60 = 3.98 EUR."""
    assert call_cost(30, rate("0.9900", "2.9900"), "EUR") == Money(398, "EUR")


def test_premium_per_second_with_connect_fee() -> None:
    """0892 for 61 s at 0.80/min, 1/1, 0.15 connect: 0.15 + 0.8133… = 0.963… → 0.96 EUR."""
    assert call_cost(61, rate("0.8000", "0.1500", "1/1"), "EUR") == Money(96, "EUR")


def test_thirty_six_increment_worked_example() -> None:
    """125 s at 0.0200/min, 30/6: billed 126 s, 0.042 → 0.04 EUR."""
    assert call_cost(125, rate("0.0200", "0", "30/6"), "EUR") == Money(4, "EUR")


def test_half_a_cent_rounds_up() -> None:
    """Exactly 0.005 rounds half-up to 0.01 (not to even)."""
    assert call_cost(60, rate("0.005"), "EUR") == Money(1, "EUR")
    assert call_cost(60, rate("0.025"), "EUR") == Money(3, "EUR")


def test_just_under_half_a_cent_rounds_down() -> None:
    """0.004999 rounds down to 0.00: one rounding, never twice."""
    assert call_cost(60, rate("0.004999"), "EUR") == Money(0, "EUR")


def test_rounding_happens_once_per_call_not_per_increment() -> None:
    """Ten 6-second steps at 0.0049/min are not rounded one by one."""
    assert call_cost(60, rate("0.0049", "0", "6/6"), "EUR") == Money(0, "EUR")
    assert call_cost(120, rate("0.0049", "0", "6/6"), "EUR") == Money(1, "EUR")


def test_zero_decimal_currency_rounds_to_the_unit() -> None:
    """A JPY rate rounds to whole yen."""
    assert call_cost(60, rate("12.5"), "JPY") == Money(13, "JPY")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("per_minute", "-0.01", "negative"),
        ("per_minute", "0.0000001", "more than 6 decimals"),
        ("connect_fee", "-1", "negative"),
        ("per_minute", "NaN", "not a decimal"),
    ],
)
def test_rates_refuse_negative_or_over_precise_amounts(
    field: str, value: str, message: str
) -> None:
    """A rate is non-negative with at most six decimals."""
    kwargs = {"per_minute": Decimal("0.01"), "connect_fee": Decimal(0), field: Decimal(value)}
    with pytest.raises(InvalidInput, match=message):
        Rate("+44", "x", increment=Increment(60, 60), **kwargs)


@pytest.mark.parametrize("prefix", ["44", "+", "+44a", "+1234567890123456", ""])
def test_prefix_must_be_plus_and_digits(prefix: str) -> None:
    """A prefix is '+' followed by 1 to 15 digits."""
    with pytest.raises(InvalidInput, match="prefix"):
        Rate(prefix, "x", Decimal(1), Decimal(0), Increment(60, 60))


# Granted seconds


def test_granted_is_the_quota_when_money_is_plentiful() -> None:
    """With ample funds, a quota on a boundary is granted whole."""
    assert granted_seconds(rate("0.0450"), 10_000, 600, "EUR") == 600


def test_granted_rounds_the_quota_down_to_a_boundary() -> None:
    """A quota of 100 s under 60/60 grants 60 s; under 30/6, 96 s."""
    assert granted_seconds(rate("0.0450"), 10_000, 100, "EUR") == 60
    assert granted_seconds(rate("0.0450", "0", "30/6"), 10_000, 100, "EUR") == 96


def test_quota_shorter_than_the_first_interval_grants_the_first_interval() -> None:
    """The first interval is indivisible: a 10 s quota under 60/60 grants 60 s."""
    assert granted_seconds(rate("0.0450"), 10_000, 10, "EUR") == 60


def test_granted_is_limited_by_money() -> None:
    """0.10 EUR at 0.0450/min, 60/60: 120 s cost 0.09, 180 s would cost 0.14."""
    assert granted_seconds(rate("0.0450"), 10, 3600, "EUR") == 120


def test_granted_counts_the_connect_fee() -> None:
    """3.00 EUR for 118 218 (2.99 connect + 0.99/min): not even the first minute fits."""
    assert granted_seconds(rate("0.9900", "2.9900"), 300, 600, "EUR") == 0
    assert granted_seconds(rate("0.9900", "2.9900"), 398, 600, "EUR") == 60


def test_granted_uses_half_up_rounding_of_the_cost() -> None:
    """A boundary whose exact cost is 0.005 costs 0.01, so 0 cents cannot buy it."""
    assert granted_seconds(rate("0.005", "0", "60/60"), 0, 600, "EUR") == 0
    assert granted_seconds(rate("0.004999", "0", "60/60"), 0, 600, "EUR") == 60


def test_free_rate_grants_the_whole_quota() -> None:
    """A zero rate is limited only by the quota."""
    assert granted_seconds(rate("0"), 0, 3600, "EUR") == 3600


def test_granted_needs_a_positive_quota() -> None:
    """A quota below one second is an input error."""
    with pytest.raises(InvalidInput, match="quota"):
        granted_seconds(rate("0.01"), 100, 0, "EUR")


# Properties

amounts = st.decimals(min_value=0, max_value=5, places=6, allow_nan=False, allow_infinity=False)
increments = st.builds(Increment, st.integers(1, 120), st.integers(1, 120))
rates = st.builds(
    Rate, st.just("+44"), st.just("p"), amounts, st.decimals(0, 3, places=4), increments
)


@given(rates, st.integers(0, 20_000), st.integers(0, 20_000))
def test_cost_never_decreases_with_duration(r: Rate, d1: int, d2: int) -> None:
    """A longer call never costs less than a shorter one."""
    short, long = sorted((d1, d2))
    assert call_cost(short, r, "EUR") <= call_cost(long, r, "EUR")


@given(increments, st.integers(1, 100_000))
def test_billed_is_a_boundary_at_least_the_answered_time(inc: Increment, d: int) -> None:
    """Billed seconds are a, a+b, a+2b … and never less than the answered seconds."""
    billed = billed_seconds(d, inc)
    assert billed >= d
    assert billed >= inc.first
    assert (billed - inc.first) % inc.step == 0
    assert billed - d < max(inc.first, inc.step)


@given(
    rates, st.integers(0, 100_000), st.integers(1, 20_000), st.sampled_from(["EUR", "JPY", "KWD"])
)
def test_granted_cost_fits_and_the_next_boundary_does_not(
    r: Rate, available: int, quota: int, currency: str
) -> None:
    """The grant's cost fits the money; the next boundary exceeds the money or the quota."""
    granted = granted_seconds(r, available, quota, currency)
    inc = r.increment
    if granted == 0:
        assert first_interval_cost(r, currency).minor > available
        return
    assert (granted - inc.first) % inc.step == 0
    assert call_cost(granted, r, currency).minor <= available
    assert granted <= max(quota, inc.first)
    following = granted + inc.step
    assert following > quota or call_cost(following, r, currency).minor > available
