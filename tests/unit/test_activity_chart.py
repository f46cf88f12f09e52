"""The spend chart of the Prepaid Activity, drawn by the server as SVG."""

from __future__ import annotations

from datetime import UTC, date, datetime

from callcredit.domain.money import Money
from callcredit.entrypoints.web import chart
from callcredit.services.activity import Entry


def _call(day: int, extension: str, cents: int) -> Entry:
    when = datetime(2026, 11, day, 10, tzinfo=UTC)
    return Entry(when, "call", Money(-cents, "EUR"), Money(0, "EUR"), "c", extension=extension)


def _build(
    entries: list[Entry], first: date | None = None, last: date | None = None
) -> chart.Chart:
    return chart.build(entries, "EUR", first, last, str, lambda d: d.isoformat())


def test_spend_is_summed_per_day_and_extension_and_funding_ignored() -> None:
    """Calls add up per day and extension; funding lines are not spend."""
    funding = Entry(datetime(2026, 11, 2, tzinfo=UTC), "funds_added", Money(2500, "EUR"),
                    Money(2500, "EUR"), "p")  # fmt: skip
    spend = chart.spend_by_day([_call(2, "101", 30), _call(2, "101", 45), _call(2, "104", 5),
                                funding])  # fmt: skip
    assert spend == {date(2026, 11, 2): {"101": 75, "104": 5}}


def test_bars_stack_per_extension_within_the_axis() -> None:
    """Each day's segments stack without leaving the plot, one colour per extension."""
    drawn = _build([_call(2, "101", 300), _call(2, "104", 200), _call(4, "101", 1000)])
    assert not drawn.empty
    assert [ext for ext, _ in drawn.legend] == ["101", "104"]
    assert len(drawn.bars) == 3
    for bar in drawn.bars:
        assert bar.y >= 0
        assert bar.y + bar.height <= drawn.height
    assert "10.00" in drawn.ticks[-1][1]


def test_no_paid_calls_draws_an_empty_chart() -> None:
    """A period without paid calls says so instead of drawing bars."""
    assert _build([], date(2026, 11, 1), date(2026, 11, 30)).empty
    assert _build([]).empty


def test_long_periods_show_the_latest_month() -> None:
    """Over a long period only the latest 31 days get a slot."""
    drawn = _build([_call(1, "101", 100), _call(30, "101", 100)], date(2026, 1, 1),
                   date(2026, 11, 30))  # fmt: skip
    assert len(drawn.bars) == 2
    assert chart._nice(0) == 100
    assert chart._nice(1234) == 2000
