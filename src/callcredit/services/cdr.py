"""Importing call detail records written by switches (Asterisk ``Master.csv``).

Each record is rated like a live call and posted once: the PBX's unique id
is the call id, so a record for a call already settled live, or imported
before, moves nothing; a record for a call still open live settles it.
Malformed or unusable lines are reported with their line numbers and the
other lines are still imported.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.domain.errors import CallcreditError, NotFound
from callcredit.domain.money import Money
from callcredit.domain.rating import Reason, billed_seconds, call_cost
from callcredit.services import charging
from callcredit.services.accounts import Account, get_account
from callcredit.services.rating import destination

FORMATS = ("asterisk-csv",)
COLUMNS = 18  # accountcode … userfield
BATCH = 500


@dataclass(frozen=True, slots=True)
class Cdr:
    """One finished call as the switch recorded it."""

    line: int
    account: str
    extension: str
    destination: str
    answered_seconds: int
    call_id: str


@dataclass
class ImportReport:
    """What an import did, line by line where it matters."""

    imported: int = 0
    free: int = 0
    settled_live: int = 0
    duplicates: int = 0
    charged: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return self.imported + self.free + self.settled_live + self.duplicates + len(self.errors)


class LineError(Exception):
    """A CDR line that cannot be imported, and why."""


def parse_asterisk(rows: Iterable[str]) -> Iterator[Cdr | tuple[int, str]]:
    """CDRs from ``Master.csv`` lines, or (line, reason) for a bad line."""
    reader = csv.reader(rows)
    number = 0
    while True:
        number += 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            yield (number, f"not a CSV record: {exc}")
            continue
        if not fields or fields == [""]:
            continue
        try:
            yield _parse(number, fields)
        except LineError as exc:
            yield (number, str(exc))


def _parse(number: int, fields: list[str]) -> Cdr:
    if len(fields) < COLUMNS:
        raise LineError(f"{len(fields)} columns, expected {COLUMNS} (Asterisk Master.csv)")
    account, src, dst = fields[0].strip(), fields[1].strip(), fields[2].strip()
    billsec, disposition, uniqueid = fields[13].strip(), fields[14].strip(), fields[16].strip()
    if not account:
        raise LineError("accountcode is empty")
    if not uniqueid or len(uniqueid) > 128:
        raise LineError("uniqueid must have 1 to 128 characters")
    if not src or not dst:
        raise LineError("src and dst must not be empty")
    digits = billsec.isascii() and billsec.isdigit() and len(billsec) <= 9
    if not digits or int(billsec) > charging.MAX_SECONDS:
        raise LineError(f"billsec must be a whole number of seconds, not {billsec!r}")
    answered = int(billsec) if disposition.upper() == "ANSWERED" else 0
    return Cdr(number, account, src, dst, answered, uniqueid)


def import_file(
    cc: App,
    rows: Iterable[str],
    *,
    fmt: str = "asterisk-csv",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Rate and post every record; returns the report."""
    if fmt not in FORMATS:
        raise NotFound(f"unknown CDR format {fmt!r} (known: {', '.join(FORMATS)})")
    report = ImportReport()
    batch: list[Cdr | tuple[int, str]] = []
    for item in parse_asterisk(rows):
        batch.append(item)
        if len(batch) >= BATCH:
            _import_batch(cc, batch, report)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _import_batch(cc, batch, report)
        if progress:
            progress(len(batch))
    return report


def _import_batch(cc: App, batch: list[Cdr | tuple[int, str]], report: ImportReport) -> None:
    accounts: dict[str, Account | None] = {}
    with cc.uow() as uow:
        for item in batch:
            if isinstance(item, tuple):
                report.errors.append(item)
                continue
            if item.account not in accounts:
                try:
                    accounts[item.account] = get_account(uow, item.account)
                except NotFound:
                    accounts[item.account] = None
            account = accounts[item.account]
            if account is None:
                report.errors.append((item.line, f"unknown account {item.account!r}"))
                continue
            savepoint = uow.conn.begin_nested()
            try:
                _post(cc, uow, account, item, report)
            except (CallcreditError, LineError) as exc:
                savepoint.rollback()
                report.errors.append((item.line, str(exc)))
            else:
                savepoint.commit()


def _post(cc: App, uow: UnitOfWork, account: Account, cdr: Cdr, report: ImportReport) -> None:
    uow.ledger.lock(account.account_id)
    row = charging._existing(uow.conn, cdr.call_id)
    if row is not None:
        if row.account_id != account.account_id:
            raise LineError(f"call id {cdr.call_id} belongs to another account")
        if row.end_response is not None:
            report.duplicates += 1
            return
        charging.end_locked(
            uow, row, charging.EndCall(cdr.call_id, cdr.answered_seconds, "cdr", source="cdr")
        )
        report.settled_live += 1
        return
    dest = destination(uow, account, cdr.destination)
    plan, number = dest.plan, dest.number
    if not number.valid:
        raise LineError(f"invalid destination {cdr.destination!r}: {number.label}")
    now = uow.clock.now()
    values: dict[str, Any] = dict(
        account_id=account.account_id,
        call_id=cdr.call_id,
        extension=cdr.extension[:32],
        dialled=cdr.destination[:64],
        e164=number.e164,
        country=number.country,
        kind=number.kind,
        allow=True,
        currency=account.currency,
        state=charging.ENDED,
        answered_seconds=cdr.answered_seconds,
        source="cdr",
        started_at=now,
        ended_at=now,
        hangup_cause="cdr",
    )
    rule = None if number.emergency else plan.included_rule(number)
    if number.emergency or rule is not None:
        reason = Reason.EMERGENCY if number.emergency else Reason.INCLUDED
        values.update(reason=reason.value, matched=rule, billed_seconds=0, cost=0)
        report.free += 1
    else:
        rate = dest.rate
        if rate is None:
            raise LineError(f"no rate for {number.e164} in deck {plan.rate_deck!r}")
        cost = call_cost(cdr.answered_seconds, rate, account.currency)
        values.update(
            reason=Reason.PREPAID.value,
            matched=rate.prefix,
            per_minute=str(rate.per_minute),
            connect_fee=str(rate.connect_fee),
            increment=str(rate.increment),
            billed_seconds=billed_seconds(cdr.answered_seconds, rate.increment)
            if cdr.answered_seconds
            else 0,
            cost=cost.minor,
        )
        if cost.minor:
            result = uow.ledger.transfer(
                account.account_id,
                key=f"call:{cdr.call_id}:cdr",
                debit=L.PREPAID,
                credit=L.REVENUE,
                amount=cost.minor,
                kind=L.KIND_CALL,
                reference=cdr.call_id,
                allow_overrun=True,
            )
            values.update(balance_after=result.balance_after, overrun=result.overrun)
        report.charged[account.currency] = report.charged.get(account.currency, 0) + cost.minor
        report.imported += 1
    values["end_response"] = {
        "call_id": cdr.call_id,
        "billed_seconds": values.get("billed_seconds", 0),
        "charged": str(Money(values.get("cost", 0), account.currency)),
    }
    uow.conn.execute(
        insert(t.call_routes).values(call_id=cdr.call_id, account_id=account.account_id)
    )
    uow.conn.execute(insert(t.calls).values(**values))
