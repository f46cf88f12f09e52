"""Throwaway databases and the customers the benchmarks charge.

SQLite files live in a temporary folder; PostgreSQL databases are named
``cc_bench_*`` on the server at ``BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

from callcredit.adapters import prepared, schema
from callcredit.adapters.db import make_engine
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from callcredit.services.accounts import create_account
from callcredit.services.extensions import add_extension
from callcredit.services.tokens import create_token

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# A benchmark run moves a lot of money and keeps many calls open at once:
# the fraud guard's limits are lifted so that it never refuses a call.
SERVER_ENV = {
    "CALLCREDIT_FRAUD_CONCURRENT_CALLS": "100000",
    "CALLCREDIT_FRAUD_SPEND_PER_HOUR": "100000000",
}
FUNDS_MINOR = 10**12
EXTENSIONS = ("101", "102", "103", "104", "105")


def pg_base() -> str:
    """The server part of the PostgreSQL URL (no database name)."""
    return PG_URL.rsplit("/", 1)[0]


def pg_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def pg_database(prefix: str = "cc_bench") -> Iterator[str]:
    """A new empty PostgreSQL database, dropped on exit; yields its name."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(kind: str) -> Iterator[str]:
    """The URL of a fresh, migrated callcredit database of ``kind``
    (``sqlite`` or ``postgres``) with the shipped plans and decks."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="cc_bench_")
        try:
            url = f"sqlite:///{folder}/callcredit.db"
            _initialise(url)
            yield url
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    with pg_database() as name:
        url = f"{pg_base()}/{name}"
        _initialise(url)
        yield url


def _initialise(url: str) -> None:
    """What ``callcredit init`` does: schema, then the shipped data."""
    from callcredit.entrypoints.cli.commands import INIT_HOOKS

    engine = make_engine(url)
    schema.upgrade(engine)
    app = bootstrap(Settings(database_url=url), engine=engine)
    for hook in INIT_HOOKS:
        hook(app)
    engine.dispose()


def account_name(n: int) -> str:
    return f"office-{n:04d}"


def make_app(url: str, **settings: Any) -> App:
    return bootstrap(
        Settings(
            database_url=url,
            fraud_concurrent_calls=int(SERVER_ENV["CALLCREDIT_FRAUD_CONCURRENT_CALLS"]),
            fraud_spend_per_hour=SERVER_ENV["CALLCREDIT_FRAUD_SPEND_PER_HOUR"],
            run_workers_in_serve=False,
            **settings,
        )
    )


@dataclass(frozen=True)
class Customers:
    """What the load generators need to place calls."""

    accounts: int
    token: str


def customers(app: App, accounts: int) -> Customers:
    """``accounts`` offices on the fr-office plan, each with five extensions
    and a large prepaid balance, and one PBX token."""
    for n in range(accounts):
        with app.uow() as uow:
            account = account_name(n)
            create_account(uow, account, name=f"Office {n}")
            for ext in EXTENSIONS:
                add_extension(uow, account, ext)
            uow.ledger.transfer(
                account,
                key=f"bench-funds-{account}",
                debit=L.CARD,
                credit=L.PREPAID,
                amount=FUNDS_MINOR,
                kind=L.KIND_FUNDS_ADDED,
                reference="bench",
            )
    with app.uow() as uow:
        token = create_token(uow, "pbx", label="bench")
    return Customers(accounts, token)


class StatementCounter:
    """Counts the SQL statements an engine runs, by first keyword: those
    run through SQLAlchemy and those the hot path runs on the driver
    (:mod:`callcredit.adapters.prepared`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.counts: dict[str, int] = {}
        self.active = False
        event.listen(engine, "before_cursor_execute", self._count)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)
        prepared.statement_listeners.append(self._count_prepared)

    def _count_prepared(self, statement: str) -> None:
        self._count(None, None, statement)

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.active:
            word = statement.lstrip().split(None, 1)[0].upper()
            self.counts[word] = self.counts.get(word, 0) + 1

    def _begin(self, conn: Any) -> None:
        # SQLite's BEGIN IMMEDIATE goes through the cursor and is counted
        # there; PostgreSQL's BEGIN is implicit in the driver.
        if self.active and conn.dialect.name != "sqlite":
            self.counts["BEGIN"] = self.counts.get("BEGIN", 0) + 1

    def _commit(self, conn: Any) -> None:
        if self.active:
            self.counts["COMMIT"] = self.counts.get("COMMIT", 0) + 1

    @property
    def statements(self) -> int:
        """Statements other than BEGIN and COMMIT."""
        return sum(n for word, n in self.counts.items() if word not in ("BEGIN", "COMMIT"))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)
        event.remove(self.engine, "begin", self._begin)
        event.remove(self.engine, "commit", self._commit)
        prepared.statement_listeners.remove(self._count_prepared)
