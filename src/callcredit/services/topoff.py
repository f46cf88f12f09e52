"""Automatic top-off: the worker that turns the ledger's top-off requests
(one per dip below the threshold) into a charge of the card on file and a
credit of the prepaid balance.

For each due request, under the account's ledger lock: skip it if the
Settings changed, top-off is suspended, the balance recovered or the daily
cap is reached; otherwise mark it ``charging`` (a lease) and charge outside
the transaction with the request's idempotency key; then record the answer
under the lock again.

- succeeded: credit once (``funds.auto_topoff``), reset the failure count,
  write the receipt;
- declined: count a failure; retry later under a new key (the previous
  charge is known to have failed), or after ``topoff_max_failures`` in a
  row suspend top-off, record an alert and e-mail the administrators;
- no answer: keep ``charging`` and look the charge up by its key after a
  back-off: never credited without a succeeded charge, never charged twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain import ledger as L
from callcredit.domain.clock import new_id, utc
from callcredit.domain.money import Money
from callcredit.entrypoints.background import Loop, register
from callcredit.services import charges, funds, outbox, settings
from callcredit.services.accounts import Account, get_account
from callcredit.services.cards import get_card
from callcredit.services.ports import ChargeResult

if TYPE_CHECKING:
    from callcredit.bootstrap import App

log = logging.getLogger("callcredit.topoff")

LEASE = timedelta(minutes=5)  # a request being charged is not picked up again before this
DAY = timedelta(hours=24)


def decline_backoff(failures: int) -> timedelta:
    """Wait before charging a declined top-off again: 10 min, 1 h, then 6 h."""
    return timedelta(seconds=min(600 * 6 ** max(failures - 1, 0), 6 * 3600))


@dataclass(frozen=True, slots=True)
class _Claim:
    account_id: str
    request_id: str
    attempts: int
    amount: Money
    charge_key: str
    token: str
    card_label: str
    look_first: bool


def run_round(app: App) -> int:
    """Handle the top-off requests that are due; returns how many."""
    r = t.topoff_requests.c
    with app.uow(readonly=True) as uow:
        due = uow.conn.execute(
            select(r.account_id, r.request_id)
            .where(r.state.in_(("pending", "charging")), r.next_attempt_at <= uow.clock.now())
            .order_by(r.next_attempt_at)
            .limit(20)
        ).all()
    handled = 0
    for account_id, request_id in due:
        claim = _claim(app, account_id, request_id)
        if claim is None:
            continue
        result = charges.attempt(
            app.payment_gateway(), claim.token, claim.amount, key=claim.charge_key,
            description=f"Automatic top-off for {account_id}", look_first=claim.look_first,
        )  # fmt: skip
        _record(app, claim, result)
        handled += 1
    return handled


def _row(uow: UnitOfWork, account_id: str, request_id: str) -> Any:
    r = t.topoff_requests.c
    return uow.conn.execute(
        select(t.topoff_requests).where(r.account_id == account_id, r.request_id == request_id)
    ).one_or_none()


def _update(uow: UnitOfWork, row: Any, **values: Any) -> None:
    r = t.topoff_requests.c
    uow.conn.execute(
        update(t.topoff_requests)
        .where(r.account_id == row.account_id, r.request_id == row.request_id)
        .values(**values)
    )


def _account(uow: UnitOfWork, account_id: str, **values: Any) -> None:
    uow.conn.execute(
        update(t.accounts).where(t.accounts.c.account_id == account_id).values(**values)
    )


def _claim(app: App, account_id: str, request_id: str) -> _Claim | None:
    with app.uow() as uow:
        locked = uow.ledger.lock(account_id)
        row = _row(uow, account_id, request_id)
        now = uow.clock.now()
        if row is None or row.state not in ("pending", "charging"):
            return None
        if utc(row.next_attempt_at) > now:
            return None
        account = get_account(uow, account_id)
        card = get_card(uow, account_id)
        look_first = row.state == "charging"  # an earlier try may have charged
        if not look_first:
            skip = _reason_to_skip(account, locked.available)
            if skip is not None:
                _update(uow, row, state="skipped", last_error=skip, resolved_at=now)
                log.info("account %s: top-off %s skipped: %s", account_id, request_id, skip)
                return None
            if card is None:
                _declined(app, uow, row, account, "", "no_card", "There is no card on file.")
                return None
            if _succeeded_today(uow, account_id, now) >= app.settings.topoff_daily_cap:
                _capped(app, uow, row, account)
                return None
        _update(uow, row, state="charging", attempts=row.attempts + 1,
                next_attempt_at=now + LEASE)  # fmt: skip
        return _Claim(
            account_id, request_id, row.attempts + 1, Money(row.amount, row.currency),
            row.charge_key, card.token if card else "", card.label if card else "",
            look_first,
        )  # fmt: skip


def _reason_to_skip(account: Account, available: int) -> str | None:
    if account.low_balance_mode != "auto-topoff":
        return "automatic top-off is no longer chosen in Settings"
    if account.topoff_suspended:
        return "automatic top-off is suspended"
    if available >= account.low_balance_below:
        return "the available balance is back at or above the threshold"
    return None


def _succeeded_today(uow: UnitOfWork, account_id: str, now: datetime) -> int:
    r = t.topoff_requests.c
    return int(
        uow.conn.execute(
            select(func.count()).where(
                r.account_id == account_id, r.state == "succeeded", r.resolved_at > now - DAY
            )
        ).scalar_one()
    )


def _record(app: App, claim: _Claim, result: ChargeResult) -> None:
    with app.uow() as uow:
        uow.ledger.lock(claim.account_id)
        row = _row(uow, claim.account_id, claim.request_id)
        if row is None or row.state != "charging" or row.attempts != claim.attempts:
            return  # another worker took the request over after our lease
        account = get_account(uow, claim.account_id)
        now = uow.clock.now()
        if result.status == "succeeded":
            _credit(app, uow, row, account, claim.card_label, str(result.reference))
        elif result.status == "failed":
            _declined(app, uow, row, account, claim.card_label, result.decline_code,
                      result.message)  # fmt: skip
        else:
            retry = now + charges.backoff(row.attempts)
            _update(uow, row, next_attempt_at=retry,
                    last_error="no answer from the payment gateway; the charge is looked up "
                    "by its idempotency key before anything else")  # fmt: skip
            log.warning("account %s: top-off %s has no answer from the gateway yet",
                        claim.account_id, claim.request_id)  # fmt: skip


def _credit(
    app: App, uow: UnitOfWork, row: Any, account: Account, label: str, charge_reference: str
) -> None:
    now = uow.clock.now()
    amount = Money(row.amount, row.currency)
    done = uow.ledger.transfer(
        row.account_id, key=f"topoff:{row.request_id}", debit=L.CARD, credit=L.PREPAID,
        amount=row.amount, kind=L.KIND_AUTO_TOPOFF,
        reference=f"{label} · {charge_reference}"[:200],
    )  # fmt: skip
    _update(uow, row, state="succeeded", charge_reference=charge_reference, resolved_at=now,
            last_error=None)  # fmt: skip
    _account(uow, row.account_id, topoff_failures=0)
    balance = Money(done.balance_after, row.currency)
    below = Money(account.low_balance_below, account.currency)
    outbox.notify(
        uow, row.account_id, kind="receipt.topoff", dedupe_key=f"topoff:{row.request_id}",
        public_url=app.settings.public_url,
        write=lambda w: w.receipt(amount=amount, card=label, reference=charge_reference,
                                  balance=balance, when=now, below=below),
    )  # fmt: skip
    log.info("account %s: topped off %s %s from %s", row.account_id, amount, amount.currency,
             label)  # fmt: skip


def _declined(
    app: App,
    uow: UnitOfWork,
    row: Any,
    account: Account,
    label: str,
    code: str | None,
    message: str | None,
) -> None:
    """A definite failure: retry later under a new key, or suspend."""
    label = label or "-"
    now = uow.clock.now()
    failures = account.topoff_failures + 1
    amount = Money(row.amount, row.currency)
    why = f"{message or 'declined'} ({code or 'card_declined'})"
    if failures >= app.settings.topoff_max_failures:
        _update(uow, row, state="failed", last_error=why, resolved_at=now)
        # The suspension e-mail stands for this dip's low-balance warning.
        _account(uow, row.account_id, topoff_failures=failures, topoff_suspended=True,
                 low_balance_warned=True)  # fmt: skip
        _alert(uow, row.account_id, "topoff.suspended",
               f"automatic top-off suspended after {failures} failures: {why}")  # fmt: skip
        outbox.notify(
            uow, row.account_id, kind="topoff.suspended",
            dedupe_key=f"topoff-suspended:{row.request_id}", public_url=app.settings.public_url,
            write=lambda w: w.topoff_suspended(amount=amount, card=label, decline_code=code,
                                               failures=failures),
        )  # fmt: skip
        log.warning("account %s: automatic top-off suspended: %s", row.account_id, why)
        return
    retry = now + decline_backoff(failures)
    base = row.charge_key.split("~", 1)[0]
    _update(uow, row, state="pending", charge_key=f"{base}~{row.attempts}",
            next_attempt_at=retry, last_error=why)  # fmt: skip
    _account(uow, row.account_id, topoff_failures=failures)
    _alert(uow, row.account_id, "topoff.failed", f"automatic top-off failed: {why}")
    outbox.notify(
        uow, row.account_id, kind="topoff.failed",
        dedupe_key=f"topoff-failed:{row.request_id}:{row.attempts}",
        public_url=app.settings.public_url,
        write=lambda w: w.topoff_failed(amount=amount, card=label, decline_code=code,
                                        retry=retry),
    )  # fmt: skip
    log.warning("account %s: automatic top-off failed (%d in a row): %s", row.account_id,
                failures, why)  # fmt: skip


def _capped(app: App, uow: UnitOfWork, row: Any, account: Account) -> None:
    cap = app.settings.topoff_daily_cap
    why = f"the cap of {cap} automatic top-offs in 24 hours is reached"
    _update(uow, row, state="skipped", last_error=why, resolved_at=uow.clock.now())
    _alert(uow, row.account_id, "topoff.capped", f"automatic top-off not made: {why}")
    below = Money(account.low_balance_below, account.currency)
    outbox.notify(
        uow, row.account_id, kind="topoff.capped", dedupe_key=f"topoff-capped:{row.request_id}",
        public_url=app.settings.public_url,
        write=lambda w: w.topoff_capped(below=below, cap=cap),
    )  # fmt: skip
    log.warning("account %s: automatic top-off not made: %s", row.account_id, why)


def _alert(uow: UnitOfWork, account_id: str, kind: str, message: str) -> None:
    uow.conn.execute(
        insert(t.alerts).values(
            account_id=account_id, alert_id=new_id(), kind=kind, message=message,
            created_at=uow.clock.now(),
        )
    )  # fmt: skip


def _interval(app: App) -> float:
    return app.settings.worker_interval_seconds


register(Loop("topoff", run_round, _interval))
register(Loop("purchases", funds.reconcile_round, _interval))
register(Loop("low-balance", settings.warn_round, _interval))
