"""Rate-deck CSV and plan TOML parsing: all rows or nothing, errors with line numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from callcredit.domain.errors import InvalidPlan, InvalidRateDeck
from callcredit.domain.rating import Increment, parse_deck, parse_plans

HEADER = "prefix,description,per_minute,connect_fee,increment\n"


def deck(*rows: str) -> list[str]:
    return (HEADER + "".join(row + "\n" for row in rows)).splitlines(keepends=True)


def test_contract_example_deck_parses() -> None:
    """The contract's example rows become rates with Decimal prices."""
    rates = parse_deck(
        deck(
            "+44,United Kingdom,0.0450,0,60/60",
            "+447,United Kingdom mobile,0.1500,0,60/60",
            "+3389,France premium-rate 089,0.8000,0.1500,1/1",
            '+33118,"France directory enquiries, 118",0.9900,2.9900,60/60',
        )
    )
    assert [r.prefix for r in rates] == ["+44", "+447", "+3389", "+33118"]
    assert rates[2].per_minute == Decimal("0.8000")
    assert rates[2].connect_fee == Decimal("0.1500")
    assert rates[2].increment == Increment(1, 1)
    assert rates[3].description == "France directory enquiries, 118"


def test_blank_lines_and_a_byte_order_mark_are_tolerated() -> None:
    """A spreadsheet's BOM and trailing blank lines do not break an import."""
    lines = ["\ufeff" + HEADER, "+44,UK,0.0450,0,60/60\n", "\n", "  \n"]
    assert len(parse_deck(lines)) == 1


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "empty file"),
        ([HEADER], "no rates"),
        (["prefix,description,per_minute,increment\n"], "line 1: the header must be"),
        (deck("+44,UK,0.0450,60/60"), "line 2: expected 5 columns"),
        (deck("+44,UK,0.0450,0,60/60", "+33,FR,-0.0100,0,60/60"), "line 3: per_minute -0.0100"),
        (deck("+44,UK,0.0450,0,60/60", "+33,FR,0.0100,0,60/60", "+1,US,0.01,0,0/0"), "line 4:"),
        (deck("+44,UK,0.0450,0,x/y"), "line 2: increment 'x/y' is not of the form a/b"),
        (deck("+44,UK,0.12345678,0,60/60"), "line 2: per_minute .* more than 6 decimals"),
        (deck("+44,UK,0.0450,-1,60/60"), "line 2: connect_fee -1 is negative"),
        (deck("+44,UK,1e3,0,60/60"), "line 2: per_minute '1e3' is not a decimal"),
        (deck("44,UK,0.0450,0,60/60"), "line 2: prefix '44' must be '\\+' followed by"),
        (deck("+44a,UK,0.0450,0,60/60"), "line 2: prefix"),
        (
            deck("+44,UK,0.0450,0,60/60", "+447,UK mobile,0.15,0,60/60", "+44,again,0.1,0,60/60"),
            r"line 4: prefix \+44 already given on line 2",
        ),
    ],
)
def test_bad_decks_fail_whole_with_the_line_number(lines: list[str], message: str) -> None:
    """Every bad deck is refused with the line and the reason; nothing is returned."""
    with pytest.raises(InvalidRateDeck, match=message):
        parse_deck(lines)


PLAN = """
[fr-office]
name = "France office"
home_country = "FR"
currency = "EUR"
rate_deck = "standard"
included = ["FR:fixed_line", "FR:mobile", "BE:*"]
"""


def test_contract_example_plan_parses() -> None:
    """A plan table becomes a Plan with its included rules in order."""
    (plan,) = parse_plans(PLAN)
    assert plan.id == "fr-office"
    assert plan.home_country == "FR"
    assert plan.included == ("FR:fixed_line", "FR:mobile", "BE:*")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"FR"', '"France"'), "home_country 'France' is not a two-letter"),
        (('"FR"', '"fr"'), "home_country 'fr'"),
        (('"EUR"', '"euro"'), "plan fr-office: currency must be a three-letter"),
        (('"BE:*"', '"BE:landline"'), "unknown kind 'landline'"),
        (('"BE:*"', '"Belgium:*"'), "is not COUNTRY:kind"),
        (('"BE:*"', '"BE"'), "is not COUNTRY:kind"),
        (('"BE:*"', '"FR:mobile"'), "lists a rule twice"),
        (("rate_deck", "deck"), "missing rate_deck; unknown deck"),
        (("[fr-office]", '["Fr Office"]'), "plan id 'Fr Office'"),
        (("included = [", "included = 3 #"), "included must be a list"),
        (("currency =", "currency = 3 #"), "currency must be a string"),
        (("name =", "name = = "), "not a valid TOML file"),
    ],
)
def test_bad_plans_are_refused_with_the_reason(change: tuple[str, str], message: str) -> None:
    """Country codes, kinds, fields and TOML syntax are checked, with a message naming them."""
    with pytest.raises(InvalidPlan, match=message):
        parse_plans(PLAN.replace(*change))


def test_an_empty_plan_file_is_refused() -> None:
    """A file with no plan at all is an error, not a silent no-op."""
    with pytest.raises(InvalidPlan, match="no plan"):
        parse_plans("")
