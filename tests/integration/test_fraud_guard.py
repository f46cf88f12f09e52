"""The fraud guard's spend per hour, kept per account and minute
(adapters.spend), on SQLite and PostgreSQL: it follows reservations,
growths and ends exactly as the calls themselves, and forgets calls older
than an hour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from callcredit.adapters import spend
from callcredit.adapters import tables as t
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.services import charging
from tests import factories as f
from tests.clocks import FakeClock

UK_MOBILE = "+44 7400 123456"  # 0.15 a started minute, 60/60


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cc(db_url: str, clock: FakeClock) -> Iterator[App]:
    app = bootstrap(
        Settings(
            database_url=db_url,
            default_quota_seconds=600,  # 10 minutes reserved: 1.50
            fraud_spend_per_hour="4.00",
            fraud_concurrent_calls=100,
        ),
        clock=clock,
    )
    f.office(app, funds=10_000)
    yield app
    app.close()


def authorize(cc: App, call_id: str, **extra: object) -> dict:
    cmd = charging.AuthorizeCall(call_id, "atelier", "104", UK_MOBILE, **extra)  # type: ignore[arg-type]
    return charging.authorize(cc, cmd)


def spent_per_calls(cc: App) -> int:
    """What the guard counted before: the calls of the last hour, summed."""
    c = t.calls.c
    since = cc.clock.now() - spend.WINDOW
    with cc.uow(readonly=True) as uow:
        return int(
            uow.conn.execute(
                select(func.coalesce(func.sum(func.coalesce(c.cost, c.reserved)), 0)).where(
                    c.account_id == "atelier", c.reason == "prepaid", c.started_at >= since
                )
            ).scalar_one()
        )


def spent_per_minutes(cc: App) -> int:
    with cc.uow(readonly=True) as uow:
        return spend.last_hour(uow.conn, "atelier", cc.clock.now())


def test_spend_follows_reservations_growths_and_ends(cc: App, clock: FakeClock) -> None:
    assert authorize(cc, "a")["reason"] == "prepaid"  # holds 1.50
    clock.advance(61)
    assert authorize(cc, "b", quota_seconds=120)["reason"] == "prepaid"  # holds 0.30
    assert spent_per_minutes(cc) == spent_per_calls(cc) == 180
    # b grows by another quota: the hold (and the spend) grows with it
    grown = charging.reauthorize(cc, charging.ReauthorizeCall("b", 100))
    assert grown["allow"] is True
    held_b = spent_per_calls(cc) - 150
    assert held_b > 30
    assert spent_per_minutes(cc) == spent_per_calls(cc)
    # a ends after 125 s: costs 0.45 instead of the 1.50 held
    charging.end(cc, charging.EndCall("a", 125))
    assert spent_per_minutes(cc) == spent_per_calls(cc) == 45 + held_b
    # a repeated end changes nothing
    charging.end(cc, charging.EndCall("a", 125))
    assert spent_per_minutes(cc) == 45 + held_b
    charging.end(cc, charging.EndCall("b", 0))
    assert spent_per_minutes(cc) == spent_per_calls(cc) == 45


def test_the_guard_trips_at_the_limit_and_forgets_after_an_hour(cc: App, clock: FakeClock) -> None:
    """Limit 4.00: two 1.50 holds pass, the third would be the limit...
    the guard refuses once 4.00 is reached, and an hour later it is gone."""
    answers = [authorize(cc, f"c{n}")["reason"] for n in range(4)]
    assert answers == ["prepaid", "prepaid", "prepaid", "fraud_guard"]  # 4.50 >= 4.00
    for n in range(3):
        charging.end(cc, charging.EndCall(f"c{n}", 3000))  # 50 minutes: 7.50 each
    assert spent_per_minutes(cc) == spent_per_calls(cc) == 2250
    assert authorize(cc, "late")["reason"] == "fraud_guard"
    clock.advance(3600 + 60)
    assert spent_per_minutes(cc) == spent_per_calls(cc) == 0
    assert authorize(cc, "next-hour")["reason"] == "prepaid"
    assert f.verify(cc) == []


def test_the_sweeper_forgets_old_minutes(cc: App, clock: FakeClock) -> None:
    authorize(cc, "old")
    charging.end(cc, charging.EndCall("old", 30))
    clock.advance(3 * 3600)
    charging.sweep(cc)
    with cc.uow(readonly=True) as uow:
        assert uow.conn.execute(select(func.count()).select_from(t.spend_minutes)).scalar() == 0
