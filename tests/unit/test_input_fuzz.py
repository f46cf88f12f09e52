"""Random input for the parsers that read what operators and switches send:
rate decks (CSV), plans (TOML), Asterisk CDR lines and dialled numbers.

Whatever arrives, a parser either returns its result or refuses with one of
the domain's :class:`InvalidInput` errors; it never crashes with anything
else (which an entry point would turn into a traceback or a 500).
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from callcredit.adapters.numbering import classify
from callcredit.domain.errors import InvalidInput
from callcredit.domain.rating import NumberInfo
from callcredit.domain.rating.files import parse_deck, parse_plans
from callcredit.services.cdr import Cdr, parse_asterisk

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = "prefix,description,per_minute,connect_fee,increment\n"

# Text built from the characters these formats care about, plus anything.
csv_text = st.text(alphabet=st.sampled_from(list(',"\n\r +-./0123456789 ab\x00é١²')), max_size=200)
any_text = st.text(max_size=300)
field = st.one_of(
    st.text(alphabet=string.digits + "+-./ ", max_size=12),
    st.sampled_from(
        ["", "0", "60/60", "1/1", "0/0", "+44", "1e3", "NaN", "-1", "١", "²", "9" * 30]
    ),
    st.text(max_size=8),
)


def lines_of(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def decoded(data: bytes) -> str:
    """Bytes decoded leniently, undecodable ones replaced (as the CDR
    importer reads files; deck and plan files that are not UTF-8 are refused
    before they reach the readers)."""
    return data.decode("utf-8", errors="replace")


def _deck_or_refusal(text: str) -> None:
    try:
        rates = parse_deck(lines_of(text))
    except InvalidInput:
        return
    assert rates
    for rate in rates:
        assert rate.prefix.startswith("+")
        assert rate.per_minute >= 0
        assert rate.connect_fee >= 0


@FUZZ
@given(any_text)
@example("")
@example(HEADER)
@example(HEADER + "+44,UK,0.0450,0,60/60\n+44,UK again,1,0,60/60\n")
@example(HEADER + "+44,UK," + "9" * 5000 + ",0,60/60\n")
@example(HEADER + "+44,UK,0.1,0," + "1" * 5000 + "/1\n")
@example(HEADER + "+44,UK,١,0,60/60\n")
@example(HEADER + "+44,UK,0.1,0,١/١\n")
@example(HEADER + '+44,"UK\n,0.1,0,60/60\n')
@example(HEADER + "+44,UK\x00,0.1,0,60/60\n")
@example(HEADER + '+44,"' + "x" * 200_000 + '",0.1,0,60/60\n')
def test_rate_deck_text_gives_rates_or_a_refusal(text: str) -> None:
    """Any text fed to the rate-deck reader yields valid rates or InvalidInput."""
    _deck_or_refusal(text)


@FUZZ
@given(csv_text)
def test_rate_deck_csv_like_text_gives_rates_or_a_refusal(text: str) -> None:
    """CSV-shaped noise after a good header yields valid rates or InvalidInput."""
    _deck_or_refusal(HEADER + text)


@FUZZ
@given(st.lists(st.lists(field, min_size=0, max_size=7), max_size=8))
def test_rate_deck_rows_of_odd_fields_give_rates_or_a_refusal(rows: list[list[str]]) -> None:
    """Rows of plausible and implausible fields yield valid rates or InvalidInput."""
    body = "".join(",".join(row) + "\n" for row in rows)
    _deck_or_refusal(HEADER + body)


@FUZZ
@given(st.binary(max_size=300))
def test_rate_deck_bytes_give_rates_or_a_refusal(data: bytes) -> None:
    """Random bytes (decoded as the importer decodes files) never crash the reader."""
    _deck_or_refusal(decoded(data))


toml_value = st.recursive(
    st.one_of(
        st.text(max_size=10),
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(["FR", "EUR", "standard", "FR:mobile", "FR:*", "XX:nothing", "fr-office"]),
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


def _toml_string(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_string(v) for v in value) + "]"
    return repr(value)


def _plans_or_refusal(text: str) -> None:
    try:
        plans = parse_plans(text)
    except InvalidInput:
        return
    assert plans
    for plan in plans:
        assert plan.home_country.isalpha()


@FUZZ
@given(any_text)
@example("")
@example("[a]\n[a]\n")
@example('["x"]\nname = "n"\n')
@example("a = 1\n")
@example('[p]\nname="n"\nhome_country="FR"\ncurrency="EUR"\nrate_deck="standard"\nincluded=[1]\n')
def test_plan_text_gives_plans_or_a_refusal(text: str) -> None:
    """Any text fed to the plan reader yields plans or InvalidInput."""
    _plans_or_refusal(text)


@FUZZ
@given(
    st.text(min_size=1, max_size=12),
    st.dictionaries(
        st.sampled_from(["name", "home_country", "currency", "rate_deck", "included", "extra"]),
        toml_value,
        max_size=6,
    ),
)
def test_plan_tables_with_odd_values_give_plans_or_a_refusal(
    plan_id: str, body: dict[str, object]
) -> None:
    """A plan table with any mix of fields and values yields a plan or InvalidInput."""
    lines = [f"[{_toml_string(plan_id)}]"]
    lines += [f"{key} = {_toml_string(value)}" for key, value in body.items()]
    _plans_or_refusal("\n".join(lines) + "\n")


@FUZZ
@given(st.binary(max_size=300))
def test_plan_bytes_give_plans_or_a_refusal(data: bytes) -> None:
    """Random bytes (decoded as the importer decodes files) never crash the plan reader."""
    _plans_or_refusal(decoded(data))


GOOD_CDR = (
    '"atelier","104","004420794600","from-internal","""Claire"" <104>","SIP/104-1",'
    '"SIP/trunk-2","Dial","SIP/trunk","2026-11-21 09:00:00","2026-11-21 09:00:05",'
    '"2026-11-21 09:02:10",130,125,"ANSWERED","DOCUMENTATION","1700000000.1",""'
)


def _cdrs(text: str) -> list[Cdr | tuple[int, str]]:
    out = list(parse_asterisk(lines_of(text)))
    for item in out:
        if isinstance(item, Cdr):
            assert item.account
            assert item.call_id
            assert item.extension
            assert item.destination
            assert item.answered_seconds >= 0
        else:
            line, reason = item
            assert line >= 1
            assert reason
    return out


@FUZZ
@given(any_text)
@example(GOOD_CDR.replace(",125,", ",²,"))
@example(GOOD_CDR.replace(",125,", ",١٢,"))
@example(GOOD_CDR.replace(",125,", "," + "9" * 5000 + ","))
@example(GOOD_CDR + "\x00")
@example(GOOD_CDR.replace('"Dial"', '"' + "x" * 200_000 + '"'))
@example('"unterminated' + "\n" + GOOD_CDR)
def test_cdr_lines_give_records_or_line_errors(text: str) -> None:
    """Any text read as Asterisk CDRs yields records or (line, reason) pairs; it never raises."""
    _cdrs(text)


@FUZZ
@given(st.lists(field, min_size=0, max_size=20))
def test_cdr_rows_of_odd_fields_give_records_or_line_errors(fields: list[str]) -> None:
    """Rows with any number of plausible and implausible fields never raise."""
    _cdrs(",".join(fields) + "\n" + GOOD_CDR + "\n")


@FUZZ
@given(st.binary(max_size=400))
def test_cdr_bytes_give_records_or_line_errors(data: bytes) -> None:
    """Random bytes (decoded as the importer decodes files) never crash the CDR reader."""
    _cdrs(decoded(data))


dialled = st.one_of(
    st.text(max_size=45),
    st.text(alphabet=string.digits + " +()-./", max_size=45),
    st.from_regex(r"\A\+?[0-9]{1,20}\Z"),
    st.sampled_from(["112", "15", "+", "++33", "00", "0033", "+0", "+1", "3989", "118218"]),
)


@settings(max_examples=500, deadline=None)
@given(dialled, st.sampled_from(["FR", "GB", "US", "BE", "DE", "001", "ZZ", "XK"]))
@example("１２３", "FR")
@example("+33 6 12 34 56 78" + "0" * 30, "FR")
@example("\u200b112", "FR")
def test_any_dialled_text_is_classified_never_crashes(text: str, home: str) -> None:
    """classify() answers every dialled text with a NumberInfo (valid or kind invalid)."""
    info = classify(text, home)
    assert isinstance(info, NumberInfo)
    if info.valid:
        assert info.e164 is not None
        assert info.e164.startswith("+")
        assert info.e164[1:].isdigit()
        assert info.e164.isascii()
