"""Classification of dialled numbers and their decision under the shipped
fr-office plan and standard deck."""

from __future__ import annotations

from decimal import Decimal

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcredit.adapters.numbering import classify
from callcredit.adapters.rating_store import shipped_deck, shipped_plans
from callcredit.domain.rating import (
    Decision,
    ExtensionRights,
    LowBalancePolicy,
    RateTable,
    Reason,
    call_cost,
    decide,
)

PLAN = next(p for p in shipped_plans() if p.id == "fr-office")
DECK = RateTable(shipped_deck(PLAN.rate_deck))


def rate_call(dialled: str, available: int = 10_000, quota: int = 600) -> Decision:
    number = classify(dialled, PLAN.home_country)
    rate = DECK.lookup(number.e164) if number.e164 else None
    return decide(
        number, PLAN, rate, ExtensionRights(), LowBalancePolicy(), available, False, quota
    )


@pytest.mark.parametrize(
    ("dialled", "e164", "country", "kind", "reason", "matched"),
    [
        ("06 12 34 56 78", "+33612345678", "FR", "mobile", "included", "FR:mobile"),
        ("01 42 68 53 00", "+33142685300", "FR", "fixed_line", "included", "FR:fixed_line"),
        ("09 70 12 34 56", "+33970123456", "FR", "voip", "included", "FR:voip"),
        ("0800 123 456", "+33800123456", "FR", "toll_free", "included", "FR:toll_free"),
        ("08 92 68 12 34", "+33892681234", "FR", "premium_rate", "prepaid", "+3389"),
        ("08 10 12 34 56", "+33810123456", "FR", "shared_cost", "prepaid", "+3381"),
        ("118 218", "+33118218", "FR", "premium_rate", "prepaid", "+33118"),
        ("112", "+33112", "FR", "toll_free", "emergency", None),
        ("15", "+3315", "FR", "toll_free", "emergency", None),
        ("0044 20 7946 0000", "+442079460000", "GB", "fixed_line", "included", "GB:fixed_line"),
        ("+44 7400 123456", "+447400123456", "GB", "mobile", "prepaid", "+447"),
        ("0049 30 123456", "+4930123456", "DE", "fixed_line", "included", "DE:fixed_line"),
        ("+49 151 23456789", "+4915123456789", "DE", "mobile", "prepaid", "+4915"),
        ("+1 212 555 0123", "+12125550123", "US", "fixed_line_or_mobile", "prepaid", "+1"),
        ("+1 876 927 1234", "+18769271234", "JM", "fixed_line", "prepaid", "+1876"),
        ("+882 16 1234 5678", "+8821612345678", "001", "voip", "prepaid", "+882"),
    ],
)
def test_shipped_plan_and_deck_decide_common_destinations(
    dialled: str, e164: str, country: str, kind: str, reason: str, matched: str | None
) -> None:
    """Each destination is normalised from France, classified, and decided as the seeds say."""
    d = rate_call(dialled)
    assert (d.number.e164, d.number.country, d.number.kind) == (e164, country, kind)
    assert (d.reason, d.matched) == (reason, matched)


@pytest.mark.parametrize("dialled", ["112", "15", "17", "18", "114", "115", "119", "196"])
def test_french_emergency_numbers_are_free_and_unlimited(dialled: str) -> None:
    """Every French emergency number is allowed with no money at all."""
    d = rate_call(dialled, available=0)
    assert (d.allow, d.reason, d.granted_seconds) == (True, Reason.EMERGENCY, None)


def test_uk_landline_label_is_readable() -> None:
    """The label names the country and the kind in words."""
    assert classify("0044 20 7946 0000", "FR").label == "United Kingdom — landline"


def test_directory_enquiries_are_premium_short_numbers_rated_by_pseudo_e164() -> None:
    """118 218 is a premium short number priced by +33118: 2.99 + 0.99 for one minute."""
    d = rate_call("118218")
    assert d.number.short
    assert d.number.premium
    assert d.rate is not None
    assert call_cost(60, d.rate, "EUR").minor == 398


def test_premium_rate_has_its_connect_fee_and_per_second_billing() -> None:
    """0892 is priced at 0.80/min with a 0.15 connect fee, billed per second."""
    d = rate_call("0892681234")
    assert d.rate is not None
    assert (d.rate.per_minute, d.rate.connect_fee, str(d.rate.increment)) == (
        Decimal("0.8000"),
        Decimal("0.1500"),
        "1/1",
    )


def test_satellite_numbers_belong_to_the_non_geographic_region() -> None:
    """+882 numbers have country 001 and the satellite/network price."""
    d = rate_call("+88234567890")
    assert (d.number.country, d.number.kind, d.reason) == ("001", "unknown", Reason.PREPAID)


@pytest.mark.parametrize(
    "dialled",
    ["", "   ", "garbage", "06 12 AB 56 78", "1-800-FLOWERS", "*67 0612345678", "12", "9" * 45],
)
def test_garbage_is_an_invalid_number(dialled: str) -> None:
    """Letters, symbols, empty, too long or impossible input is denied invalid_number."""
    d = rate_call(dialled)
    assert d.number.kind == "invalid"
    assert d.number.e164 is None
    assert (d.allow, d.reason) == (False, Reason.INVALID_NUMBER)


@given(st.text(max_size=60) | st.from_regex(r"\+?[0-9 ]{1,25}", fullmatch=True))
def test_any_input_is_classified_without_raising(dialled: str) -> None:
    """Whatever the PBX sends, classification answers: an E.164 of digits, or invalid."""
    number = classify(dialled, "FR")
    if number.e164 is None:
        assert number.kind == "invalid"
    else:
        assert number.e164[0] == "+"
        assert number.e164[1:].isdigit()


def test_invalid_numbers_say_why() -> None:
    """An invalid number's label explains what is wrong."""
    assert classify("", "FR").label == "empty number"
    assert classify("9" * 45, "FR").label == "too long"
    assert "digits" in classify("garbage", "FR").label


def test_emergency_is_relative_to_the_home_country() -> None:
    """15 is the French SAMU, but not a UK emergency number."""
    assert classify("15", "FR").emergency
    assert not classify("15", "GB").emergency
    assert classify("999", "GB").emergency


def test_fr_office_includes_the_home_country_and_twelve_european_landlines() -> None:
    """fr-office includes French landlines, mobiles, VoIP, toll-free and 12 landline countries."""
    landlines = {r.split(":")[0] for r in PLAN.included if r.endswith(":fixed_line")} - {"FR"}
    assert landlines == {"BE", "DE", "ES", "IT", "GB", "NL", "PT", "CH", "AT", "IE", "LU", "DK"}
    assert {"FR:fixed_line", "FR:mobile", "FR:voip", "FR:toll_free"} <= set(PLAN.included)


def test_standard_deck_prices_every_country_calling_code() -> None:
    """Every calling code phonenumbers knows has a prefix in the standard deck."""
    prefixes = {rate.prefix for rate in DECK}
    missing = [c for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE if f"+{c}" not in prefixes]
    assert missing == []


def test_standard_deck_mobile_prefixes_are_mobile_numbers() -> None:
    """Example mobile numbers of the major plans land on their deck's mobile prefix."""
    regions = ["GB", "DE", "FR", "ES", "IT", "BE", "NL", "PT", "CH", "AT", "IE", "LU", "PL", "SE"]
    for region in regions:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        rate = DECK.lookup(e164)
        assert rate is not None
        assert rate.description.endswith("mobile"), (region, e164, rate)
