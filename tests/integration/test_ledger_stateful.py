"""A hypothesis state machine drives random ledger operations against the
real storage and checks every invariant after each step."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from callcredit.domain.errors import (
    InsufficientFunds,
    OverrunNotAllowed,
    ReservationResolved,
)
from callcredit.services.accounts import open_account
from tests.clocks import FakeClock

_accounts = itertools.count()
amounts = st.integers(min_value=1, max_value=5_000)


class LedgerMachine(RuleBasedStateMachine):
    """The model: posted balance and the pending holds, in Python."""

    app: App
    clock: FakeClock
    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.account = f"acct-{next(_accounts)}"
        self.posted = 0
        self.holds: dict[str, int] = {}
        self.expired: set[str] = set()
        self.resolved: set[str] = set()
        self.keys = itertools.count()
        self.done: list[tuple[str, str, dict[str, int | str]]] = []

    @initialize()
    def open(self) -> None:
        with self.app.uow() as uow:
            open_account(uow, self.account, name="Stateful")

    def key(self) -> str:
        return f"k{next(self.keys)}"

    @property
    def available(self) -> int:
        return self.posted - sum(self.holds.values())

    @rule(amount=amounts)
    def credit(self, amount: int) -> None:
        key = self.key()
        with self.app.uow() as uow:
            uow.ledger.transfer(
                self.account,
                key=key,
                debit=L.CARD,
                credit=L.PREPAID,
                amount=amount,
                kind=L.KIND_FUNDS_ADDED,
            )
        self.posted += amount
        self.done.append((key, "credit", {"amount": amount}))

    @rule(amount=amounts)
    def debit(self, amount: int) -> None:
        try:
            with self.app.uow() as uow:
                uow.ledger.transfer(
                    self.account,
                    key=self.key(),
                    debit=L.PREPAID,
                    credit=L.REVENUE,
                    amount=amount,
                    kind=L.KIND_CALL,
                )
        except InsufficientFunds:
            assert amount > self.available
            return
        assert amount <= self.available
        self.posted -= amount

    @rule(target=reservations, amount=amounts)
    def reserve(self, amount: int) -> object:
        try:
            with self.app.uow() as uow:
                res = uow.ledger.reserve(
                    self.account,
                    key=self.key(),
                    amount=amount,
                    expires_at=self.clock.now() + timedelta(seconds=60),
                )
        except InsufficientFunds:
            assert amount > self.available
            return multiple()
        assert amount <= self.available
        self.holds[res.reservation_id] = amount
        return res.reservation_id

    @rule(reservation=reservations, extra=amounts)
    def grow(self, reservation: str, extra: int) -> None:
        held = self.holds.get(reservation)
        try:
            with self.app.uow() as uow:
                uow.ledger.grow(
                    self.account,
                    reservation,
                    key=self.key(),
                    amount=(held or 0) + extra,
                    expires_at=self.clock.now() + timedelta(seconds=60),
                )
        except ReservationResolved:
            assert held is None
            return
        except InsufficientFunds:
            assert held is not None
            assert extra > self.available
            return
        assert held is not None
        assert extra <= self.available
        self.holds[reservation] = held + extra

    @rule(reservation=consumes(reservations), fraction=st.integers(0, 150), overrun=st.booleans())
    def settle(self, reservation: str, fraction: int, overrun: bool) -> None:
        held = self.holds.get(reservation, 0)
        amount = held * fraction // 100
        key = self.key()
        try:
            with self.app.uow() as uow:
                uow.ledger.settle(
                    self.account, reservation, key=key, amount=amount, allow_overrun=overrun
                )
        except ReservationResolved:
            assert reservation in self.resolved
            return
        except OverrunNotAllowed:
            assert not overrun
            assert amount - held > self.available
            return
        assert reservation not in self.resolved
        self.holds.pop(reservation, None)
        self.expired.discard(reservation)
        self.resolved.add(reservation)
        self.posted -= amount
        self.done.append((key, "settle", {"reservation_id": reservation, "amount": amount}))

    @rule(reservation=consumes(reservations))
    def void(self, reservation: str) -> None:
        try:
            with self.app.uow() as uow:
                uow.ledger.void(self.account, reservation, key=self.key())
        except ReservationResolved:
            assert reservation not in self.holds
            return
        assert reservation in self.holds
        del self.holds[reservation]
        self.resolved.add(reservation)

    @rule()
    def expire_all(self) -> None:
        self.clock.advance(61)
        with self.app.uow() as uow:
            for account_id, reservation_id in uow.ledger.due_reservations(self.clock.now()):
                if account_id == self.account:
                    assert uow.ledger.expire(account_id, reservation_id)
                    self.holds.pop(reservation_id)
                    self.expired.add(reservation_id)

    @rule(data=st.data())
    def retry_with_same_key(self, data: st.DataObject) -> None:
        if not self.done:
            return
        key, op, request = data.draw(st.sampled_from(self.done))
        before = self.snapshot()
        with self.app.uow() as uow:
            if op == "credit":
                uow.ledger.transfer(
                    self.account,
                    key=key,
                    debit=L.CARD,
                    credit=L.PREPAID,
                    amount=int(request["amount"]),
                    kind=L.KIND_FUNDS_ADDED,
                )
            else:
                uow.ledger.settle(
                    self.account,
                    str(request["reservation_id"]),
                    key=key,
                    amount=int(request["amount"]),
                )
        assert self.snapshot() == before

    def snapshot(self) -> tuple[int, int]:
        with self.app.uow(readonly=True) as uow:
            bal = uow.ledger.balance(self.account)
        return bal.posted, bal.reserved

    @invariant()
    def matches_model_and_verifies(self) -> None:
        if not hasattr(self, "app"):
            return
        with self.app.uow(readonly=True) as uow:
            bal = uow.ledger.balance(self.account)
            problems = uow.ledger.verify()
        assert (bal.posted, bal.reserved) == (self.posted, sum(self.holds.values()))
        assert problems == []


@pytest.mark.slow
def test_ledger_state_machine(db_url: str) -> None:
    """Random sequences of credit/debit/reserve/grow/settle/void/expire/retry
    never overdraw, always balance and replay idempotently."""
    clock = FakeClock()
    app = bootstrap(Settings(database_url=db_url), clock=clock)
    LedgerMachine.app = app
    LedgerMachine.clock = clock
    try:
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=25,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
    finally:
        app.close()
