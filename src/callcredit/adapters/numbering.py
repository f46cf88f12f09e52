"""Classify a dialled destination with ``phonenumbers`` (and Babel for the
country's name): the adapter behind :class:`~callcredit.domain.rating.NumberInfo`.

- The number is parsed as dialled from the account's home country, so
  ``06 12 34 56 78`` (FR) and ``0044 20 7946 0000`` both work.
- Emergency numbers are those of the home country in ``phonenumbers``'
  short-number metadata, plus the French social-emergency numbers the
  metadata does not list (:data:`EXTRA_EMERGENCY`).
- Other short numbers of the home country (``118218``, ``3989``) are kept
  with a pseudo E.164 made of the country code and the short number
  (``+33118218``), so a rate-deck prefix such as ``+33118`` prices them; their
  kind comes from their expected cost (``premium_rate``, ``toll_free``, or
  ``unknown`` for standard-rate and unknown-cost numbers).
- Full numbers keep ``phonenumbers``' type in lower case; a number of a
  possible length that the metadata does not (yet) know is rated with kind
  ``unknown`` rather than refused. Non-geographic codes (satellite ``+881``,
  ``+882`` …) have country ``"001"``.
- Letters, symbols such as ``*`` and ``#``, empty input, too long or
  impossible numbers give kind ``invalid``.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import phonenumbers
from babel import Locale
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType, shortnumberinfo
from phonenumbers.shortnumberinfo import ShortNumberCost

from callcredit.domain.rating import NumberInfo

MAX_DIALLED_LENGTH = 40
_ALLOWED = re.compile(r"^\+?[0-9 ().\-/]+$")
_KIND = {value: name.lower() for name, value in vars(PhoneNumberType).items() if name.isupper()}
_SHORT_KIND = {
    ShortNumberCost.TOLL_FREE: "toll_free",
    ShortNumberCost.PREMIUM_RATE: "premium_rate",
}
# Home-country numbers answered by emergency or social-emergency services
# that phonenumbers' emergency metadata leaves out (France: 114 deaf and
# hard of hearing, 115 homeless, 119 children at risk, 191 aeronautical
# rescue, 196 sea rescue). Always free and allowed, like 112.
EXTRA_EMERGENCY: dict[str, frozenset[str]] = {
    "FR": frozenset({"114", "115", "119", "191", "196"}),
}
NON_GEOGRAPHIC = {
    800: "International Freephone",
    808: "International Shared Cost",
    870: "Inmarsat",
    878: "Universal Personal Telecommunications",
    881: "Global Mobile Satellite System",
    882: "International Networks",
    883: "International Networks",
    888: "United Nations OCHA",
    979: "International Premium Rate",
}
KIND_WORDS = {
    "fixed_line": "landline",
    "mobile": "mobile",
    "fixed_line_or_mobile": "landline or mobile",
    "toll_free": "toll-free",
    "premium_rate": "premium-rate",
    "shared_cost": "shared-cost",
    "voip": "VoIP",
    "personal_number": "personal number",
    "pager": "pager",
    "uan": "universal access number",
    "voicemail": "voicemail",
}
_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country calling code",
    NumberParseException.NOT_A_NUMBER: "not a telephone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def classify(dialled: str, home_country: str) -> NumberInfo:
    """Normalise and classify ``dialled`` as dialled from ``home_country``.

    A pure function of its arguments (``phonenumbers``' metadata does not
    change while the process runs), so the answers for the most recently
    seen numbers are kept: offices dial the same numbers again, and a CDR
    file repeats them many times."""
    return _classify(dialled, home_country)


@lru_cache(maxsize=65_536)
def _classify(dialled: str, home_country: str) -> NumberInfo:
    text = dialled.strip()
    if not text:
        return NumberInfo.invalid(dialled, "empty number")
    if len(text) > MAX_DIALLED_LENGTH:
        return NumberInfo.invalid(dialled, "too long")
    if not _ALLOWED.match(text):
        return NumberInfo.invalid(dialled, "only digits, spaces and a leading + are allowed")
    try:
        number = phonenumbers.parse(text, home_country)
    except NumberParseException as exc:
        return NumberInfo.invalid(dialled, _PARSE_ERRORS.get(exc.error_type, "not a number"))

    code = number.country_code or 0
    nsn = phonenumbers.national_significant_number(number)
    pseudo_e164 = f"+{code}{nsn}"
    at_home = code == phonenumbers.country_code_for_region(home_country)
    if at_home and _is_emergency(nsn, home_country):
        return NumberInfo(
            dialled,
            pseudo_e164,
            home_country,
            "toll_free",
            emergency=True,
            short=True,
            label=f"{country_name(home_country)} — emergency",
        )
    if phonenumbers.is_valid_number(number):
        return _full(dialled, number, code)
    if at_home and shortnumberinfo.is_valid_short_number_for_region(number, home_country):
        cost = shortnumberinfo.expected_cost_for_region(number, home_country)
        kind = _SHORT_KIND.get(cost, "unknown")
        words = KIND_WORDS.get(kind)
        return NumberInfo(
            dialled,
            pseudo_e164,
            home_country,
            kind,
            short=True,
            premium=cost == ShortNumberCost.PREMIUM_RATE,
            label=f"{country_name(home_country)} — short number" + (f" ({words})" if words else ""),
        )
    if phonenumbers.is_possible_number(number):
        return _full(dialled, number, code)
    return NumberInfo.invalid(dialled, "not a possible number")


def _is_emergency(nsn: str, home_country: str) -> bool:
    return shortnumberinfo.is_emergency_number(nsn, home_country) or nsn in EXTRA_EMERGENCY.get(
        home_country, frozenset()
    )


def _full(dialled: str, number: PhoneNumber, code: int) -> NumberInfo:
    kind = _KIND.get(phonenumbers.number_type(number), "unknown")
    country = phonenumbers.region_code_for_number(
        number
    ) or phonenumbers.region_code_for_country_code(code)
    return NumberInfo(
        dialled,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        country,
        kind,
        premium=kind == "premium_rate",
        label=describe(country_name(country, code), kind),
    )


def describe(place: str, kind: str) -> str:
    """``"United Kingdom — landline"``; the place alone when the kind is unknown."""
    words = KIND_WORDS.get(kind)
    return f"{place} — {words}" if words else place


def country_name(region: str, calling_code: int = 0) -> str:
    """English name of ``region``; non-geographic services by their code."""
    if region == "001":
        return NON_GEOGRAPHIC.get(calling_code, "International networks")
    return _territories().get(region, region)


@cache
def _territories() -> dict[str, str]:
    return dict(Locale.parse("en").territories)
