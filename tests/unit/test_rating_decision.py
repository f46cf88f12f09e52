"""The authorize decision (contract steps 2–10), one worked example per reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from callcredit.domain.errors import InvalidInput
from callcredit.domain.money import Money
from callcredit.domain.rating import (
    Decision,
    ExtensionRights,
    Increment,
    LowBalancePolicy,
    NumberInfo,
    Plan,
    Rate,
    Reason,
    decide,
)

PLAN = Plan("fr-office", "France office", "FR", "EUR", "standard", ("FR:mobile", "GB:fixed_line"))
UK_LANDLINE = NumberInfo("0044 20 7946 0000", "+442079460000", "GB", "fixed_line")
UK_MOBILE = NumberInfo("+447400123456", "+447400123456", "GB", "mobile")
PREMIUM = NumberInfo("0892681234", "+33892681234", "FR", "premium_rate", premium=True)
UK_RATE = Rate("+447", "United Kingdom mobile", Decimal("0.15"), Decimal(0), Increment(60, 60))
PREMIUM_RATE = Rate("+3389", "premium", Decimal("0.80"), Decimal("0.15"), Increment(1, 1))


def run(
    number: NumberInfo = UK_MOBILE,
    rate: Rate | None = UK_RATE,
    rights: ExtensionRights | None = None,
    policy: LowBalancePolicy | None = None,
    available: int = 1_000,
    fraud: bool = False,
    quota: int = 600,
) -> Decision:
    return decide(
        number,
        PLAN,
        rate,
        rights or ExtensionRights(),
        policy or LowBalancePolicy(),
        available,
        fraud,
        quota,
    )


def test_invalid_number_is_denied() -> None:
    """Something that is not a number is denied invalid_number with nothing granted."""
    d = run(NumberInfo.invalid("garbage", "not a number"), rate=None)
    assert (d.allow, d.reason, d.granted_seconds) == (False, Reason.INVALID_NUMBER, 0)


def test_emergency_is_free_unlimited_whatever_the_balance_and_rights() -> None:
    """112 is allowed with no limit even for a blocked extension with no money and a fraud alert."""
    emergency = NumberInfo("112", "+33112", "FR", "toll_free", emergency=True, short=True)
    d = run(
        emergency,
        rate=None,
        rights=ExtensionRights(paid_allowed=False, monthly_cap_minor=0),
        available=-500,
        fraud=True,
    )
    assert (d.allow, d.reason, d.granted_seconds, d.reserve) == (
        True,
        Reason.EMERGENCY,
        None,
        Money(0, "EUR"),
    )


def test_included_is_free_unlimited_and_names_the_rule() -> None:
    """A UK landline under a plan with GB:fixed_line is included, whatever the balance."""
    d = run(UK_LANDLINE, available=0, fraud=True)
    assert (d.allow, d.reason, d.granted_seconds, d.matched) == (
        True,
        Reason.INCLUDED,
        None,
        "GB:fixed_line",
    )
    assert d.reserve == Money(0, "EUR")


def test_fixed_line_or_mobile_matches_a_mobile_rule() -> None:
    """A number phonenumbers cannot split (fixed_line_or_mobile) is included by a mobile rule."""
    either = NumberInfo("x", "+33612345678", "FR", "fixed_line_or_mobile")
    assert run(either).reason == Reason.INCLUDED


def test_unpriced_destination_is_blocked() -> None:
    """No deck prefix → destination_blocked."""
    d = run(rate=None)
    assert (d.allow, d.reason, d.granted_seconds) == (False, Reason.DESTINATION_BLOCKED, 0)


def test_extension_without_paid_calls_is_blocked() -> None:
    """An extension whose paid calls are off gets extension_blocked."""
    assert run(rights=ExtensionRights(paid_allowed=False)).reason == Reason.EXTENSION_BLOCKED


def test_premium_blocked_only_for_premium_numbers() -> None:
    """premium_allowed=False blocks 0892… but not a UK mobile."""
    rights = ExtensionRights(premium_allowed=False)
    assert run(PREMIUM, PREMIUM_RATE, rights).reason == Reason.EXTENSION_BLOCKED
    assert run(rights=rights).reason == Reason.PREPAID


def test_monthly_cap_reached() -> None:
    """A cap already spent denies extension_cap_reached."""
    rights = ExtensionRights(monthly_cap_minor=500, month_spent_minor=500)
    assert run(rights=rights).reason == Reason.EXTENSION_CAP_REACHED


def test_cap_room_below_the_first_interval_counts_as_reached() -> None:
    """With 0.10 left under the cap, a 0.15 first minute is extension_cap_reached."""
    rights = ExtensionRights(monthly_cap_minor=500, month_spent_minor=490)
    assert run(rights=rights).reason == Reason.EXTENSION_CAP_REACHED


def test_cap_room_limits_the_grant() -> None:
    """With 0.45 left under the cap at 0.15/min, three minutes are granted of a 10-minute quota."""
    rights = ExtensionRights(monthly_cap_minor=500, month_spent_minor=455)
    d = run(rights=rights)
    assert (d.reason, d.granted_seconds, d.reserve) == (Reason.PREPAID, 180, Money(45, "EUR"))


def test_stop_below_threshold_denies_low_balance() -> None:
    """Stopping paid calls below 5.00 with 4.99 available denies low_balance."""
    policy = LowBalancePolicy("stop-below", 500)
    assert run(policy=policy, available=499).reason == Reason.LOW_BALANCE
    assert run(policy=policy, available=500).reason == Reason.PREPAID


def test_auto_topoff_threshold_does_not_deny() -> None:
    """Below an auto top-off threshold, paid calls still go ahead."""
    assert run(policy=LowBalancePolicy("auto-topoff", 500), available=100).allow


def test_fraud_guard_denies_paid_calls() -> None:
    """A tripped fraud guard denies fraud_guard."""
    assert run(fraud=True).reason == Reason.FRAUD_GUARD


def test_first_interval_must_be_affordable() -> None:
    """0.14 available for a 0.15 first minute → insufficient_funds, first interval reported."""
    d = run(available=14)
    assert (d.allow, d.reason, d.granted_seconds) == (False, Reason.INSUFFICIENT_FUNDS, 0)
    assert d.first_interval == Money(15, "EUR")


def test_connect_fee_counts_in_the_first_interval() -> None:
    """0.15 connect + 1 s at 0.80/min = 0.1633 → 0.16: 0.15 available is not enough."""
    assert run(PREMIUM, PREMIUM_RATE, available=15).reason == Reason.INSUFFICIENT_FUNDS
    assert run(PREMIUM, PREMIUM_RATE, available=16).reason == Reason.PREPAID


def test_prepaid_reserves_the_cost_of_the_granted_seconds() -> None:
    """1.00 EUR at 0.15/min with a 10-minute quota: 6 minutes granted, 0.90 reserved."""
    d = run(available=100)
    assert (d.allow, d.reason, d.granted_seconds, d.reserve, d.matched) == (
        True,
        Reason.PREPAID,
        360,
        Money(90, "EUR"),
        "+447",
    )


def test_prepaid_grant_is_the_quota_when_funds_allow() -> None:
    """Plenty of money: the 600 s quota is granted and its 1.50 cost reserved."""
    d = run(available=100_000)
    assert (d.granted_seconds, d.reserve) == (600, Money(150, "EUR"))


def test_decision_order_first_match_wins() -> None:
    """A blocked extension is reported before low balance, fraud or funds."""
    d = run(
        rights=ExtensionRights(paid_allowed=False),
        policy=LowBalancePolicy("stop-below", 10_000),
        available=0,
        fraud=True,
    )
    assert d.reason == Reason.EXTENSION_BLOCKED


def test_reasons_are_the_contract_strings() -> None:
    """Reasons serialise to exactly the contract's strings."""
    assert [str(r) for r in Reason] == [
        "unknown_account",
        "unknown_extension",
        "invalid_number",
        "emergency",
        "included",
        "destination_blocked",
        "extension_blocked",
        "extension_cap_reached",
        "low_balance",
        "fraud_guard",
        "insufficient_funds",
        "prepaid",
    ]


def test_unknown_low_balance_mode_is_refused() -> None:
    """The Settings mode is one of off, stop-below, auto-topoff."""
    with pytest.raises(InvalidInput, match="mode"):
        LowBalancePolicy("sometimes")
