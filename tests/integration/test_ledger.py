"""Worked examples of the ledger on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from callcredit.domain.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    OverrunNotAllowed,
    ReservationResolved,
)
from callcredit.services.accounts import open_account
from tests.clocks import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger_app(db_url: str, clock: FakeClock) -> App:
    app = bootstrap(Settings(database_url=db_url), clock=clock)
    with app.uow() as uow:
        open_account(uow, "acme", name="Acme")
    return app


def fund(app: App, amount: int, key: str = "fund-1") -> L.TransferResult:
    with app.uow() as uow:
        return uow.ledger.transfer(
            "acme",
            key=key,
            debit=L.CARD,
            credit=L.PREPAID,
            amount=amount,
            kind=L.KIND_FUNDS_ADDED,
        )


def available(app: App) -> int:
    with app.uow(readonly=True) as uow:
        return uow.ledger.balance("acme").available


def verify(app: App) -> list[str]:
    with app.uow(readonly=True) as uow:
        return uow.ledger.verify()


def test_funding_credits_the_prepaid_balance(ledger_app: App) -> None:
    """Adding funds posts card → prepaid and the counters follow."""
    result = fund(ledger_app, 2500)
    assert result.balance_after == 2500
    with ledger_app.uow(readonly=True) as uow:
        bal = uow.ledger.balance("acme")
    assert (bal.posted, bal.reserved, bal.available) == (2500, 0, 2500)
    assert verify(ledger_app) == []


def test_reserve_then_settle_less_releases_the_rest(ledger_app: App, clock: FakeClock) -> None:
    """Settling 14 of a 50 hold posts 14 and frees 36."""
    fund(ledger_app, 1000)
    with ledger_app.uow() as uow:
        res = uow.ledger.reserve(
            "acme", key="r1", amount=50, expires_at=clock.now() + timedelta(minutes=5)
        )
    assert res.available_after == 950
    with ledger_app.uow() as uow:
        done = uow.ledger.settle("acme", res.reservation_id, key="s1", amount=14)
    assert (done.state, done.settled_amount, done.available_after) == (L.SETTLED, 14, 986)
    assert verify(ledger_app) == []


def test_grow_raises_the_hold_and_refuses_overdraft(ledger_app: App, clock: FakeClock) -> None:
    """Growing a reservation takes more of the available balance, never past the floor."""
    fund(ledger_app, 100)
    later = clock.now() + timedelta(minutes=5)
    with ledger_app.uow() as uow:
        res = uow.ledger.reserve("acme", key="r1", amount=40, expires_at=later)
    with ledger_app.uow() as uow:
        grown = uow.ledger.grow("acme", res.reservation_id, key="g1", amount=90, expires_at=later)
    assert (grown.amount, grown.available_after) == (90, 10)
    with pytest.raises(InsufficientFunds), ledger_app.uow() as uow:
        uow.ledger.grow("acme", res.reservation_id, key="g2", amount=101, expires_at=later)
    assert available(ledger_app) == 10
    assert verify(ledger_app) == []


def test_reservation_beyond_available_is_refused_and_moves_nothing(
    ledger_app: App, clock: FakeClock
) -> None:
    """No overdraft: a hold larger than available is refused whole."""
    fund(ledger_app, 100)
    with pytest.raises(InsufficientFunds), ledger_app.uow() as uow:
        uow.ledger.reserve("acme", key="r1", amount=101, expires_at=clock.now())
    assert available(ledger_app) == 100
    with ledger_app.uow() as uow:
        uow.ledger.reserve("acme", key="r1", amount=100, expires_at=clock.now())
    assert available(ledger_app) == 0


def test_settling_more_than_held_needs_explicit_overrun(ledger_app: App, clock: FakeClock) -> None:
    """An overrun is refused unless allowed, and then flagged; verify accepts it."""
    fund(ledger_app, 100)
    with ledger_app.uow() as uow:
        res = uow.ledger.reserve("acme", key="r1", amount=100, expires_at=clock.now())
    with pytest.raises(OverrunNotAllowed), ledger_app.uow() as uow:
        uow.ledger.settle("acme", res.reservation_id, key="s1", amount=130)
    with ledger_app.uow() as uow:
        done = uow.ledger.settle(
            "acme", res.reservation_id, key="s2", amount=130, allow_overrun=True
        )
    assert done.overrun
    assert done.available_after == -30
    assert verify(ledger_app) == []


def test_each_reservation_resolves_exactly_once(ledger_app: App, clock: FakeClock) -> None:
    """Settle after void, void after settle and a second settle are refused."""
    fund(ledger_app, 100)
    with ledger_app.uow() as uow:
        a = uow.ledger.reserve("acme", key="ra", amount=10, expires_at=clock.now())
        b = uow.ledger.reserve("acme", key="rb", amount=10, expires_at=clock.now())
    with ledger_app.uow() as uow:
        uow.ledger.void("acme", a.reservation_id, key="va")
        uow.ledger.settle("acme", b.reservation_id, key="sb", amount=5)
    for op in (
        lambda uow: uow.ledger.settle("acme", a.reservation_id, key="x1", amount=1),
        lambda uow: uow.ledger.void("acme", b.reservation_id, key="x2"),
        lambda uow: uow.ledger.settle("acme", b.reservation_id, key="x3", amount=5),
    ):
        with pytest.raises(ReservationResolved), ledger_app.uow() as uow:
            op(uow)
    assert available(ledger_app) == 95
    assert verify(ledger_app) == []


def test_expired_reservation_is_released_and_can_still_settle_late(
    ledger_app: App, clock: FakeClock
) -> None:
    """The sweeper releases a due hold; a late settlement then posts once."""
    fund(ledger_app, 100)
    with ledger_app.uow() as uow:
        res = uow.ledger.reserve(
            "acme", key="r1", amount=60, expires_at=clock.now() + timedelta(seconds=30)
        )
    with ledger_app.uow() as uow:
        assert uow.ledger.due_reservations(clock.now()) == []
    clock.advance(31)
    with ledger_app.uow() as uow:
        due = uow.ledger.due_reservations(clock.now())
        assert due == [("acme", res.reservation_id)]
        assert uow.ledger.expire(*due[0])
    assert available(ledger_app) == 100
    with ledger_app.uow() as uow:
        late = uow.ledger.settle("acme", res.reservation_id, key="late", amount=20)
    assert late.available_after == 80
    with pytest.raises(ReservationResolved), ledger_app.uow() as uow:
        uow.ledger.settle("acme", res.reservation_id, key="late-2", amount=20)
    assert verify(ledger_app) == []


def test_same_key_same_request_replays_without_moving_money(ledger_app: App) -> None:
    """A retried transfer returns the first answer and posts nothing more."""
    first = fund(ledger_app, 500, key="k")
    again = fund(ledger_app, 500, key="k")
    assert again == first
    assert available(ledger_app) == 500


def test_same_key_different_request_is_a_conflict(ledger_app: App) -> None:
    """Reusing a key for another amount is refused and moves nothing."""
    fund(ledger_app, 500, key="k")
    with pytest.raises(IdempotencyConflict):
        fund(ledger_app, 600, key="k")
    assert available(ledger_app) == 500


@pytest.mark.parametrize("amount", [0, -5])
def test_non_positive_transfers_are_refused(ledger_app: App, amount: int) -> None:
    """Transfers carry positive amounts only."""
    with pytest.raises(InvalidAmount):
        fund(ledger_app, amount)
    assert verify(ledger_app) == []


def test_verify_names_a_tampered_counter(ledger_app: App) -> None:
    """verify recomputes balances from transfers and reports a mismatch."""
    fund(ledger_app, 500)
    with ledger_app.uow() as uow:
        uow.conn.exec_driver_sql(
            "UPDATE ledger_balances SET credits_posted = credits_posted + 1 "
            "WHERE account_id = 'acme' AND ledger = 'prepaid'"
        )
    problems = verify(ledger_app)
    assert any("posted counters" in p for p in problems)
    assert any("debits" in p and "credits" in p for p in problems)
