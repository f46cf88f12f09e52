"""The built-in payment gateway (``CALLCREDIT_PAYMENT_GATEWAY=simulated``).

It behaves like Stripe's test cards and keeps its state in its own tables
(``gateway_cards``, ``gateway_charges``), in its own transactions, so it
survives restarts and a charge it made stays made whatever happens to the
caller's transaction. It stores a card's behaviour, brand and last four
digits; never its number or security code.

Tests make it fail with :meth:`SimulatedGateway.set_fault` (the fault is a
row in ``gateway_faults``, so it also reaches a server in another process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from callcredit.adapters import tables as t
from callcredit.domain.cards import CardDetails
from callcredit.domain.clock import Clock, new_id
from callcredit.domain.errors import (
    CardDeclined,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidInput,
)
from callcredit.domain.money import Money
from callcredit.services.ports import ChargeResult, ChargeStatus, SavedCard

SUCCEED = "succeed"
DECLINE = "decline"  # refused when saved, declined if ever charged
INSUFFICIENT_FUNDS = "insufficient_funds"
CHARGES_FAIL = "charges_fail"  # saved, then every charge is declined
TIMEOUT = "timeout"  # every charge succeeds, but its answer never arrives

TIMEOUT_CARD = "4000000000008880"
TEST_CARDS: dict[str, str] = {
    "4242424242424242": SUCCEED,
    "4000000000000002": DECLINE,
    "4000000000009995": INSUFFICIENT_FUNDS,
    "4000000000000341": CHARGES_FAIL,
    TIMEOUT_CARD: TIMEOUT,
}
_DECLINES: dict[str, tuple[str, str]] = {
    DECLINE: ("generic_decline", "Your card was declined."),
    CHARGES_FAIL: ("generic_decline", "Your card was declined."),
    INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
}
NAME = "simulated"
T = TypeVar("T")

Fault = Literal["down", "timeout", "slow"]


class SimulatedGateway:
    """Stripe-like test cards over the callcredit database."""

    name = NAME

    def __init__(
        self, engine: Engine, clock: Clock, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._sleep = sleep

    # -- faults (for tests) ---------------------------------------------
    def set_fault(self, mode: Fault, *, times: int | None = None, delay: float = 0.0) -> None:
        """From now on, ``down``: every call fails before doing anything;
        ``timeout``: charges are made but their answer is lost, and other
        calls fail; ``slow``: every call waits ``delay`` seconds first. For
        the next ``times`` calls, or until :meth:`clear_fault`."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.gateway_faults).where(t.gateway_faults.c.gateway == NAME))
            conn.execute(
                insert(t.gateway_faults).values(
                    gateway=NAME, mode=mode, remaining=times, delay_ms=int(delay * 1000)
                )
            )

    def clear_fault(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.gateway_faults).where(t.gateway_faults.c.gateway == NAME))

    def _fault(self) -> str | None:
        """The fault that applies to this call (consuming one of its uses)."""
        f = t.gateway_faults.c
        with self.engine.connect().execution_options(readonly=True) as conn:
            present = conn.execute(select(f.mode).where(f.gateway == NAME)).first()
        if present is None:
            return None
        with self.engine.begin() as conn:
            row = conn.execute(
                select(f.mode, f.remaining, f.delay_ms).where(f.gateway == NAME)
            ).one_or_none()
            if row is None:
                return None
            if row.remaining is not None and row.remaining <= 1:
                conn.execute(delete(t.gateway_faults).where(f.gateway == NAME))
            elif row.remaining is not None:
                conn.execute(
                    update(t.gateway_faults)
                    .where(f.gateway == NAME)
                    .values(remaining=f.remaining - 1)
                )
        if row.mode == "slow":
            self._sleep(row.delay_ms / 1000)
            return None
        return str(row.mode)

    def _before(self, fault: str | None) -> None:
        if fault == "down":
            raise GatewayUnavailable("the payment gateway cannot be reached")
        if fault == "timeout":
            raise GatewayUnavailable("the payment gateway did not answer in time")

    # -- the port ---------------------------------------------------------
    def save_card(
        self, card: CardDetails, *, account_id: str, replaces: str | None = None
    ) -> SavedCard:
        self._before(self._fault())
        behaviour = TEST_CARDS.get(card.number, SUCCEED)
        if behaviour == DECLINE:
            code, message = _DECLINES[DECLINE]
            raise CardDeclined(message, code)
        token = f"pm_sim_{new_id()}"
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.gateway_cards).values(
                    token=token, behaviour=behaviour, brand=card.brand, last4=card.last4,
                    exp_month=card.exp_month, exp_year=card.exp_year,
                    created_at=self.clock.now(),
                )
            )  # fmt: skip
        return SavedCard(token, card.brand, card.last4, card.exp_month, card.exp_year)

    def charge(self, token: str, amount: Money, *, key: str, description: str) -> ChargeResult:
        fault = self._fault()
        if fault == "down":
            self._before(fault)
        result, behaviour = self._retrying(lambda conn: self._charge(conn, token, amount, key))
        if fault == "timeout" or behaviour == TIMEOUT:
            raise GatewayUnavailable("the payment gateway did not answer in time")
        return result

    def _charge(
        self, conn: Connection, token: str, amount: Money, key: str
    ) -> tuple[ChargeResult, str | None]:
        c = t.gateway_charges.c
        card = conn.execute(
            select(t.gateway_cards.c.behaviour).where(t.gateway_cards.c.token == token)
        ).one_or_none()
        behaviour = None if card is None else str(card.behaviour)
        row = conn.execute(select(t.gateway_charges).where(c.idempotency_key == key)).one_or_none()
        if row is not None:
            same = (row.kind, row.token, row.amount, row.currency) == (
                "charge", token, amount.minor, amount.currency,
            )  # fmt: skip
            if not same:
                raise IdempotencyConflict(f"idempotency key {key!r} was used for another request")
            return _result(row), behaviour
        status: ChargeStatus
        if behaviour is None:
            status, code, message = "failed", "unknown_card", "No such card on file."
        elif behaviour in _DECLINES:
            status, (code, message) = "failed", _DECLINES[behaviour]
        else:
            status, code, message = "succeeded", None, None
        reference = f"ch_sim_{new_id()}"
        conn.execute(
            insert(t.gateway_charges).values(
                idempotency_key=key, kind="charge", token=token, amount=amount.minor,
                currency=amount.currency, status=status, reference=reference,
                decline_code=code, message=message, created_at=self.clock.now(),
            )
        )  # fmt: skip
        return ChargeResult(status, reference, code, message), behaviour

    def lookup(self, key: str) -> ChargeResult | None:
        self._before(self._fault())
        c = t.gateway_charges.c
        with self.engine.connect().execution_options(readonly=True) as conn:
            row = conn.execute(
                select(t.gateway_charges).where(c.idempotency_key == key, c.kind == "charge")
            ).one_or_none()
            conn.rollback()
        return None if row is None else _result(row)

    def refund(self, reference: str, amount: Money, *, key: str) -> str:
        self._before(self._fault())
        return self._retrying(lambda conn: self._refund(conn, reference, amount, key))

    def _refund(self, conn: Connection, reference: str, amount: Money, key: str) -> str:
        c = t.gateway_charges.c
        done = conn.execute(
            select(c.reference, c.charge_reference, c.amount).where(c.idempotency_key == key)
        ).one_or_none()
        if done is not None:
            if (done.charge_reference, done.amount) != (reference, amount.minor):
                raise IdempotencyConflict(f"idempotency key {key!r} was used for another request")
            return str(done.reference)
        charge = conn.execute(
            select(t.gateway_charges).where(c.reference == reference, c.kind == "charge")
        ).one_or_none()
        if charge is None or charge.status != "succeeded":
            raise InvalidInput(f"no succeeded charge {reference!r} to refund")
        refunded = conn.execute(
            select(func.coalesce(func.sum(c.amount), 0)).where(
                c.kind == "refund", c.charge_reference == reference
            )
        ).scalar_one()
        if amount.currency != charge.currency or amount.minor + int(refunded) > charge.amount:
            raise InvalidInput(f"cannot refund {amount} {amount.currency} of charge {reference}")
        refund_reference = f"re_sim_{new_id()}"
        conn.execute(
            insert(t.gateway_charges).values(
                idempotency_key=key, kind="refund", token=charge.token, amount=amount.minor,
                currency=amount.currency, status="succeeded", reference=refund_reference,
                charge_reference=reference, created_at=self.clock.now(),
            )
        )  # fmt: skip
        return refund_reference

    def _retrying(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction; a concurrent first use of the same
        idempotency key makes it run again and see the other's row."""
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _result(row: Any) -> ChargeResult:
    return ChargeResult(row.status, row.reference, row.decline_code, row.message)
