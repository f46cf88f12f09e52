"""The Prepaid Activity: every movement of the prepaid balance — calls that
drew on it and funding events — with who called where, for how much."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, and_, func, or_, select

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain import ledger as L
from callcredit.domain.clock import utc
from callcredit.domain.errors import InvalidInput
from callcredit.domain.money import Money

TYPES = {
    "call": (L.KIND_SETTLE, L.KIND_CALL),
    "funds_added": (L.KIND_FUNDS_ADDED,),
    "auto_topoff": (L.KIND_AUTO_TOPOFF,),
    "adjustment": (L.KIND_ADJUSTMENT,),
    "refund": (L.KIND_REFUND,),
}
TYPE_OF = {kind: name for name, kinds in TYPES.items() for kind in kinds}
FILTER_TYPES = {"call": TYPES["call"], "funds": TYPES["funds_added"] + TYPES["auto_topoff"]}
CSV_COLUMNS = (
    "time",
    "type",
    "extension",
    "destination",
    "country",
    "kind",
    "answered_seconds",
    "billed_seconds",
    "amount",
    "balance_after",
    "reference",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the Prepaid Activity."""

    time: datetime
    type: str
    amount: Money
    balance_after: Money
    reference: str
    extension: str | None = None
    destination: str | None = None
    e164: str | None = None
    country: str | None = None
    kind: str | None = None
    answered_seconds: int | None = None
    billed_seconds: int | None = None
    per_minute: str | None = None
    overrun: bool = False


@dataclass(frozen=True, slots=True)
class Filters:
    """Date range (inclusive days, UTC), extension and type."""

    start: date | None = None
    end: date | None = None
    extension: str | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        if self.type is not None and self.type not in FILTER_TYPES and self.type not in TYPES:
            raise InvalidInput(f"type must be one of call, funds, {', '.join(TYPES)}")
        if self.start and self.end and self.end < self.start:
            raise InvalidInput("the end date is before the start date")


def parse_day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"not a date (YYYY-MM-DD): {text!r}") from None


def _query(account_id: str, f: Filters) -> Select[tuple[object, ...]]:
    tr, c = t.transfers.c, t.calls.c
    call_kinds = TYPES["call"]
    stmt = (
        select(
            tr.created_at,
            tr.kind,
            tr.amount,
            tr.currency,
            tr.debit_ledger,
            tr.balance_after,
            tr.reference,
            tr.seq,
            tr.overrun,
            c.extension,
            c.dialled,
            c.e164,
            c.country,
            c.kind.label("number_kind"),
            c.answered_seconds,
            c.billed_seconds,
            c.per_minute,
        )
        .select_from(t.transfers)
        .outerjoin(
            t.calls,
            and_(c.account_id == tr.account_id, c.call_id == tr.reference, tr.kind.in_(call_kinds)),
        )
        .where(
            tr.account_id == account_id,
            or_(tr.debit_ledger == L.PREPAID, tr.credit_ledger == L.PREPAID),
        )
    )
    if f.start:
        stmt = stmt.where(tr.created_at >= datetime.combine(f.start, time(), tzinfo=None))
    if f.end:
        stmt = stmt.where(
            tr.created_at < datetime.combine(f.end + timedelta(days=1), time(), tzinfo=None)
        )
    if f.extension:
        stmt = stmt.where(c.extension == f.extension)
    if f.type:
        stmt = stmt.where(tr.kind.in_(FILTER_TYPES.get(f.type) or TYPES[f.type]))
    return stmt


def entries(
    uow: UnitOfWork,
    account_id: str,
    filters: Filters | None = None,
    *,
    newest_first: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> list[Entry]:
    """Activity lines of one account (and only that account)."""
    tr = t.transfers.c
    stmt = _query(account_id, filters or Filters())
    stmt = stmt.order_by(tr.seq.desc() if newest_first else tr.seq)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    out = []
    for row in uow.conn.execute(stmt):
        sign = -1 if row.debit_ledger == L.PREPAID else 1
        cur = row.currency
        out.append(
            Entry(
                time=utc(row.created_at),
                type=TYPE_OF.get(row.kind, "adjustment"),
                amount=Money(sign * row.amount, cur),
                balance_after=Money(row.balance_after, cur),
                reference=row.reference or "",
                extension=row.extension,
                destination=row.dialled,
                e164=row.e164,
                country=row.country,
                kind=row.number_kind,
                answered_seconds=row.answered_seconds,
                billed_seconds=row.billed_seconds,
                per_minute=row.per_minute,
                overrun=bool(row.overrun),
            )
        )
    return out


def count(uow: UnitOfWork, account_id: str, filters: Filters | None = None) -> int:
    sub = _query(account_id, filters or Filters()).subquery()
    return int(uow.conn.execute(select(func.count()).select_from(sub)).scalar_one())


def totals_per_extension(entries_: Iterable[Entry]) -> dict[str, Money]:
    """Spend on calls per extension over the given entries (positive)."""
    totals: dict[str, Money] = {}
    for e in entries_:
        if e.type == "call" and e.extension:
            spent = -e.amount
            totals[e.extension] = totals[e.extension] + spent if e.extension in totals else spent
    return dict(sorted(totals.items()))


def to_csv(entries_: Iterable[Entry]) -> str:
    """The contract's activity CSV (give the entries oldest first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries_:
        writer.writerow(
            [
                e.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                e.type,
                e.extension or "",
                e.destination or "",
                e.country or "",
                e.kind or "",
                "" if e.answered_seconds is None else e.answered_seconds,
                "" if e.billed_seconds is None else e.billed_seconds,
                str(e.amount),
                str(e.balance_after),
                e.reference,
            ]
        )
    return buffer.getvalue()


def as_json(e: Entry) -> dict[str, object]:
    return {
        "time": e.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "type": e.type,
        "extension": e.extension,
        "destination": e.destination,
        "e164": e.e164,
        "country": e.country,
        "kind": e.kind,
        "answered_seconds": e.answered_seconds,
        "billed_seconds": e.billed_seconds,
        "amount": str(e.amount),
        "balance_after": str(e.balance_after),
        "currency": e.amount.currency,
        "reference": e.reference,
        "overrun": e.overrun,
    }
