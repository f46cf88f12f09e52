"""The CDR importer as it was before batches were posted for all accounts
at once (commit 0a5f84a): one account at a time, with its own lock, reads
and ledger posting. Kept as the reference the batched importer must match,
ledger row for ledger row."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.domain.errors import NotFound
from callcredit.domain.money import Money
from callcredit.domain.rating import Reason, billed_seconds, call_cost
from callcredit.services import charging
from callcredit.services.accounts import Account, get_account
from callcredit.services.cdr import Cdr, ImportReport, LineError, parse_asterisk
from callcredit.services.rating import Destination, rater


def import_file(cc: App, rows: Iterable[str], *, batch_lines: int = 500) -> ImportReport:
    """Rate and post every record, ``batch_lines`` lines per transaction."""
    report = ImportReport()
    batch: list[Cdr | tuple[int, str]] = []
    for item in parse_asterisk(rows):
        batch.append(item)
        if len(batch) >= batch_lines:
            _import_batch(cc, batch, report)
            batch = []
    if batch:
        _import_batch(cc, batch, report)
    return report


def _import_batch(cc: App, batch: list[Cdr | tuple[int, str]], report: ImportReport) -> None:
    """One transaction per batch: per account, one lock, one read of the
    known call ids, bulk inserts and one bulk ledger posting."""
    by_account: dict[str, list[Cdr]] = {}
    for item in batch:
        if isinstance(item, tuple):
            report.errors.append(item)
        else:
            by_account.setdefault(item.account, []).append(item)
    with cc.uow() as uow:
        for account_id, cdrs in by_account.items():
            try:
                account = get_account(uow, account_id)
            except NotFound:
                report.errors.extend((c.line, f"unknown account {account_id!r}") for c in cdrs)
                continue
            _import_account(uow, account, cdrs, report)
    report.errors.sort()


def _known_calls(uow: UnitOfWork, call_ids: list[str]) -> dict[str, Any]:
    """Call rows (of any account) already holding these call ids."""
    found: dict[str, Any] = {}
    r, c = t.call_routes.c, t.calls.c
    for start in range(0, len(call_ids), 500):
        chunk = call_ids[start : start + 500]
        rows = uow.conn.execute(
            select(t.calls)
            .join(t.call_routes, (r.call_id == c.call_id) & (r.account_id == c.account_id))
            .where(r.call_id.in_(chunk))
        )
        for row in rows:
            found[row.call_id] = row
    return found


def _import_account(
    uow: UnitOfWork, account: Account, cdrs: list[Cdr], report: ImportReport
) -> None:
    uow.ledger.lock(account.account_id)
    known = _known_calls(uow, [c.call_id for c in cdrs])
    rate = rater(uow, account)
    destinations: dict[str, Destination] = {}
    calls: list[dict[str, Any]] = []
    postings: list[L.Posting] = []
    charged: list[dict[str, Any]] = []
    now = uow.clock.now()
    done: set[str] = set()  # call ids settled earlier in this batch
    for cdr in cdrs:
        row = known.get(cdr.call_id)
        if cdr.call_id in done:
            report.duplicates += 1
            continue
        if row is not None:
            if row.account_id != account.account_id:
                report.errors.append(
                    (cdr.line, f"call id {cdr.call_id} belongs to another account")
                )
            elif row.end_response is not None:
                report.duplicates += 1
            else:
                end = charging.EndCall(cdr.call_id, cdr.answered_seconds, "cdr", source="cdr")
                charging.end_locked(uow, row, end)
                report.settled_live += 1
                done.add(cdr.call_id)
            continue
        if cdr.destination not in destinations:
            destinations[cdr.destination] = rate(cdr.destination)
        try:
            values = _rated(account, cdr, destinations[cdr.destination], now)
        except LineError as exc:
            report.errors.append((cdr.line, str(exc)))
            continue
        done.add(cdr.call_id)
        calls.append(values)
        if values["reason"] != Reason.PREPAID.value:
            report.free += 1
            continue
        report.imported += 1
        report.charged[account.currency] = report.charged.get(account.currency, 0) + values["cost"]
        if values["cost"]:
            postings.append(
                L.Posting(
                    f"call:{cdr.call_id}:cdr",
                    L.PREPAID,
                    L.REVENUE,
                    values["cost"],
                    L.KIND_CALL,
                    cdr.call_id,
                )
            )
            charged.append(values)
    if postings:
        results = uow.ledger.post_many(account.account_id, postings, allow_overrun=True)
        for values, result in zip(charged, results, strict=True):
            values.update(balance_after=result.balance_after, overrun=result.overrun)
    if calls:
        uow.conn.execute(
            insert(t.call_routes),
            [{"call_id": v["call_id"], "account_id": account.account_id} for v in calls],
        )
        uow.conn.execute(insert(t.calls), calls)


def _rated(account: Account, cdr: Cdr, dest: Destination, now: datetime) -> dict[str, Any]:
    """The call row of a CDR-only call, rated like a live one."""
    plan, number = dest.plan, dest.number
    if not number.valid:
        raise LineError(f"invalid destination {cdr.destination!r}: {number.label}")
    values: dict[str, Any] = {
        "account_id": account.account_id,
        "call_id": cdr.call_id,
        "extension": cdr.extension[:32],
        "dialled": cdr.destination[:64],
        "e164": number.e164,
        "country": number.country,
        "kind": number.kind,
        "allow": True,
        "currency": account.currency,
        "state": charging.ENDED,
        "answered_seconds": cdr.answered_seconds,
        "source": "cdr",
        "started_at": now,
        "ended_at": now,
        "hangup_cause": "cdr",
        "matched": None,
        "per_minute": None,
        "connect_fee": None,
        "increment": None,
        "balance_after": None,
        "overrun": False,
    }
    rule = None if number.emergency else plan.included_rule(number)
    if number.emergency or rule is not None:
        reason = Reason.EMERGENCY if number.emergency else Reason.INCLUDED
        values.update(reason=reason.value, matched=rule, billed_seconds=0, cost=0)
    else:
        rate = dest.rate
        if rate is None:
            raise LineError(f"no rate for {number.e164} in deck {plan.rate_deck!r}")
        answered = cdr.answered_seconds
        values.update(
            reason=Reason.PREPAID.value,
            matched=rate.prefix,
            per_minute=str(rate.per_minute),
            connect_fee=str(rate.connect_fee),
            increment=str(rate.increment),
            billed_seconds=billed_seconds(answered, rate.increment) if answered else 0,
            cost=call_cost(answered, rate, account.currency).minor,
        )
    values["end_response"] = {
        "call_id": cdr.call_id,
        "billed_seconds": values["billed_seconds"],
        "charged": str(Money(values["cost"], account.currency)),
    }
    return values
