"""Card numbers, expiry dates and security codes, checked before the gateway."""

from __future__ import annotations

from datetime import date

import pytest

from callcredit.domain.cards import (
    brand_of,
    card_label,
    card_number,
    expiry,
    luhn_valid,
    security_code,
    validate_card,
)
from callcredit.domain.errors import CardExpired, InvalidCard

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "4000000000000002", "4000000000009995", "4000000000000341",
     "4000000000008880", "5555555555554444", "378282246310005"],
)  # fmt: skip
def test_test_cards_pass_the_luhn_check(number: str) -> None:
    """Every documented test card number carries a valid Luhn checksum."""
    assert luhn_valid(number)


def test_a_mistyped_digit_fails_the_luhn_check() -> None:
    """Changing one digit of a valid number makes it invalid."""
    assert not luhn_valid("4242424242424241")


def test_spaces_and_dashes_are_accepted_in_the_number() -> None:
    """A number typed in groups is read as its digits."""
    assert card_number("4242 4242-4242 4242") == "4242424242424242"


@pytest.mark.parametrize("typed", ["4242x24242424242", "4242", "4242424242424241", ""])
def test_bad_numbers_are_refused_without_repeating_them(typed: str) -> None:
    """A refused number gets a clear reason that never contains the digits."""
    with pytest.raises(InvalidCard) as caught:
        card_number(typed)
    if typed:
        assert typed not in str(caught.value)


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4242424242424242", "Visa"), ("5555555555554444", "Mastercard"),
     ("2223003122003222", "Mastercard"), ("378282246310005", "American Express"),
     ("6011111111111117", "Discover"), ("3566002020360505", "JCB"),
     ("36227206271667", "Diners Club"), ("6200000000000005", "UnionPay")],
)  # fmt: skip
def test_brand_comes_from_the_leading_digits(number: str, brand: str) -> None:
    """The network is recognised from the number's prefix."""
    assert brand_of(number) == brand


@pytest.mark.parametrize(
    ("typed", "expected"), [("04/29", (4, 2029)), ("4/2029", (4, 2029)), ("11/26", (11, 2026))]
)
def test_expiry_accepts_two_and_four_digit_years(typed: str, expected: tuple[int, int]) -> None:
    """MM/YY and MM/YYYY both work; the current month is still valid."""
    assert expiry(typed, TODAY) == expected


def test_a_past_expiry_is_refused() -> None:
    """A card whose expiry month is over is refused as expired."""
    with pytest.raises(CardExpired, match="10/2026"):
        expiry("10/26", TODAY)


@pytest.mark.parametrize("typed", ["13/29", "00/29", "1229", "12/2", "ab/cd"])
def test_malformed_expiry_is_refused(typed: str) -> None:
    """An expiry that is not a month and a year is refused."""
    with pytest.raises(InvalidCard):
        expiry(typed, TODAY)


@pytest.mark.parametrize("typed", ["12", "12345", "12a", ""])
def test_security_code_is_three_or_four_digits(typed: str) -> None:
    """CVCs of other lengths or with letters are refused."""
    with pytest.raises(InvalidCard, match="3 or 4 digits"):
        security_code(typed)


def test_validated_card_hides_number_and_code_from_repr() -> None:
    """A card's repr (what logs and tracebacks show) has neither the number nor the CVC."""
    card = validate_card("4242 4242 4242 4242", "12/30", "9731", " Camille  Martin ", today=TODAY)
    assert (card.number, card.exp_month, card.exp_year, card.cvc) == (
        "4242424242424242", 12, 2030, "9731",
    )  # fmt: skip
    assert card.holder == "Camille Martin"
    assert "4242424242424242" not in repr(card)
    assert "9731" not in repr(card)
    assert (card.brand, card.last4) == ("Visa", "4242")


def test_an_empty_holder_name_is_refused() -> None:
    """The cardholder's name is required."""
    with pytest.raises(InvalidCard, match="name"):
        validate_card("4242424242424242", "12/30", "123", "  ", today=TODAY)


def test_card_label_shows_brand_and_last_four() -> None:
    """Cards are shown as brand and last four digits only."""
    assert card_label("Visa", "4242") == "Visa •••• 4242"
