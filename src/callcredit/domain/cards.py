"""Card numbers, expiry dates and security codes, checked before anything
reaches a payment gateway. Standard library only.

A :class:`CardDetails` never shows its number or security code in ``repr``,
and no error message repeats them, so neither can reach a log line or a
traceback by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from callcredit.domain.errors import CardExpired, InvalidCard

_SEPARATORS = re.compile(r"[ -]")
_EXPIRY = re.compile(r"^\s*(\d{1,2})\s*[/-]\s*(\d{2}|\d{4})\s*$")
_CVC = re.compile(r"^\d{3,4}$")


@dataclass(frozen=True, slots=True)
class CardDetails:
    """A card as typed by the administrator, on its way to the gateway."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str = field(repr=False)
    holder: str

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def brand(self) -> str:
        return brand_of(self.number)


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` passes the Luhn checksum card numbers carry."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def brand_of(number: str) -> str:
    """The card network, from the number's leading digits."""
    if number.startswith("4"):
        return "Visa"
    two, four = int(number[:2] or 0), int(number[:4] or 0)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "Mastercard"
    if two in (34, 37):
        return "American Express"
    if number.startswith("6011") or number.startswith("65") or 644 <= int(number[:3] or 0) <= 649:
        return "Discover"
    if 3528 <= four <= 3589:
        return "JCB"
    if two in (36, 38, 39) or 300 <= int(number[:3] or 0) <= 305:
        return "Diners Club"
    if number.startswith("62"):
        return "UnionPay"
    return "Card"


def card_number(text: str) -> str:
    """The digits of a card number typed with or without spaces and dashes."""
    digits = _SEPARATORS.sub("", text.strip())
    if not digits.isdigit():
        raise InvalidCard("the card number may only contain digits, spaces and dashes")
    if not 12 <= len(digits) <= 19:
        raise InvalidCard("a card number has 12 to 19 digits")
    if not luhn_valid(digits):
        raise InvalidCard("the card number is not valid: check the digits")
    return digits


def expiry(text: str, today: date) -> tuple[int, int]:
    """(month, year) from ``MM/YY`` or ``MM/YYYY``; a card is valid until the
    end of its expiry month."""
    match = _EXPIRY.match(text)
    if not match:
        raise InvalidCard("the expiry date must look like MM/YY, for example 04/29")
    month, year = int(match.group(1)), int(match.group(2))
    if len(match.group(2)) == 2:
        year += 2000
    if not 1 <= month <= 12:
        raise InvalidCard("the expiry month must be between 01 and 12")
    if (year, month) < (today.year, today.month):
        raise CardExpired(f"the card expired at the end of {month:02d}/{year}")
    if year > today.year + 20:
        raise InvalidCard("the expiry date is too far in the future")
    return month, year


def security_code(text: str) -> str:
    """The CVC: three or four digits."""
    code = text.strip()
    if not _CVC.match(code):
        raise InvalidCard("the security code (CVC) is 3 or 4 digits")
    return code


def validate_card(number: str, exp: str, cvc: str, holder: str, *, today: date) -> CardDetails:
    """Check everything that can be checked without the gateway."""
    digits = card_number(number)
    month, year = expiry(exp, today)
    code = security_code(cvc)
    name = " ".join(holder.split())
    if not name:
        raise InvalidCard("the cardholder's name must not be empty")
    if len(name) > 200:
        raise InvalidCard("the cardholder's name is longer than 200 characters")
    return CardDetails(digits, month, year, code, name)


def card_label(brand: str, last4: str) -> str:
    """How a card is shown: brand and last four digits (``Visa •••• 4242``)."""
    return f"{brand} •••• {last4}"
