"""Add Funds (Add-ons → Prepaid Account → Balance → Add Funds → Buy).

A purchase is written down (state ``charging``) before the card is
charged under an idempotency key derived from the purchase key; the
balance is credited, in the same transaction that records the outcome,
only for a succeeded charge. The same purchase key always gets the same
answer and moves money once. A purchase whose answer was lost is looked
up again by a background loop and credited at most once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.config import Settings
from callcredit.domain import ledger as L
from callcredit.domain.clock import new_id, utc
from callcredit.domain.errors import (
    CardDeclined,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidAmount,
    InvalidInput,
    NoCardOnFile,
)
from callcredit.domain.money import Money
from callcredit.services import charges, outbox
from callcredit.services.accounts import get_account
from callcredit.services.cards import get_card
from callcredit.services.ports import ChargeResult

if TYPE_CHECKING:
    from callcredit.bootstrap import App

log = logging.getLogger("callcredit.funds")

PURCHASE_KEY = re.compile(r"^[A-Za-z0-9:_.\-]{1,80}$")
LEASE = timedelta(seconds=120)  # an interactive purchase is not checked in the background before


@dataclass(frozen=True, slots=True)
class Purchase:
    """An Add Funds purchase and how it ended."""

    account_id: str
    key: str
    amount: Money
    state: str
    card_label: str
    charge_reference: str | None
    balance_after: Money | None
    decline_code: str | None
    message: str | None


def preset_amounts(settings: Settings, currency: str) -> list[Money]:
    """The amounts offered in the Add Funds drop-down, in ``currency``."""
    try:
        parts = [p for p in settings.preset_amounts.split(",") if p.strip()]
        amounts = [Money.parse(p, currency) for p in parts]
    except InvalidAmount as exc:
        raise InvalidInput(f"CALLCREDIT_PRESET_AMOUNTS is not a list of amounts: {exc}") from None
    return sorted({a for a in amounts if a.is_positive()})


def check_preset(settings: Settings, amount: Money) -> Money:
    """``amount`` if it is one of the preset amounts, else InvalidAmount."""
    presets = preset_amounts(settings, amount.currency)
    if amount not in presets:
        offered = ", ".join(str(p) for p in presets)
        raise InvalidAmount(
            f"{amount} {amount.currency} is not one of the preset amounts: {offered}"
        )
    return amount


def get_purchase(uow: UnitOfWork, account_id: str, key: str) -> Purchase | None:
    row = _row(uow, account_id, key)
    return None if row is None else _purchase(row)


def add_funds(
    app: App, account_id: str, amount: Money, *, idempotency_key: str | None = None
) -> Purchase:
    """Charge a preset ``amount`` to the card on file and credit the
    prepaid balance with it.

    Raises :class:`CardDeclined` (nothing credited), :class:`NoCardOnFile`,
    :class:`InvalidAmount` for an amount that is not a preset, or
    :class:`GatewayUnavailable` when the gateway's answer is still unknown
    (it is checked again in the background and credited at most once)."""
    key = idempotency_key or new_id()
    if not PURCHASE_KEY.match(key):
        raise InvalidInput("an idempotency key is 1-80 letters, digits, ':', '_', '.' or '-'")
    gateway = app.payment_gateway()
    with app.uow() as uow:
        uow.ledger.lock(account_id)
        row = _row(uow, account_id, key)
        if row is None:
            row = _start(app, uow, account_id, key, amount)
            look_first = False
        else:
            if (row.amount, row.currency) != (amount.minor, amount.currency):
                raise IdempotencyConflict(
                    f"purchase {key!r} was for {Money(row.amount, row.currency)} {row.currency}"
                )
            look_first = True
    if row.state == "charging":
        description = f"Prepaid funds for {account_id}"
        result = charges.attempt(gateway, row.card_token, amount, key=row.charge_key,
                                 description=description, look_first=look_first)  # fmt: skip
        if result.status == "unknown" and not look_first:
            # The answer was lost on the way: ask once more before giving up.
            result = charges.attempt(gateway, row.card_token, amount, key=row.charge_key,
                                     description=description, look_first=True)  # fmt: skip
        purchase = record(app, account_id, key, result)
    else:
        purchase = _purchase(row)
    return _answer(purchase)


def _start(app: App, uow: UnitOfWork, account_id: str, key: str, amount: Money) -> Any:
    account = get_account(uow, account_id)
    if amount.currency != account.currency:
        raise InvalidAmount(f"the account is in {account.currency}, not {amount.currency}")
    check_preset(app.settings, amount)
    card = get_card(uow, account_id)
    if card is None:
        raise NoCardOnFile(
            "there is no card on file: add one under Account → Billing (callcredit cards set)"
        )
    now = uow.clock.now()
    uow.conn.execute(
        insert(t.purchases).values(
            account_id=account_id, purchase_key=key, amount=amount.minor,
            currency=amount.currency, state="charging", charge_key=f"funds:{account_id}:{key}",
            card_token=card.token, card_label=card.label, attempts=1,
            next_check_at=now + LEASE, created_at=now,
        )
    )  # fmt: skip
    return _row(uow, account_id, key)


def record(app: App, account_id: str, key: str, result: ChargeResult) -> Purchase:
    """Record the gateway's answer for purchase ``key``: credit a succeeded
    charge (once), close a failed one, schedule another look at an unknown
    one. A purchase already closed is left as it is."""
    p = t.purchases.c
    where = (p.account_id == account_id, p.purchase_key == key)
    with app.uow() as uow:
        uow.ledger.lock(account_id)
        row = _row(uow, account_id, key)
        assert row is not None
        now = uow.clock.now()
        if row.state != "charging":
            return _purchase(row)
        amount = Money(row.amount, row.currency)
        if result.status == "succeeded":
            reference = f"{row.card_label} · {result.reference}"
            done = uow.ledger.transfer(
                account_id, key=f"purchase:{key}", debit=L.CARD, credit=L.PREPAID,
                amount=row.amount, kind=L.KIND_FUNDS_ADDED, reference=reference[:200],
            )  # fmt: skip
            uow.conn.execute(
                update(t.purchases).where(*where).values(
                    state="succeeded", charge_reference=result.reference,
                    transfer_id=done.transfer_id, balance_after=done.balance_after,
                    resolved_at=now,
                )
            )  # fmt: skip
            balance = Money(done.balance_after, row.currency)
            outbox.notify(
                uow, account_id, kind="receipt.funds", dedupe_key=f"purchase:{key}",
                public_url=app.settings.public_url,
                write=lambda w: w.receipt(amount=amount, card=row.card_label,
                                          reference=str(result.reference), balance=balance,
                                          when=now),
            )  # fmt: skip
            log.info("account %s: added %s %s from %s", account_id, amount, amount.currency,
                     row.card_label)  # fmt: skip
        elif result.status == "failed":
            uow.conn.execute(
                update(t.purchases).where(*where).values(
                    state="failed", charge_reference=result.reference,
                    decline_code=result.decline_code, message=result.message, resolved_at=now,
                )
            )  # fmt: skip
            log.info("account %s: %s declined (%s)", account_id, row.card_label,
                     result.decline_code)  # fmt: skip
        else:
            uow.conn.execute(
                update(t.purchases).where(*where).values(
                    next_check_at=now + charges.backoff(row.attempts),
                    message="no answer from the payment gateway yet",
                )
            )  # fmt: skip
            log.warning("account %s: purchase %s has no answer from the gateway yet",
                        account_id, key)  # fmt: skip
        return _purchase(_row(uow, account_id, key))


def reconcile_round(app: App) -> int:
    """Look up purchases whose answer was lost, and credit or close them."""
    p = t.purchases.c
    with app.uow(readonly=True) as uow:
        due = uow.conn.execute(
            select(p.account_id, p.purchase_key)
            .where(p.state == "charging", p.next_check_at <= uow.clock.now())
            .order_by(p.next_check_at)
            .limit(20)
        ).all()
    handled = 0
    for account_id, key in due:
        claimed = _claim(app, account_id, key)
        if claimed is None:
            continue
        result = charges.attempt(
            app.payment_gateway(), claimed.card_token, Money(claimed.amount, claimed.currency),
            key=claimed.charge_key, description=f"Prepaid funds for {account_id}",
            look_first=True,
        )  # fmt: skip
        record(app, account_id, key, result)
        handled += 1
    return handled


def _claim(app: App, account_id: str, key: str) -> Any:
    p = t.purchases.c
    with app.uow() as uow:
        uow.ledger.lock(account_id)
        row = _row(uow, account_id, key)
        now = uow.clock.now()
        if row is None or row.state != "charging" or utc(row.next_check_at) > now:
            return None
        uow.conn.execute(
            update(t.purchases)
            .where(p.account_id == account_id, p.purchase_key == key)
            .values(attempts=row.attempts + 1, next_check_at=now + LEASE)
        )
        return _row(uow, account_id, key)


def _row(uow: UnitOfWork, account_id: str, key: str) -> Any:
    p = t.purchases.c
    return uow.conn.execute(
        select(t.purchases).where(p.account_id == account_id, p.purchase_key == key)
    ).one_or_none()


def _purchase(row: Any) -> Purchase:
    cur = row.currency
    return Purchase(
        row.account_id, row.purchase_key, Money(row.amount, cur), row.state, row.card_label,
        row.charge_reference, None if row.balance_after is None else Money(row.balance_after, cur),
        row.decline_code, row.message,
    )  # fmt: skip


def _answer(purchase: Purchase) -> Purchase:
    """The purchase, or the error that tells why it did not add funds."""
    if purchase.state == "failed":
        raise CardDeclined(
            f"the card {purchase.card_label} was declined: "
            f"{purchase.message or 'no reason given'} Nothing was added.",
            purchase.decline_code or "generic_decline",
        )
    if purchase.state == "charging":
        raise GatewayUnavailable(
            "the payment gateway has not confirmed the payment yet; it is checked again "
            "automatically and the funds are added at most once (see Prepaid Activity)"
        )
    return purchase
