"""Reading rate decks (CSV) and plans (TOML): all rows or nothing."""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterable
from typing import Any

from callcredit.domain.errors import InvalidInput, InvalidPlan, InvalidRateDeck
from callcredit.domain.rating.arithmetic import Increment, Rate, parse_amount
from callcredit.domain.rating.plan import Plan

DECK_COLUMNS = ("prefix", "description", "per_minute", "connect_fee", "increment")
PLAN_FIELDS = ("name", "home_country", "currency", "rate_deck", "included")


def parse_deck(lines: Iterable[str]) -> list[Rate]:
    """Parse a rate-deck CSV (header ``prefix,description,per_minute,
    connect_fee,increment``). Blank lines are skipped. The first bad row
    raises :class:`InvalidRateDeck` naming its line; a deck with no rows or a
    prefix given twice is refused too."""
    reader = csv.reader(lines, strict=True)
    rates: list[Rate] = []
    seen: dict[str, int] = {}
    increments: dict[str, Increment] = {}
    header_seen = False
    try:
        for row in reader:
            line = reader.line_num
            if not any(field.strip() for field in row):
                continue
            fields = [field.strip() for field in row]
            if not header_seen:
                _check_header(fields, line)
                header_seen = True
                continue
            rate = _parse_row(fields, line, increments)
            if rate.prefix in seen:
                raise InvalidRateDeck(
                    f"line {line}: prefix {rate.prefix} already given on line {seen[rate.prefix]}"
                )
            seen[rate.prefix] = line
            rates.append(rate)
    except csv.Error as exc:
        raise InvalidRateDeck(f"line {reader.line_num}: {exc}") from exc
    if not header_seen:
        raise InvalidRateDeck(f"empty file: the header {','.join(DECK_COLUMNS)} is required")
    if not rates:
        raise InvalidRateDeck("the deck has a header but no rates")
    return rates


def _check_header(fields: list[str], line: int) -> None:
    if fields and fields[0].startswith("\ufeff"):
        fields[0] = fields[0][1:]
    if tuple(f.lower() for f in fields) != DECK_COLUMNS:
        raise InvalidRateDeck(
            f"line {line}: the header must be {','.join(DECK_COLUMNS)}, not {','.join(fields)}"
        )


def _parse_row(fields: list[str], line: int, increments: dict[str, Increment]) -> Rate:
    if len(fields) != len(DECK_COLUMNS):
        raise InvalidRateDeck(
            f"line {line}: expected {len(DECK_COLUMNS)} columns"
            f" ({','.join(DECK_COLUMNS)}), found {len(fields)}"
        )
    prefix, description, per_minute, connect_fee, increment = fields
    try:
        if increment not in increments:
            increments[increment] = Increment.parse(increment)
        return Rate(
            prefix=prefix,
            description=description,
            per_minute=parse_amount(per_minute, "per_minute"),
            connect_fee=parse_amount(connect_fee or "0", "connect_fee"),
            increment=increments[increment],
        )
    except InvalidInput as exc:
        raise InvalidRateDeck(f"line {line}: {exc}") from exc


def parse_plans(text: str) -> list[Plan]:
    """Parse a plan file: one TOML table per plan, keyed by the plan id."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidPlan(f"not a valid TOML file: {exc}") from exc
    if not document:
        raise InvalidPlan("the file defines no plan")
    return [_parse_plan(plan_id, body) for plan_id, body in document.items()]


def _parse_plan(plan_id: str, body: Any) -> Plan:
    if not isinstance(body, dict):
        raise InvalidPlan(f"{plan_id!r} must be a table such as [{plan_id}]")
    missing = [f for f in PLAN_FIELDS if f not in body]
    unknown = sorted(set(body) - set(PLAN_FIELDS))
    if missing or unknown:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        raise InvalidPlan(f"plan {plan_id}: {'; '.join(problems)}")
    for field in PLAN_FIELDS[:-1]:
        if not isinstance(body[field], str):
            raise InvalidPlan(f"plan {plan_id}: {field} must be a string")
    included = body["included"]
    if not isinstance(included, list) or not all(isinstance(r, str) for r in included):
        raise InvalidPlan(f"plan {plan_id}: included must be a list of strings")
    if len(set(included)) != len(included):
        raise InvalidPlan(f"plan {plan_id}: included lists a rule twice")
    return Plan(
        id=plan_id,
        name=body["name"],
        home_country=body["home_country"],
        currency=body["currency"],
        rate_deck=body["rate_deck"],
        included=tuple(included),
    )
