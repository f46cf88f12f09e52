"""Telephone extensions and their rights to paid calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.prepared import Prepared
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain.errors import AlreadyExists, InvalidInput, NotFound
from callcredit.domain.rating import ExtensionRights

EXTENSION = re.compile(r"^[0-9A-Za-z*#+._-]{1,32}$")


@dataclass(frozen=True, slots=True)
class Extension:
    """An extension of an account and what it may do."""

    account_id: str
    extension: str
    name: str
    paid_allowed: bool
    premium_allowed: bool
    monthly_cap: int | None


def add_extension(uow: UnitOfWork, account_id: str, extension: str, name: str = "") -> Extension:
    """Add an extension; paid and premium calls are allowed, no cap."""
    if not EXTENSION.match(extension):
        raise InvalidInput(f"not an extension number: {extension!r}")
    exists = uow.conn.execute(
        select(t.accounts.c.account_id).where(t.accounts.c.account_id == account_id)
    ).first()
    if not exists:
        raise NotFound(f"unknown account {account_id!r}")
    if _row(uow.conn, account_id, extension) is not None:
        raise AlreadyExists(f"extension {extension} already exists in {account_id}")
    uow.conn.execute(
        insert(t.extensions).values(
            account_id=account_id,
            extension=extension,
            name=name.strip(),
            created_at=uow.clock.now(),
        )
    )
    return get_extension(uow, account_id, extension)


def set_rights(
    uow: UnitOfWork,
    account_id: str,
    extension: str,
    *,
    paid_allowed: bool | None = None,
    premium_allowed: bool | None = None,
    monthly_cap: int | None = None,
    clear_cap: bool = False,
    name: str | None = None,
) -> Extension:
    """Change an extension's rights; unspecified rights stay as they are."""
    get_extension(uow, account_id, extension)
    if monthly_cap is not None and monthly_cap < 0:
        raise InvalidInput("the monthly cap cannot be negative")
    values: dict[str, object] = {}
    if paid_allowed is not None:
        values["paid_allowed"] = paid_allowed
    if premium_allowed is not None:
        values["premium_allowed"] = premium_allowed
    if clear_cap:
        values["monthly_cap"] = None
    elif monthly_cap is not None:
        values["monthly_cap"] = monthly_cap
    if name is not None:
        values["name"] = name.strip()
    if values:
        e = t.extensions.c
        uow.conn.execute(
            update(t.extensions)
            .where(e.account_id == account_id, e.extension == extension)
            .values(**values)
        )
    return get_extension(uow, account_id, extension)


_e = t.extensions.c
_EXTENSION = Prepared(
    select(
        _e.account_id, _e.extension, _e.name, _e.paid_allowed, _e.premium_allowed, _e.monthly_cap
    ).where(_e.account_id == bindparam("account_id"), _e.extension == bindparam("extension"))
)
_c = t.calls.c
_MONTH_SPENT = Prepared(
    select(func.coalesce(func.sum(func.coalesce(_c.cost, _c.reserved)), 0)).where(
        _c.account_id == bindparam("account_id"),
        _c.extension == bindparam("extension"),
        _c.started_at >= bindparam("since"),
        _c.allow,
    )
)


def _row(conn: Connection, account_id: str, extension: str) -> Extension | None:
    row = _EXTENSION.first(conn, {"account_id": account_id, "extension": extension})
    if row is None:
        return None
    return Extension(
        row.account_id,
        row.extension,
        row.name,
        bool(row.paid_allowed),
        bool(row.premium_allowed),
        row.monthly_cap,
    )


def get_extension(uow: UnitOfWork, account_id: str, extension: str) -> Extension:
    found = _row(uow.conn, account_id, extension)
    if found is None:
        raise NotFound(f"unknown extension {extension!r} in account {account_id!r}")
    return found


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(conn: Connection, account_id: str, now: datetime) -> dict[str, int]:
    """Spend per extension since the first of the month (UTC): the cost of
    ended calls plus what running calls hold."""
    c = t.calls.c
    spent = func.coalesce(func.sum(func.coalesce(c.cost, c.reserved)), 0)
    rows = conn.execute(
        select(c.extension, spent)
        .where(and_(c.account_id == account_id, c.started_at >= month_start(now), c.allow))
        .group_by(c.extension)
    )
    return {row[0]: int(row[1]) for row in rows}


def rights_of(conn: Connection, ext: Extension, now: datetime) -> ExtensionRights:
    """The extension's rights with its month-to-date spend, for a decision."""
    spent = 0
    if ext.monthly_cap is not None:
        spent = int(
            _MONTH_SPENT.scalar(
                conn,
                {
                    "account_id": ext.account_id,
                    "extension": ext.extension,
                    "since": month_start(now),
                },
            )
        )
    return ExtensionRights(ext.paid_allowed, ext.premium_allowed, ext.monthly_cap, spent)


@dataclass(frozen=True, slots=True)
class ExtensionView:
    """An extension with its month-to-date spend, for lists."""

    extension: Extension
    month_spent: int


def list_extensions(uow: UnitOfWork, account_id: str) -> list[ExtensionView]:
    e = t.extensions.c
    spend = month_spend(uow.conn, account_id, uow.clock.now())
    rows = uow.conn.execute(
        select(e.extension).where(e.account_id == account_id).order_by(e.extension)
    ).scalars()
    views = []
    for number in rows:
        ext = get_extension(uow, account_id, number)
        views.append(ExtensionView(ext, spend.get(number, 0)))
    return views
