"""Many rows into one table in one driver call, inside the unit of work's
transaction: the bulk writes of a CDR import.

SQLAlchemy's executemany converts every value of every row through its
execution machinery, which costs more per row than SQLite takes to insert
it; PostgreSQL takes a row from ``COPY`` in half the time it takes an
INSERT of one row (psycopg's executemany). :class:`BulkInsert` therefore
converts each value as SQLAlchemy would for its column (the type's bind
processor, looked up once per dialect: JSON text, SQLite timestamps and
booleans …), converting a value that repeats the row before's once (a
batch's timestamp), and hands the rows to the driver: ``executemany`` of
an INSERT compiled once on SQLite, ``COPY … FROM STDIN`` on PostgreSQL.
Driver errors are raised as SQLAlchemy's exceptions (``IntegrityError`` …)
and the statements are reported to :data:`prepared.statement_listeners`,
as :mod:`callcredit.adapters.prepared` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, exc, insert
from sqlalchemy.engine import Dialect

from callcredit.adapters import prepared


@dataclass(frozen=True, slots=True)
class _Plan:
    """The statement for one dialect and how to convert the values."""

    sql: str
    copy: bool
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]


class BulkInsert:
    """An INSERT of many rows of ``table`` into ``columns``, listed in the
    table's order (no Python-side column defaults are applied; callcredit's
    tables have none)."""

    __slots__ = ("_plans", "_values", "columns", "table")

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._values = itemgetter(*self.columns)
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        names = ", ".join(dialect.identifier_preparer.quote(c) for c in self.columns)
        copy = dialect.name == "postgresql"
        if copy:
            table = dialect.identifier_preparer.format_table(self.table)
            sql = f"COPY {table} ({names}) FROM STDIN"
        else:
            compiled = insert(self.table).compile(dialect=dialect, column_keys=list(self.columns))
            if compiled.positiontup != list(self.columns):
                raise ValueError(f"{self.table.name}: list the columns in the table's order")
            sql = compiled.string
        converters = []
        for n, name in enumerate(self.columns):
            process = self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                converters.append((n, process))
        plan = self._plans[dialect.name] = _Plan(sql, copy, tuple(converters))
        return plan

    def run_mappings(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows``, mappings with at least ``columns``."""
        values = self._values
        self.run(conn, [list(values(row)) for row in rows])

    def run(self, conn: Connection, rows: Sequence[list[Any]]) -> None:
        """Insert ``rows``, lists of values in ``columns`` order (converted
        in place); nothing when there are none."""
        if not rows:
            return
        dialect = conn.dialect
        plan = self._plan(dialect)
        last: list[Any] = [_NOTHING] * len(self.columns)
        made: list[Any] = [None] * len(self.columns)
        for n, process in plan.converters:
            for row in rows:
                value = row[n]
                if value is not last[n]:
                    last[n], made[n] = value, process(value)
                row[n] = made[n]
        for listener in prepared.statement_listeners:
            listener(plan.sql)
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            if plan.copy:
                with cursor.copy(plan.sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(plan.sql, rows)
        except dialect.loaded_dbapi.Error as err:
            raise exc.DBAPIError.instance(
                plan.sql, rows, err, dialect.loaded_dbapi.Error, dialect=dialect, ismulti=True
            ) from err
        finally:
            cursor.close()


_NOTHING = object()  # no value converted yet
