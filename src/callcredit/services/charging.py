"""Real-time call charging: authorize, reauthorize and end a call.

Each request is one transaction that starts by locking the customer's
prepaid row, so decisions and reservations for one customer are serialised
across threads, worker processes and machines. Every request is idempotent
on the PBX's ``call_id``: a repeat returns the first answer and moves no
money; the answers are stored with the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from callcredit.adapters import spend
from callcredit.adapters import tables as t
from callcredit.adapters.numbering import classify
from callcredit.adapters.prepared import Prepared
from callcredit.adapters.uow import UnitOfWork
from callcredit.bootstrap import App
from callcredit.domain.errors import IdempotencyConflict, InvalidInput, NotFound
from callcredit.domain.money import Money
from callcredit.domain.rating import (
    Decision,
    ExtensionRights,
    Increment,
    LowBalancePolicy,
    NumberInfo,
    Rate,
    Reason,
    billed_seconds,
    call_cost,
    decide,
    decimal_text,
    granted_seconds,
)
from callcredit.entrypoints import background
from callcredit.services.accounts import Account, account_from_row
from callcredit.services.extensions import _row as find_extension
from callcredit.services.extensions import rights_of
from callcredit.services.rating import destination

MAX_SECONDS = 7 * 24 * 3600
AUTHORIZED, ENDED, EXPIRED, DENIED = "authorized", "ended", "expired", "denied"
UNLIMITED = (Reason.EMERGENCY.value, Reason.INCLUDED.value)

# The statements of every request, built once with bound parameters:
# building a statement costs more than running it.
_c = t.calls.c
# They run on the driver directly (see adapters.prepared).
_ROUTE = Prepared(
    select(t.call_routes.c.account_id).where(t.call_routes.c.call_id == bindparam("call_id"))
)
_CALL = Prepared(
    select(t.calls).where(
        _c.account_id == bindparam("account_id"), _c.call_id == bindparam("call_id")
    )
)
_INSERT_ROUTE = Prepared(insert(t.call_routes))
_INSERT_CALL = Prepared(insert(t.calls))
_RUNNING = Prepared(
    select(func.count()).where(
        _c.account_id == bindparam("account_id"),
        _c.state == AUTHORIZED,
        _c.reason == Reason.PREPAID.value,
    )
)
_UPDATES: dict[tuple[str, ...], Prepared] = {}


@dataclass(frozen=True, slots=True)
class AuthorizeCall:
    """May this extension call this number, and for how long?"""

    call_id: str
    account: str
    extension: str
    destination: str
    quota_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class ReauthorizeCall:
    """The call has used ``used_seconds``; may it go on?"""

    call_id: str
    used_seconds: int


@dataclass(frozen=True, slots=True)
class EndCall:
    """The call ended after ``answered_seconds`` of conversation."""

    call_id: str
    answered_seconds: int
    hangup_cause: str = "normal"
    source: str = "api"


def _check_call_id(call_id: str) -> None:
    if not call_id or len(call_id) > 128:
        raise InvalidInput("call_id must have 1 to 128 characters")


def _check_seconds(value: int, what: str) -> None:
    if value < 0 or value > MAX_SECONDS:
        raise InvalidInput(f"{what} must be between 0 and {MAX_SECONDS}")


# -- authorize -------------------------------------------------------------


def authorize(cc: App, cmd: AuthorizeCall) -> dict[str, Any]:
    """Decide a call per the contract's order and reserve its first quota."""
    _check_call_id(cmd.call_id)
    if cmd.quota_seconds is not None and not 1 <= cmd.quota_seconds <= MAX_SECONDS:
        raise InvalidInput(f"quota_seconds must be between 1 and {MAX_SECONDS}")
    with cc.uow() as uow:
        try:
            locked = uow.ledger.lock(cmd.account)
        except NotFound:
            return _deny_unknown(cmd, Reason.UNKNOWN_ACCOUNT)
        account = account_from_row(locked.account)
        previous = _existing(uow.conn, cmd.call_id)
        if previous is not None:
            return _replay_authorize(previous, cmd)
        now = cc.clock.now()
        ext = find_extension(uow.conn, account.account_id, cmd.extension)
        if ext is None:
            number = classify(cmd.destination, account.country)
            response = _response(
                cmd.call_id,
                False,
                Reason.UNKNOWN_EXTENSION.value,
                0,
                number,
                None,
                account.currency,
                locked.available,
            )
            _record(uow, account, cmd, number, None, response, now)
            return response
        dest = destination(uow, account, cmd.destination)
        plan, number, rate = dest.plan, dest.number, dest.rate
        quota = min(
            cmd.quota_seconds or cc.settings.default_quota_seconds, cc.settings.max_call_seconds
        )
        paid = (
            number.valid
            and not number.emergency
            and rate is not None
            and plan.included_rule(number) is None
        )
        rights = rights_of(uow.conn, ext, now) if paid else ExtensionRights()
        tripped = paid and _fraud_guard_tripped(cc, uow, account, now)
        decision = decide(
            number,
            plan,
            rate,
            rights,
            LowBalancePolicy(account.low_balance_mode, account.low_balance_below),
            locked.available,
            tripped,
            quota,
        )
        reservation_id = None
        available = locked.available
        if decision.allow and decision.reason is Reason.PREPAID:
            held = uow.ledger.reserve(
                account.account_id,
                key=f"call:{cmd.call_id}:authorize",
                amount=decision.reserve.minor,
                reference=cmd.call_id,
                expires_at=now
                + timedelta(
                    seconds=(decision.granted_seconds or 0) + cc.settings.reservation_grace_seconds
                ),
                locked=locked,
                fresh=True,  # no call with this id yet, checked under the lock
            )
            reservation_id = held.reservation_id
            available = held.available_after
            spend.add(uow.conn, account.account_id, now, decision.reserve.minor, now)
        response = _response(
            cmd.call_id,
            decision.allow,
            decision.reason.value,
            decision.granted_seconds,
            number,
            decision.rate,
            account.currency,
            available,
        )
        _record(uow, account, cmd, number, decision, response, now, reservation_id, quota)
        return response


def _deny_unknown(cmd: AuthorizeCall, reason: Reason) -> dict[str, Any]:
    return {
        "call_id": cmd.call_id,
        "allow": False,
        "reason": reason.value,
        "granted_seconds": 0,
        "destination": None,
        "rate": None,
        "balance": None,
    }


def _response(
    call_id: str,
    allow: bool,
    reason: str,
    granted: int | None,
    number: NumberInfo,
    rate: Rate | None,
    currency: str,
    available: int,
) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "allow": allow,
        "reason": reason,
        "granted_seconds": granted,
        "destination": {
            "e164": number.e164,
            "country": number.country,
            "kind": number.kind,
            "label": number.label,
        },
        "rate": None
        if rate is None
        else {
            "per_minute": decimal_text(rate.per_minute),
            "connect_fee": decimal_text(rate.connect_fee),
            "increment": str(rate.increment),
            "currency": currency,
            "matched": rate.prefix,
        },
        "balance": {"currency": currency, "available": str(Money(available, currency))},
    }


def _record(
    uow: UnitOfWork,
    account: Account,
    cmd: AuthorizeCall,
    number: NumberInfo,
    decision: Decision | None,
    response: dict[str, Any],
    now: datetime,
    reservation_id: str | None = None,
    quota: int | None = None,
) -> None:
    rate = decision.rate if decision else None
    allow = bool(decision and decision.allow)
    _INSERT_ROUTE.execute(uow.conn, {"call_id": cmd.call_id, "account_id": account.account_id})
    _INSERT_CALL.execute(
        uow.conn,
        {
            "account_id": account.account_id,
            "call_id": cmd.call_id,
            "extension": cmd.extension[:32],
            "dialled": cmd.destination[:64],
            "e164": number.e164,
            "country": number.country,
            "kind": number.kind,
            "allow": allow,
            "reason": response["reason"],
            "matched": decision.matched if decision else None,
            "per_minute": str(rate.per_minute) if rate else None,
            "connect_fee": str(rate.connect_fee) if rate else None,
            "increment": str(rate.increment) if rate else None,
            "currency": account.currency,
            "reservation_id": reservation_id,
            "reserved": decision.reserve.minor if decision and allow else 0,
            "granted_seconds": response["granted_seconds"],
            "quota_seconds": quota,
            "state": AUTHORIZED if allow else DENIED,
            "authorize_response": response,
            "started_at": now,
        },
    )


def _existing(conn: Connection, call_id: str) -> Any:
    route = _ROUTE.first(conn, {"call_id": call_id})
    if route is None:
        return None
    return _CALL.one(conn, {"account_id": route.account_id, "call_id": call_id})


def _replay_authorize(row: Any, cmd: AuthorizeCall) -> dict[str, Any]:
    if (row.account_id, row.extension, row.dialled) != (
        cmd.account,
        cmd.extension[:32],
        cmd.destination[:64],
    ):
        raise IdempotencyConflict(
            f"call_id {cmd.call_id!r} was already authorized for a different call"
        )
    return dict(row.authorize_response)


def _fraud_guard_tripped(cc: App, uow: UnitOfWork, account: Account, now: datetime) -> bool:
    """Paid spend in the last hour or concurrent paid calls at their limit."""
    spend_limit = account.fraud_spend_per_hour
    if spend_limit is None:
        spend_limit = Money.parse(cc.settings.fraud_spend_per_hour, account.currency).minor
    calls_limit = account.fraud_concurrent_calls or cc.settings.fraud_concurrent_calls
    spent = spend.last_hour(uow.conn, account.account_id, now)
    running = int(_RUNNING.scalar(uow.conn, {"account_id": account.account_id}))
    if spent < spend_limit and running < calls_limit:
        return False
    _alert_fraud(uow, account, now, spent, int(running), spend_limit, calls_limit)
    return True


def _alert_fraud(
    uow: UnitOfWork,
    account: Account,
    now: datetime,
    spent: int,
    running: int,
    spend_limit: int,
    calls_limit: int,
) -> None:
    a = t.alerts.c
    recent = uow.conn.execute(
        select(a.alert_id)
        .where(
            a.account_id == account.account_id,
            a.kind == "fraud_guard",
            a.created_at >= now - timedelta(minutes=10),
        )
        .limit(1)
    ).first()
    if recent:
        return
    from callcredit.domain.clock import new_id

    cur = account.currency
    uow.conn.execute(
        insert(t.alerts).values(
            account_id=account.account_id,
            alert_id=new_id(),
            kind="fraud_guard",
            message=(
                f"Paid calls refused by the fraud guard: {Money(spent, cur)} {cur} spent in "
                f"the last hour (limit {Money(spend_limit, cur)}), {running} paid calls "
                f"running (limit {calls_limit})."
            ),
            created_at=now,
        )
    )


# -- reauthorize -------------------------------------------------------------


def _rate_of(row: Any) -> Rate:
    return Rate(
        row.matched or "",
        "",
        Decimal(row.per_minute),
        Decimal(row.connect_fee),
        Increment.parse(row.increment),
    )


def reauthorize(cc: App, cmd: ReauthorizeCall) -> dict[str, Any]:
    """Grow the call's reservation to cover another quota from now, or
    answer with the seconds left when the money is gone."""
    _check_call_id(cmd.call_id)
    _check_seconds(cmd.used_seconds, "used_seconds")
    with cc.uow() as uow:
        row, locked = _locked_call(uow, cmd.call_id)
        replies = dict(row.reauthorize_responses or {})
        key = str(cmd.used_seconds)
        if key in replies:
            return dict(replies[key])
        base = dict(row.authorize_response)
        now = cc.clock.now()
        granted_total = row.granted_seconds
        if row.state == DENIED:
            return base
        if row.reason in UNLIMITED:
            reply = base
        elif row.state != AUTHORIZED:
            left = 0
            reply = _with(
                base,
                False,
                "call_ended" if row.state == ENDED else "expired",
                left,
                locked.available,
                row.currency,
            )
        else:
            rate = _rate_of(row)
            budget = row.reserved + locked.available
            ext = find_extension(uow.conn, row.account_id, row.extension)
            if ext is not None and ext.monthly_cap is not None:
                room = ext.monthly_cap - rights_of(uow.conn, ext, now).month_spent_minor
                budget = min(budget, row.reserved + room)
            quota = min(
                row.quota_seconds or cc.settings.default_quota_seconds,
                cc.settings.max_call_seconds - cmd.used_seconds,
            )
            total = 0
            if quota >= 1 and budget >= 0:
                total = granted_seconds(rate, budget, cmd.used_seconds + quota, row.currency)
            if total > max(granted_total or 0, cmd.used_seconds):
                amount = call_cost(total, rate, row.currency).minor
                grown = uow.ledger.grow(
                    row.account_id,
                    row.reservation_id,
                    key=f"call:{cmd.call_id}:reauthorize:{cmd.used_seconds}",
                    amount=amount,
                    expires_at=now
                    + timedelta(
                        seconds=total - cmd.used_seconds + cc.settings.reservation_grace_seconds
                    ),
                )
                _update_call(uow, row, granted_seconds=total, reserved=grown.amount)
                extra = grown.amount - row.reserved
                spend.add(uow.conn, row.account_id, row.started_at, extra, now)
                reply = _with(
                    base,
                    True,
                    Reason.PREPAID.value,
                    total - cmd.used_seconds,
                    grown.available_after,
                    row.currency,
                )
            else:
                left = max(0, (granted_total or 0) - cmd.used_seconds)
                # Early or out-of-order: what is reserved already covers the
                # quota asked for, so the funds are not what stops the call.
                covered = (
                    left > 0
                    and quota >= 1
                    and total >= _floor_boundary(rate, cmd.used_seconds + quota)
                )
                reply = _with(
                    base,
                    covered,
                    Reason.PREPAID.value if covered else Reason.INSUFFICIENT_FUNDS.value,
                    left,
                    locked.available,
                    row.currency,
                )
        replies[key] = reply
        _update_call(uow, row, reauthorize_responses=replies)
        return reply


def _floor_boundary(rate: Rate, seconds: int) -> int:
    """The largest billing boundary at most ``seconds`` (at least ``a``)."""
    a, b = rate.increment.first, rate.increment.step
    return a if seconds <= a else a + (seconds - a) // b * b


def _with(
    base: dict[str, Any],
    allow: bool,
    reason: str,
    granted: int | None,
    available: int,
    currency: str,
) -> dict[str, Any]:
    reply = dict(base)
    reply.update(
        allow=allow,
        reason=reason,
        granted_seconds=granted,
        balance={"currency": currency, "available": str(Money(available, currency))},
    )
    return reply


def _locked_call(uow: UnitOfWork, call_id: str) -> tuple[Any, Any]:
    """The call's row, read once its account is locked, and the lock."""
    route = _ROUTE.first(uow.conn, {"call_id": call_id})
    if route is None:
        raise NotFound(f"unknown call {call_id!r}")
    locked = uow.ledger.lock(route.account_id)
    row = _CALL.one(uow.conn, {"account_id": route.account_id, "call_id": call_id})
    return row, locked


def _update_call(uow: UnitOfWork, row: Any, **values: Any) -> None:
    names = tuple(sorted(values))
    stmt = _UPDATES.get(names)
    if stmt is None:
        stmt = _UPDATES.setdefault(
            names,
            Prepared(
                update(t.calls)
                .where(
                    _c.account_id == bindparam("row_account"), _c.call_id == bindparam("row_call")
                )
                .values({name: bindparam(f"new_{name}", type_=_c[name].type) for name in names})
            ),
        )
    params = {f"new_{name}": value for name, value in values.items()}
    stmt.execute(uow.conn, {"row_account": row.account_id, "row_call": row.call_id, **params})


# -- end ---------------------------------------------------------------------


def end(cc: App, cmd: EndCall) -> dict[str, Any]:
    """Post the real cost of the call and release the rest of its hold,
    exactly once. A call that ran past its grant is still charged in full
    and flagged as an overrun."""
    _check_call_id(cmd.call_id)
    _check_seconds(cmd.answered_seconds, "answered_seconds")
    with cc.uow() as uow:
        row, locked = _locked_call(uow, cmd.call_id)
        return end_locked(uow, row, cmd, locked)


def end_locked(uow: UnitOfWork, row: Any, cmd: EndCall, locked: Any = None) -> dict[str, Any]:
    """End a call whose account is already locked in ``uow`` (``locked``:
    what the lock returned, when nothing else changed the row since)."""
    if row.end_response is not None:
        return dict(row.end_response)
    currency = row.currency
    answered = cmd.answered_seconds if row.allow else 0
    billed, cost = 0, 0
    overrun = False
    if row.allow and row.reason not in UNLIMITED:
        rate = _rate_of(row)
        billed = billed_seconds(answered, rate.increment) if answered else 0
        cost = call_cost(answered, rate, currency).minor
        overrun = row.granted_seconds is not None and billed > row.granted_seconds
        uow.ledger.settle(
            row.account_id,
            row.reservation_id,
            key=f"call:{row.call_id}:end",
            amount=cost,
            allow_overrun=True,
            locked=locked,
            fresh=True,  # no end yet, checked above under the lock
        )
        spend.add(uow.conn, row.account_id, row.started_at, cost - row.reserved, uow.clock.now())
    if locked is None:
        locked = uow.ledger.balance(row.account_id)
    available, posted = locked.available, locked.posted
    response = {
        "call_id": row.call_id,
        "billed_seconds": billed,
        "charged": str(Money(cost, currency)),
        "balance": {"currency": currency, "available": str(Money(available, currency))},
    }
    _update_call(
        uow,
        row,
        state=ENDED,
        answered_seconds=answered,
        billed_seconds=billed,
        cost=cost,
        balance_after=posted,
        overrun=overrun,
        hangup_cause=cmd.hangup_cause[:64],
        end_response=response,
        ended_at=uow.clock.now(),
    )
    return response


# -- sweeper -----------------------------------------------------------------


def sweep(cc: App, limit: int = 500) -> int:
    """Release reservations of calls nobody ended (granted time + grace).
    A late ``end`` or CDR still settles them, once."""
    with cc.uow(readonly=True) as uow:
        due = uow.ledger.due_reservations(cc.clock.now(), limit)
    released = 0
    for account_id, reservation_id in due:
        with cc.uow() as uow:
            if uow.ledger.expire(account_id, reservation_id):
                c = t.calls.c
                uow.conn.execute(
                    update(t.calls)
                    .where(
                        c.account_id == account_id,
                        c.reservation_id == reservation_id,
                        c.state == AUTHORIZED,
                    )
                    .values(state=EXPIRED)
                )
                released += 1
    now = cc.clock.now()
    if now - _pruned.get(id(cc), datetime.min.replace(tzinfo=now.tzinfo)) > PRUNE_EVERY:
        with cc.uow() as uow:
            spend.prune(uow.conn, now)
        _pruned[id(cc)] = now
    return released


PRUNE_EVERY = timedelta(minutes=10)
_pruned: dict[int, datetime] = {}


background.register(
    background.Loop("sweeper", sweep, lambda cc: cc.settings.sweep_interval_seconds)
)
