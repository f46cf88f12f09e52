"""The administrators' e-mails are complete in English and in French."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcredit.domain.money import Money
from callcredit.services.emails import Letter, Writer, reason

WHEN = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
EUR = Money(2500, "EUR")


def letters(language: str) -> list[Letter]:
    w = Writer(language, "Atelier Lumière", "https://pbx.example/office")
    return [
        w.receipt(amount=EUR, card="Visa •••• 4242", reference="ch_1", balance=EUR, when=WHEN),
        w.receipt(
            amount=EUR,
            card="Visa •••• 4242",
            reference="ch_2",
            balance=EUR,
            when=WHEN,
            below=Money(1000, "EUR"),
        ),
        w.low_balance(available=Money(450, "EUR"), below=Money(1000, "EUR"), suspended=False),
        w.low_balance(available=Money(450, "EUR"), below=Money(1000, "EUR"), suspended=True),
        w.topoff_failed(
            amount=EUR, card="Visa •••• 4242", decline_code="insufficient_funds", retry=WHEN
        ),
        w.topoff_suspended(amount=EUR, card="Visa •••• 4242", decline_code=None, failures=3),
        w.topoff_capped(below=Money(1000, "EUR"), cap=5),
    ]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_letter_is_filled_in(language: str) -> None:
    """No placeholder is left and each letter names the account and links the office manager."""
    for letter in letters(language):
        for text in (letter.subject, letter.body):
            assert "%(" not in text
        assert "Atelier Lumière" in letter.body
        assert "https://pbx.example/office" in letter.body


def test_french_letters_are_translated() -> None:
    """Every French subject and body differs from the English one and speaks French."""
    for english, french in zip(letters("en"), letters("fr"), strict=True):
        assert french.subject != english.subject
        assert french.body != english.body
        assert french.body.startswith("Bonjour,")
    assert "25,00" in letters("fr")[0].subject


def test_decline_reasons_are_translated_with_a_fallback() -> None:
    """Known decline codes read as sentences; unknown ones name the code."""
    assert reason("en", "insufficient_funds") == "the card has insufficient funds."
    assert reason("fr", "generic_decline") == "la carte a été refusée."
    assert reason("en", "do_not_honor") == "the payment was refused (do_not_honor)."
    assert reason("fr", "do_not_honor") == "le paiement a été refusé (do_not_honor)."
