"""Translations (gettext catalogues under ``callcredit/locale``) and
locale-aware formatting of money and dates, through Babel.

Catalogues are read from the ``.po`` files and compiled in memory once per
process, so the repository carries no compiled ``.mo`` files.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import NullTranslations, Translations

from callcredit.domain.money import Money

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"


@cache
def translations(language: str) -> NullTranslations:
    """The gettext translations for ``language`` (English is the source)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT_LANGUAGE or not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return translations(language).ngettext(singular, plural, n)


def format_money(amount: Money, language: str) -> str:
    """``1 234,56 €`` in French, ``€1,234.56`` in English."""
    return str(format_currency(amount.to_decimal(), amount.currency, locale=_locale(language)))


def format_day(value: date | datetime, language: str) -> str:
    """``21/11/2026`` in French, ``11/21/2026`` style short dates in English."""
    return str(
        format_date(
            value, format="short" if language == "fr" else "medium", locale=_locale(language)
        )
    )


def format_moment(value: datetime, language: str) -> str:
    return str(format_datetime(value, format="short", locale=_locale(language)))


def negotiate(accept_language: str | None) -> str:
    """Pick English or French from an ``Accept-Language`` header."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    chosen = Locale.negotiate(
        [part.split(";")[0].strip().replace("-", "_") for part in accept_language.split(",")],
        list(LANGUAGES),
        sep="_",
    )
    return str(chosen.language) if chosen else DEFAULT_LANGUAGE


def _locale(language: str) -> Locale:
    return Locale.parse("fr_FR" if language == "fr" else "en_GB")
