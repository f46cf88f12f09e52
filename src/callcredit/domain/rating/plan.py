"""Calling plans: what an account's monthly plan includes for free."""

from __future__ import annotations

import re
from dataclasses import dataclass

from callcredit.domain.errors import InvalidAmount, InvalidPlan
from callcredit.domain.money import check_currency
from callcredit.domain.rating.numbers import KINDS, NumberInfo

WILDCARD = "*"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_RULE_COUNTRY = re.compile(r"^([A-Z]{2}|[0-9]{3})$")
# A number of kind ``fixed_line_or_mobile`` (e.g. in the US) is matched by
# rules for either kind.
_ALSO_MATCHES = {"fixed_line_or_mobile": ("fixed_line", "mobile")}


def check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise InvalidPlan(
            f"{what} {value!r} must be lower-case letters, digits, '-' or '_' (at most 64)"
        )
    return value


def check_country(value: str, what: str) -> str:
    if not _COUNTRY.match(value):
        raise InvalidPlan(f"{what} {value!r} is not a two-letter ISO 3166 code such as FR")
    return value


def check_rule(rule: str) -> str:
    """Validate ``COUNTRY:kind`` or ``COUNTRY:*`` (``"FR:mobile"``)."""
    country, sep, kind = rule.partition(":")
    if not sep or not _RULE_COUNTRY.match(country):
        raise InvalidPlan(f"included rule {rule!r} is not COUNTRY:kind (e.g. FR:mobile)")
    if kind != WILDCARD and kind not in KINDS:
        raise InvalidPlan(
            f"included rule {rule!r}: unknown kind {kind!r} (one of {', '.join(sorted(KINDS))}"
            " or *)"
        )
    return rule


@dataclass(frozen=True, slots=True)
class Plan:
    """A calling plan; ``included`` rules are ``COUNTRY:kind`` or ``COUNTRY:*``."""

    id: str
    name: str
    home_country: str
    currency: str
    rate_deck: str
    included: tuple[str, ...]

    def __post_init__(self) -> None:
        check_id(self.id, "plan id")
        check_country(self.home_country, f"plan {self.id}: home_country")
        try:
            check_currency(self.currency)
        except InvalidAmount as exc:
            raise InvalidPlan(f"plan {self.id}: {exc}") from exc
        check_id(self.rate_deck, f"plan {self.id}: rate_deck")
        for rule in self.included:
            try:
                check_rule(rule)
            except InvalidPlan as exc:
                raise InvalidPlan(f"plan {self.id}: {exc}") from exc

    def included_rule(self, number: NumberInfo) -> str | None:
        """The first ``included`` rule that matches ``number``, or None."""
        if not number.valid:
            return None
        kinds = (number.kind, *_ALSO_MATCHES.get(number.kind, ()))
        for rule in self.included:
            country, _, kind = rule.partition(":")
            if country == number.country and (kind == WILDCARD or kind in kinds):
                return rule
        return None
