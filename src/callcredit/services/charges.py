"""Charging the card on file without ever charging twice or crediting what
was not charged; shared by Add Funds and automatic top-off.

Every charge has an idempotency key written down before the gateway is
called. When an answer is lost the outcome is ``unknown``: nothing is
credited, and the next attempt first looks the charge up by that key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update

from callcredit.adapters import tables as t
from callcredit.domain.errors import GatewayUnavailable
from callcredit.domain.money import Money
from callcredit.services.ports import UNKNOWN, ChargeResult, PaymentGateway

if TYPE_CHECKING:
    from callcredit.bootstrap import App


def attempt(
    gateway: PaymentGateway,
    token: str,
    amount: Money,
    *,
    key: str,
    description: str,
    look_first: bool,
) -> ChargeResult:
    """One try at bringing charge ``key`` to a final outcome.

    With ``look_first`` (an earlier try may have charged) the gateway is
    asked about ``key`` first and only charged when it has no such charge,
    again under ``key``, so a charge still landing is never doubled."""
    if look_first:
        try:
            found = gateway.lookup(key)
        except GatewayUnavailable:
            return UNKNOWN
        if found is not None:
            return found
    try:
        return gateway.charge(token, amount, key=key, description=description)
    except GatewayUnavailable:
        return UNKNOWN


def backoff(attempts: int) -> timedelta:
    """Wait before trying an unanswered charge again (30 s doubling, ≤ 1 h)."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def account_of(charge_key: str) -> str | None:
    """The account a charge key belongs to (``funds:ACCOUNT:…`` or
    ``topoff:ACCOUNT:…``)."""
    parts = charge_key.split(":", 2)
    if len(parts) == 3 and parts[0] in ("funds", "topoff") and parts[1]:
        return parts[1]
    return None


def nudge(app: App, charge_key: str) -> bool:
    """The gateway told us something about charge ``charge_key`` (a
    webhook): check it at the next round instead of after its back-off.
    The lookup stays the only source of truth. True if a charge waited."""
    account_id = account_of(charge_key)
    if account_id is None:
        return False
    p, r = t.purchases.c, t.topoff_requests.c
    with app.uow() as uow:
        now = uow.clock.now()
        purchases = uow.conn.execute(
            update(t.purchases)
            .where(p.account_id == account_id, p.charge_key == charge_key, p.state == "charging")
            .values(next_check_at=now)
        ).rowcount
        topoffs = uow.conn.execute(
            update(t.topoff_requests)
            .where(r.account_id == account_id, r.charge_key == charge_key, r.state == "charging")
            .values(next_attempt_at=now)
        ).rowcount
    return bool(purchases or topoffs)
