"""The Settings drop-down of the Prepaid Account (what happens when the
balance runs low) and the low-balance warning e-mail.

Choosing "Top off automatically" arms the watch and lifts a suspension;
if the available balance is already below the new threshold, the one
top-off request of this dip is emitted at once (the worker charges it at
its next round). The low-balance warning goes out once per dip, while paid
calls are refused ("Stop paid calls below X") or automatic top-off is
suspended; it is re-armed when the balance is back at or above X.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, false, not_, or_, select, true, update

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain import ledger as L
from callcredit.domain.clock import new_id
from callcredit.domain.errors import InvalidAmount, InvalidInput
from callcredit.domain.money import Money
from callcredit.services import outbox
from callcredit.services.accounts import Account, get_account

if TYPE_CHECKING:
    from callcredit.bootstrap import App

MODES = ("off", "stop-below", "auto-topoff")


def set_low_balance(
    uow: UnitOfWork,
    account_id: str,
    mode: str,
    *,
    below: Money | None = None,
    amount: Money | None = None,
    presets: Sequence[Money] | None = None,
) -> Account:
    """Save the Settings choice: ``off``; ``stop-below`` with ``below``; or
    ``auto-topoff`` with ``below`` and ``amount`` (one of ``presets`` when
    they are given)."""
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    account = get_account(uow, account_id)
    values: dict[str, Any] = {"low_balance_mode": mode, "low_balance_warned": False,
                              "topoff_armed": True}  # fmt: skip
    if mode in ("stop-below", "auto-topoff"):
        if below is None or not below.is_positive():
            raise InvalidAmount(f"--below must be an amount above zero for {mode}")
        _same_currency(account, below)
        values["low_balance_below"] = below.minor
    if mode == "auto-topoff":
        if amount is None or not amount.is_positive():
            raise InvalidAmount("--amount (the top-off amount) is required for auto-topoff")
        _same_currency(account, amount)
        if presets is not None and amount not in presets:
            offered = ", ".join(str(p) for p in presets)
            raise InvalidAmount(
                f"{amount} {amount.currency} is not one of the preset amounts: {offered}"
            )
        values.update(topoff_amount=amount.minor, topoff_suspended=False, topoff_failures=0)
    uow.ledger.lock(account_id)
    uow.conn.execute(
        update(t.accounts).where(t.accounts.c.account_id == account_id).values(**values)
    )
    if mode == "auto-topoff":
        uow.ledger.check_low_balance(account_id)
    return get_account(uow, account_id)


def _same_currency(account: Account, amount: Money) -> None:
    if amount.currency != account.currency:
        raise InvalidAmount(f"the account is in {account.currency}, not {amount.currency}")


def _watched() -> Any:
    """Accounts whose low-balance warning applies: paid calls stop below X,
    or automatic top-off is suspended."""
    a = t.accounts.c
    return or_(
        a.low_balance_mode == "stop-below",
        and_(a.low_balance_mode == "auto-topoff", a.topoff_suspended == true()),
    )


def warn_round(app: App) -> int:
    """Send the low-balance warning once per dip; re-arm it after."""
    a, lb = t.accounts.c, t.ledger_balances.c
    available = lb.credits_posted - lb.debits_posted - lb.debits_pending
    low = and_(_watched(), a.low_balance_below > 0, available < a.low_balance_below)
    with app.uow(readonly=True) as uow:
        changed = uow.conn.execute(
            select(a.account_id)
            .join(t.ledger_balances, and_(lb.account_id == a.account_id, lb.ledger == L.PREPAID))
            .where(
                or_(
                    and_(low, a.low_balance_warned == false()),
                    and_(not_(low), a.low_balance_warned == true()),
                )
            )
            .limit(100)
        ).all()
    for (account_id,) in changed:
        _warn(app, account_id)
    return len(changed)


def _warn(app: App, account_id: str) -> None:
    with app.uow() as uow:
        uow.ledger.lock(account_id)
        account = get_account(uow, account_id)
        warned = uow.conn.execute(
            select(t.accounts.c.low_balance_warned).where(t.accounts.c.account_id == account_id)
        ).scalar_one()
        bal = uow.ledger.balance(account_id)
        watched = account.low_balance_mode == "stop-below" or (
            account.low_balance_mode == "auto-topoff" and account.topoff_suspended
        )
        low = watched and bal.available < account.low_balance_below
        if low == bool(warned):
            return
        uow.conn.execute(
            update(t.accounts)
            .where(t.accounts.c.account_id == account_id)
            .values(low_balance_warned=low)
        )
        if not low:
            return
        available = Money(bal.available, bal.currency)
        below = Money(account.low_balance_below, account.currency)
        suspended = account.low_balance_mode == "auto-topoff"
        outbox.notify(
            uow, account_id, kind="low_balance", dedupe_key=f"low_balance:{new_id()}",
            public_url=app.settings.public_url,
            write=lambda w: w.low_balance(available=available, below=below, suspended=suspended),
        )  # fmt: skip
