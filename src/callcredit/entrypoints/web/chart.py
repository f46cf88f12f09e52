"""A bar chart of spend per day, stacked per extension, drawn as inline SVG
on the server (no JavaScript needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from callcredit.domain.money import Money
from callcredit.services.activity import Entry

PALETTE = ("#2f6fdf", "#e0803a", "#3aa76d", "#b04fc9", "#d44d5c", "#2aa9b8", "#8a6d3b",
           "#6b7a8f")  # fmt: skip
MAX_DAYS = 31


@dataclass(frozen=True, slots=True)
class Bar:
    """One stacked segment."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the template needs to draw the chart."""

    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]
    ticks: list[tuple[float, str]]
    legend: list[tuple[str, str]]
    empty: bool


def spend_by_day(entries: Iterable[Entry]) -> dict[date, dict[str, int]]:
    """Minor units spent on calls per day and extension."""
    days: dict[date, dict[str, int]] = {}
    for e in entries:
        if e.type == "call" and e.amount.minor < 0:
            per = days.setdefault(e.time.date(), {})
            key = e.extension or "?"
            per[key] = per.get(key, 0) - e.amount.minor
    return days


def build(
    entries: list[Entry],
    currency: str,
    first: date | None,
    last: date | None,
    money: Callable[[Money], str],
    day_label: Callable[[date], str],
) -> Chart:
    """Lay out the chart for the days ``first``..``last`` (at most
    :data:`MAX_DAYS`, the latest ones)."""
    spend = spend_by_day(entries)
    if last is None:
        last = max(spend) if spend else None
    if first is None and last is not None:
        first = min(spend) if spend else last
    width, height, left, bottom, top = 760, 240, 64, 28, 12
    if first is None or last is None:
        return Chart(width, height, [], [], [], [], True)
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    extensions = sorted({ext for per in spend.values() for ext in per})
    colours = {ext: PALETTE[i % len(PALETTE)] for i, ext in enumerate(extensions)}
    peak = max((sum(spend.get(d, {}).values()) for d in days), default=0)
    scale_max = _nice(peak)
    plot_h = height - bottom - top
    slot = (width - left - 8) / len(days)
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    step = max(1, len(days) // 8)
    for i, d in enumerate(days):
        x = left + i * slot + slot * 0.15
        y = float(height - bottom)
        for ext in extensions:
            amount = spend.get(d, {}).get(ext, 0)
            if amount:
                h = plot_h * amount / scale_max
                y -= h
                title = f"{day_label(d)} · {ext} · {money(Money(amount, currency))}"
                bars.append(Bar(round(x, 1), round(y, 1), round(slot * 0.7, 1), round(h, 1),
                                colours[ext], title))  # fmt: skip
        if i % step == 0:
            labels.append((round(left + i * slot + slot / 2, 1), day_label(d)))
    ticks = [
        (round(height - bottom - plot_h * k / 4, 1), money(Money(scale_max * k // 4, currency)))
        for k in range(5)
    ]
    legend = [(ext, colours[ext]) for ext in extensions]
    return Chart(width, height, bars, labels, ticks, legend, not bars)


def _nice(peak: int) -> int:
    """A round axis maximum at or above ``peak`` (minor units)."""
    if peak <= 0:
        return 100
    magnitude = 1
    while magnitude * 10 <= peak:
        magnitude *= 10
    for factor in (1, 2, 4, 5, 10):
        if magnitude * factor >= peak:
            return magnitude * factor
    return magnitude * 10  # pragma: no cover - the loop always returns
