"""Statements run on the driver (adapters.prepared) give what SQLAlchemy's
own execution gives, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exc, func, insert, select, update

from callcredit.adapters import prepared
from callcredit.adapters import tables as t
from callcredit.adapters.prepared import Prepared
from callcredit.bootstrap import App
from callcredit.services.accounts import open_account

_c = t.calls.c
SELECT_CALL = select(t.calls).where(
    _c.account_id == bindparam("account_id"), _c.call_id == bindparam("call_id")
)
# A literal in the statement becomes a bound parameter with a default.
COUNT_DENIED = select(func.count()).where(
    _c.account_id == bindparam("account_id"), _c.state == "denied"
)


def _call(call_id: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "account_id": "acme",
        "call_id": call_id,
        "extension": "101",
        "dialled": "+447400123456",
        "kind": "mobile",
        "allow": True,
        "reason": "prepaid",
        "per_minute": "0.1500",
        "currency": "EUR",
        "reserved": 120,
        "state": "authorized",
        "authorize_response": {"allow": True, "nested": {"a": [1, 2]}, "none": None},
        "started_at": datetime(2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC),
    }
    row.update(extra)
    return row


@pytest.fixture
def acme(app: App) -> App:
    with app.uow() as uow:
        open_account(uow, "acme", name="Acme")
    return app


def test_rows_match_sqlalchemy_rows(acme: App) -> None:
    """Inserted through Prepared, read back both ways: same values and
    types (JSON, booleans, timestamps, numerics)."""
    with acme.uow() as uow:
        Prepared(insert(t.calls)).execute(uow.conn, _call("c1"))
        Prepared(insert(t.calls)).execute(uow.conn, _call("c2", allow=False, state="denied"))
    with acme.uow(readonly=True) as uow:
        params = {"account_id": "acme", "call_id": "c1"}
        fast = Prepared(SELECT_CALL).one(uow.conn, params)
        slow = uow.conn.execute(SELECT_CALL, params).one()
        assert fast._asdict() == dict(slow._mapping)
        assert fast.authorize_response == {"allow": True, "nested": {"a": [1, 2]}, "none": None}
        assert fast.allow is True
        assert fast.started_at.replace(tzinfo=UTC) == datetime(
            2026, 11, 21, 9, 30, 15, 123456, tzinfo=UTC
        )
        assert Prepared(COUNT_DENIED).scalar(uow.conn, {"account_id": "acme"}) == 1
        missing = {"account_id": "acme", "call_id": "nope"}
        assert Prepared(SELECT_CALL).first(uow.conn, missing) is None
        with pytest.raises(exc.NoResultFound):
            Prepared(SELECT_CALL).one(uow.conn, missing)


def test_updates_count_rows_and_executemany_inserts_all(acme: App) -> None:
    with acme.uow() as uow:
        Prepared(insert(t.calls)).executemany(uow.conn, [_call(f"m{n}") for n in range(5)])
        changed = Prepared(
            update(t.calls)
            .where(_c.account_id == bindparam("acct"), _c.state == "authorized")
            .values(state=bindparam("new_state", type_=_c.state.type))
        ).execute(uow.conn, {"acct": "acme", "new_state": "ended"})
        assert changed == 5
    with acme.uow(readonly=True) as uow:
        states = uow.conn.execute(select(_c.state).where(_c.account_id == "acme")).scalars()
        assert set(states) == {"ended"}


def test_driver_errors_are_sqlalchemy_errors_and_roll_back(acme: App) -> None:
    """A duplicate key raises SQLAlchemy's IntegrityError, as
    Connection.execute would, and the unit of work rolls back."""

    def insert_twice() -> None:
        with acme.uow() as uow:
            Prepared(insert(t.calls)).execute(uow.conn, _call("dup"))
            Prepared(insert(t.calls)).execute(uow.conn, _call("dup"))

    with pytest.raises(exc.IntegrityError):
        insert_twice()
    with acme.uow(readonly=True) as uow:
        assert uow.conn.execute(select(func.count()).select_from(t.calls)).scalar_one() == 0


def test_statement_listeners_see_each_statement(acme: App) -> None:
    seen: list[str] = []
    prepared.statement_listeners.append(seen.append)
    try:
        with acme.uow(readonly=True) as uow:
            Prepared(COUNT_DENIED).scalar(uow.conn, {"account_id": "acme"})
    finally:
        prepared.statement_listeners.remove(seen.append)
    assert len(seen) == 1
    assert seen[0].lstrip().upper().startswith("SELECT COUNT")


def test_expanding_parameters_are_refused(acme: App) -> None:
    stmt = select(_c.call_id).where(_c.call_id.in_(bindparam("ids", expanding=True)))
    with acme.uow(readonly=True) as uow, pytest.raises(ValueError, match="expanding"):
        Prepared(stmt).first(uow.conn, {"ids": ["a"]})
