"""Paid-call spend per account and minute, for the fraud guard.

The guard's "spend in the last hour" is what the paid calls started in the
last hour hold (while they run) or cost (once ended). Summing it over the
calls themselves grows with traffic: after 16,000 calls within the hour on
one account, every authorize spent 8 ms in that sum on SQLite. The spend is
therefore also kept per account and UTC minute (table ``spend_minutes``),
changed in the same transaction as the call — by its reservation, each
growth, and the cost replacing the hold at the end — so the guard sums at
most 61 rows. The window is the last hour to the minute: a call that started
up to 59 seconds more than an hour ago may still be counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from callcredit.adapters import tables as t
from callcredit.adapters.prepared import Prepared
from callcredit.domain.clock import utc

WINDOW = timedelta(hours=1)
KEEP_MINUTES = 120

_s = t.spend_minutes.c
_SUM = Prepared(
    select(func.coalesce(func.sum(_s.amount), 0)).where(
        _s.account_id == bindparam("account_id"), _s.minute >= bindparam("since")
    )
)


def _upsert(insert_for: object) -> Prepared:
    ins = insert_for(t.spend_minutes).values(  # type: ignore[operator]
        account_id=bindparam("account_id"), minute=bindparam("minute"), amount=bindparam("amount")
    )
    return Prepared(
        ins.on_conflict_do_update(
            index_elements=[_s.account_id, _s.minute],
            set_={"amount": _s.amount + ins.excluded.amount},
        )
    )


_ADD = {"sqlite": _upsert(sqlite_insert), "postgresql": _upsert(pg_insert)}


def minute_of(moment: datetime) -> int:
    """Minutes since the epoch, UTC."""
    return int(utc(moment).timestamp()) // 60


def last_hour(conn: Connection, account_id: str, now: datetime) -> int:
    """Paid-call spend of the last hour (to the minute), in minor units."""
    return int(_SUM.scalar(conn, {"account_id": account_id, "since": minute_of(now - WINDOW)}))


def add(
    conn: Connection, account_id: str, started_at: datetime, amount: int, now: datetime
) -> None:
    """Count ``amount`` more (negative: less) for a paid call that started
    at ``started_at``; nothing when that is already outside the window."""
    add_many(conn, [(account_id, started_at, amount)], now)


def add_many(conn: Connection, changes: Iterable[tuple[str, datetime, int]], now: datetime) -> None:
    """:func:`add` for several calls: one upsert per account and minute."""
    oldest = minute_of(now - WINDOW)
    totals: dict[tuple[str, int], int] = {}
    for account_id, started_at, amount in changes:
        minute = minute_of(started_at)
        if amount and minute >= oldest:
            key = (account_id, minute)
            totals[key] = totals.get(key, 0) + amount
    rows = [{"account_id": a, "minute": m, "amount": n} for (a, m), n in totals.items() if n]
    if len(rows) == 1:
        _ADD[conn.dialect.name].execute(conn, rows[0])
    elif rows:
        _ADD[conn.dialect.name].executemany(conn, rows)


def prune(conn: Connection, now: datetime) -> int:
    """Forget minutes the guard no longer looks at; rows deleted."""
    stale = delete(t.spend_minutes).where(_s.minute < minute_of(now) - KEEP_MINUTES)
    return int(conn.execute(stale).rowcount)
