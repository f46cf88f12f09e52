"""Engines for SQLite (embedded, default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every write transaction
starts with ``BEGIN IMMEDIATE`` so that writers queue instead of failing
with ``database is locked``. PostgreSQL relies on row locks taken by the
ledger (``SELECT … FOR UPDATE``).

SQLite's busy handler makes a waiting writer sleep and retry (1, 2, 5 … up
to 100 ms at a time), so under load a writer can wait far longer than the
transactions ahead of it take. Write units of work on a SQLite file
therefore queue first on :func:`writer_queue`: a lock shared by the threads
of the process, then an exclusive ``flock`` on ``<database>.lock`` shared by
the processes. Both wake the next writer as soon as the previous one is
done. The queue only orders writers; SQLite's own lock still guarantees
that one write transaction runs at a time (other programs, e.g. the
``sqlite3`` shell, still go through the busy timeout).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 60_000


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` as the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _json_text(value: Any) -> str:
    """JSON columns are written with orjson (several times faster than the
    standard library on the charging path's stored answers)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    """Create the engine for ``url`` with the settings callcredit relies on."""
    url = normalise_url(url)
    parsed = make_url(url)
    json = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=10,
            **json,
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, pool_recycle=1800, **json
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Straight on the driver: exec_driver_sql costs more than the BEGIN.
        sql = "BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE"
        try:
            conn.connection.driver_connection.execute(sql)
        except sqlite3.Error as err:
            dialect = conn.dialect
            raise exc.DBAPIError.instance(sql, (), err, sqlite3.Error, dialect=dialect) from err


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class _WriterQueue:
    """Threads of this process, then processes, one writer at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)  # closing the file releases the flock
                    self._fd = None


_queues: dict[str, _WriterQueue] = {}
_queues_lock = threading.Lock()


def writer_queue(engine: Engine) -> AbstractContextManager[None]:
    """Hold while running a write transaction on ``engine``: queues writers
    of a SQLite file (see the module's docstring); nothing for PostgreSQL
    or an in-memory SQLite database."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return nullcontext()
    path = os.path.abspath(database) + ".lock"
    queue = _queues.get(path)
    if queue is None:
        with _queues_lock:
            queue = _queues.setdefault(path, _WriterQueue(path))
    return queue.hold()
