"""The unit of work: one database transaction and the stores bound to it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType

from sqlalchemy import Connection, Engine, RootTransaction

from callcredit.adapters.db import writer_queue
from callcredit.adapters.ledger import SqlLedger
from callcredit.domain.clock import Clock


class UnitOfWork:
    """``with uow:`` opens a transaction, commits on a clean exit and rolls
    back on an exception. ``readonly`` units never take the write lock."""

    conn: Connection
    ledger: SqlLedger

    def __init__(self, engine: Engine, clock: Clock, *, readonly: bool = False) -> None:
        self.engine = engine
        self.clock = clock
        self.readonly = readonly
        self._tx: RootTransaction | None = None
        self._queue: AbstractContextManager[None] | None = None

    def __enter__(self) -> UnitOfWork:
        if not self.readonly:
            self._queue = writer_queue(self.engine)
            self._queue.__enter__()
        try:
            conn = self.engine.connect()
            if self.readonly:
                conn = conn.execution_options(readonly=True)
            self.conn = conn
            self._tx = conn.begin()
        except BaseException:
            self._leave_queue()
            raise
        self.ledger = SqlLedger(conn, self.clock)
        return self

    def _leave_queue(self) -> None:
        if self._queue is not None:
            queue, self._queue = self._queue, None
            queue.__exit__(None, None, None)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tx is not None
        try:
            if exc_type is None and self._tx.is_active:
                self._tx.commit()
            elif self._tx.is_active:
                self._tx.rollback()
        finally:
            try:
                self.conn.close()
            finally:
                self._tx = None
                self._leave_queue()
