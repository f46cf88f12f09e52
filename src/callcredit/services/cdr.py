"""Importing call detail records written by switches (Asterisk ``Master.csv``).

Each record is rated like a live call and posted once: the PBX's unique id
is the call id, so a record for a call already settled live, or imported
before, moves nothing; a record for a call still open live settles it.
Malformed or unusable lines are reported with their line numbers and the
other lines are still imported.

The file is streamed in batches of ``BATCH`` lines, one transaction each,
with the same few statements per batch however many accounts it names.
"""

from __future__ import annotations

import csv
import gc
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select

from callcredit.adapters import rating_store as store
from callcredit.adapters import spend
from callcredit.adapters import tables as t
from callcredit.adapters.bulk import BulkInsert
from callcredit.adapters.uow import UnitOfWork
from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.domain.errors import NotFound
from callcredit.domain.money import Money
from callcredit.domain.rating import Rate, Reason, billed_seconds, call_cost
from callcredit.services import charging
from callcredit.services.accounts import Account, account_from_row
from callcredit.services.rating import Destination, rater

FORMATS = ("asterisk-csv",)
COLUMNS = 18  # accountcode … userfield
BATCH = 5000  # lines per transaction: memory stays bounded, statements few


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
    """Rate and post every record; returns the report. The file is read
    and posted ``BATCH`` lines at a time, one transaction per batch."""
    if fmt not in FORMATS:
        raise NotFound(f"unknown CDR format {fmt!r} (known: {', '.join(FORMATS)})")
    report = ImportReport()
    rating = _Rating()
    batch: list[Cdr | tuple[int, str]] = []
    with _collector.rarely():
        for item in parse_asterisk(rows):
            batch.append(item)
            if len(batch) >= BATCH:
                _import_batch(cc, batch, report, rating)
                if progress:
                    progress(len(batch))
                batch = []
        if batch:
            _import_batch(cc, batch, report, rating)
            if progress:
                progress(len(batch))
    return report


class _Collector:
    """Python's cyclic garbage collector, run less often during imports.

    An import allocates millions of short-lived containers (rows, postings)
    and creates next to no reference cycles, but the collector runs every
    700 allocations and walks each batch's rows again and again: about a
    tenth of an import's CPU. While imports run (in any thread), a
    collection waits for ``GEN0`` allocations; the thresholds in force before
    are put back when the last import ends."""

    GEN0 = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._imports = 0
        self._saved = gc.get_threshold()

    @contextmanager
    def rarely(self) -> Iterator[None]:
        with self._lock:
            if self._imports == 0:
                self._saved = gc.get_threshold()
                gc.set_threshold(max(self._saved[0], self.GEN0), *self._saved[1:])
            self._imports += 1
        try:
            yield
        finally:
            with self._lock:
                self._imports -= 1
                if self._imports == 0:
                    gc.set_threshold(*self._saved)


_collector = _Collector()


# Statements built once (building one costs more than running it); ``ids``
# are accounts (an expanding IN, rarely run) or a batch's call ids (one
# JSON array: an IN of thousands of values costs more to expand than to run).
_a, _r, _c = t.accounts.c, t.call_routes.c, t.calls.c
_ACCOUNTS = select(_a.account_id).where(_a.account_id.in_(bindparam("ids", expanding=True)))


def _known_calls_statement(ids: Any) -> Select[Any]:
    """Call rows whose ids are in the JSON array ``ids`` (one bound value
    however many ids, joined to the call ids' primary key)."""
    wanted = ids.table_valued("value")
    return (
        select(t.calls)
        .select_from(wanted)
        .join(t.call_routes, _r.call_id == wanted.c.value)
        .join(t.calls, (_c.call_id == _r.call_id) & (_c.account_id == _r.account_id))
    )


_ids = bindparam("ids", type_=_c.end_response.type)  # a JSON array
_KNOWN_CALLS = {
    "sqlite": _known_calls_statement(func.json_each(_ids)),
    "postgresql": _known_calls_statement(func.json_array_elements_text(_ids)),
}
IN_LIST = 5000  # values per IN list (SQLite allows 32,766 bound parameters)
# The columns a CDR writes to ``calls``, in the table's order: those that
# follow from the destination, then the others.
_DESTINATION_COLUMNS = (
    *("e164", "country", "kind", "allow", "reason", "matched"),
    *("per_minute", "connect_fee", "increment"),
)
_CALL_COLUMNS = (
    *("account_id", "call_id", "extension", "dialled", *_DESTINATION_COLUMNS, "currency"),
    *("state", "answered_seconds", "billed_seconds", "cost", "balance_after", "hangup_cause"),
    *("overrun", "source", "end_response", "started_at", "ended_at"),
)
_BALANCE_AFTER, _OVERRUN = _CALL_COLUMNS.index("balance_after"), _CALL_COLUMNS.index("overrun")
_INSERT_ROUTES = BulkInsert(t.call_routes, ("call_id", "account_id"))
_INSERT_CALLS = BulkInsert(t.calls, _CALL_COLUMNS)


def _import_batch(
    cc: App, batch: list[Cdr | tuple[int, str]], report: ImportReport, rating: _Rating
) -> None:
    """One transaction, with the same statements however many accounts the
    batch names: one lock of the accounts' prepaid rows (in account order,
    reading their settings), one read of the known call ids, one ledger
    posting for all accounts and bulk inserts of the calls.

    Records are decided account by account, in the order the accounts first
    appear in the batch, and each account's records in file order: a call
    id taken by an earlier account of the batch belongs to that account.
    Calls still open live are settled first, then each account's new calls
    are posted in file order."""
    errors: list[tuple[int, str]] = []
    by_account: dict[str, list[Cdr]] = {}
    for item in batch:
        if isinstance(item, tuple):
            errors.append(item)
        else:
            by_account.setdefault(item.account, []).append(item)
    with cc.uow() as uow:
        locked = uow.ledger.lock_many(list(by_account))
        accounts = {a: account_from_row(locked[a].account) for a in by_account if a in locked}
        if len(accounts) < len(by_account):
            _check_unknown(uow, [a for a in by_account if a not in locked])
        known = _known_calls(uow, [c.call_id for a in accounts for c in by_account[a]])
        rates = rating.batch(uow, list(accounts.values()))
        now = uow.clock.now()
        claimed: dict[str, str] = {}  # call id → the account that took it in this batch
        settle: list[tuple[str, Any, Cdr]] = []
        postings: dict[str, list[L.Posting]] = {}
        charged: dict[str, list[list[Any]]] = {}
        calls: list[list[Any]] = []
        spent: list[tuple[str, datetime, int]] = []  # for the fraud guard's hourly spend
        for account_id, cdrs in by_account.items():
            account = accounts.get(account_id)
            if account is None:
                errors.extend((c.line, f"unknown account {account_id!r}") for c in cdrs)
                continue
            rate = rates[_Rating.key(account)]
            for cdr in cdrs:
                owner = claimed.get(cdr.call_id)
                row = known.get(cdr.call_id)
                if owner == account_id:
                    report.duplicates += 1
                elif owner is not None or (row is not None and row.account_id != account_id):
                    errors.append((cdr.line, f"call id {cdr.call_id} belongs to another account"))
                elif row is not None:
                    if row.end_response is not None:
                        report.duplicates += 1
                    else:
                        settle.append((account_id, row, cdr))
                        claimed[cdr.call_id] = account_id
                        report.settled_live += 1
                else:
                    dest = rate(cdr.destination)
                    if dest.error is not None:
                        errors.append((cdr.line, dest.error))
                        continue
                    claimed[cdr.call_id] = account_id
                    cost = rating.cost(dest, cdr.answered_seconds, account.currency)
                    values = _call_row(account, cdr, dest, cost, now)
                    calls.append(values)
                    if dest.rate is None:
                        report.free += 1
                        continue
                    report.imported += 1
                    currency = account.currency
                    report.charged[currency] = report.charged.get(currency, 0) + cost[1]
                    if cost[1]:
                        spent.append((account_id, now, cost[1]))
                        postings.setdefault(account_id, []).append(
                            L.Posting(
                                f"call:{cdr.call_id}:cdr",
                                L.PREPAID,
                                L.REVENUE,
                                cost[1],
                                L.KIND_CALL,
                                cdr.call_id,
                            )
                        )
                        charged.setdefault(account_id, []).append(values)
        for account_id, row, cdr in settle:
            end = charging.EndCall(cdr.call_id, cdr.answered_seconds, "cdr", source="cdr")
            charging.end_locked(uow, row, end, locked[account_id])
        if postings:
            results = uow.ledger.post_batch(postings, locked, allow_overrun=True)
            for account_id, posted in results.items():
                for values, result in zip(charged[account_id], posted, strict=True):
                    values[_BALANCE_AFTER] = result.balance_after
                    values[_OVERRUN] = result.overrun
        _INSERT_ROUTES.run(uow.conn, [[v[1], v[0]] for v in calls])
        _INSERT_CALLS.run(uow.conn, calls)
        spend.add_many(uow.conn, spent, now)  # paid calls started now, as the guard counts them
    errors.sort()
    report.errors.extend(errors)  # a later batch has later line numbers


def _check_unknown(uow: UnitOfWork, account_ids: list[str]) -> None:
    """Accounts the ledger could not lock are unknown, unless they exist
    without a ledger: then the ledger's own lock refuses them, as for
    any other operation."""
    for start in range(0, len(account_ids), IN_LIST):
        chunk = account_ids[start : start + IN_LIST]
        for row in uow.conn.execute(_ACCOUNTS, {"ids": chunk}):
            uow.ledger.lock(row.account_id)


def _known_calls(uow: UnitOfWork, call_ids: list[str]) -> dict[str, Any]:
    """Call rows (of any account) already holding these call ids."""
    found: dict[str, Any] = {}
    unique = list(dict.fromkeys(call_ids))
    for start in range(0, len(unique), IN_LIST):
        chunk = unique[start : start + IN_LIST]
        for row in uow.conn.execute(_KNOWN_CALLS[uow.conn.dialect.name], {"ids": chunk}):
            found[row.call_id] = row
    return found


Costs = dict[int, tuple[int, int, str]]  # answered seconds → billed, cost, cost as text


@dataclass(frozen=True, slots=True)
class _Destination:
    """A dialled number as one plan and home country see it: the columns
    of its calls' rows that follow from it and its rate (None: free), or
    why a call to it cannot be imported."""

    error: str | None
    values: tuple[Any, ...]  # of _DESTINATION_COLUMNS
    rate: Rate | None = None
    costs: Costs | None = None  # shared by the destinations of one rate


class _Rating:
    """Destinations rated during one import. Each batch reads the plan and
    the deck's version again (as it reads the accounts again); what was
    rated is kept while both stay the same. Costs are kept per rate and
    answered duration. Both caches are bounded."""

    LIMIT = 65_536  # destinations per plan, and costs in all

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str], tuple[Any, dict[str, _Destination]]] = {}
        self._costs: dict[tuple[Rate | None, str], Costs] = {}
        self._kept_costs = 0

    @staticmethod
    def key(account: Account) -> tuple[str, str, str]:
        """What rating depends on besides the plan's and the deck's contents."""
        return (account.plan, account.country, account.currency)

    def batch(
        self, uow: UnitOfWork, accounts: list[Account]
    ) -> dict[tuple[str, str, str], Callable[[str], _Destination]]:
        """A rating function per group of ``accounts``, for one batch."""
        rates: dict[tuple[str, str, str], Callable[[str], _Destination]] = {}
        for account in accounts:
            key = self.key(account)
            if key in rates:
                continue
            version = store.load_plan_with_deck(uow.conn, account.plan)
            rate = rater(uow, account)  # checks the currencies; read after ``version``
            kept = self._groups.get(key)
            if kept is None or kept[0] != version:
                kept = self._groups[key] = (version, {})
            rates[key] = self._rating(rate, kept[1], account.currency)
        return rates

    def _rating(
        self, rate: Callable[[str], Destination], memo: dict[str, _Destination], currency: str
    ) -> Callable[[str], _Destination]:
        def rated(dialled: str) -> _Destination:
            found = memo.get(dialled)
            if found is None:
                if len(memo) >= self.LIMIT:
                    memo.clear()
                found = memo[dialled] = self._destination(rate(dialled), dialled, currency)
            return found

        return rated

    def _destination(self, dest: Destination, dialled: str, currency: str) -> _Destination:
        plan, number = dest.plan, dest.number
        if not number.valid:
            return _Destination(f"invalid destination {dialled!r}: {number.label}", ())
        columns: dict[str, Any] = {"e164": number.e164, "country": number.country}
        columns.update(kind=number.kind, allow=True)
        rule = None if number.emergency else plan.included_rule(number)
        rate = dest.rate
        if number.emergency or rule is not None:
            reason = Reason.EMERGENCY if number.emergency else Reason.INCLUDED
            columns.update(
                reason=reason.value, matched=rule, per_minute=None, connect_fee=None, increment=None
            )
            rate = None
        elif rate is None:
            return _Destination(f"no rate for {number.e164} in deck {plan.rate_deck!r}", ())
        else:
            columns.update(
                reason=Reason.PREPAID.value,
                matched=rate.prefix,
                per_minute=str(rate.per_minute),
                connect_fee=str(rate.connect_fee),
                increment=str(rate.increment),
            )
        values = tuple(columns[name] for name in _DESTINATION_COLUMNS)
        return _Destination(None, values, rate, self._costs.setdefault((rate, currency), {}))

    def cost(self, dest: _Destination, answered: int, currency: str) -> tuple[int, int, str]:
        """Billed seconds, cost and cost as text of a call to ``dest``."""
        costs = dest.costs
        assert costs is not None
        found = costs.get(answered)
        if found is None:
            if self._kept_costs >= self.LIMIT:
                for kept in self._costs.values():
                    kept.clear()
                self._kept_costs = 0
            rate = dest.rate
            if rate is None or not answered:
                billed, minor = 0, 0
            else:
                billed = billed_seconds(answered, rate.increment)
                minor = call_cost(answered, rate, currency).minor
            found = costs[answered] = (billed, minor, str(Money(minor, currency)))
            self._kept_costs += 1
        return found


def _call_row(
    account: Account, cdr: Cdr, dest: _Destination, cost: tuple[int, int, str], now: datetime
) -> list[Any]:
    """The row (``_CALL_COLUMNS``) of a CDR-only call, rated like a live one."""
    billed, minor, charged = cost
    return [
        *(account.account_id, cdr.call_id, cdr.extension[:32], cdr.destination[:64]),
        *dest.values,
        *(account.currency, charging.ENDED, cdr.answered_seconds, billed, minor),
        *(None, "cdr", False, "cdr"),  # balance_after (once posted), hangup, overrun, source
        {"call_id": cdr.call_id, "billed_seconds": billed, "charged": charged},
        now,
        now,
    ]
