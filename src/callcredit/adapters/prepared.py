"""Statements compiled once and run straight on the database driver.

``Connection.execute`` costs about 0.1 ms per statement on top of the
driver (execution context, cache key, parameter and result processing),
more than SQLite itself needs to run the statement. The statements of the
charging hot path are therefore :class:`Prepared`: the SQLAlchemy statement
is compiled once per dialect (and, for an INSERT, per set of columns), the
type processors SQLAlchemy would apply are looked up once, and each
execution is one driver call on the unit of work's connection, inside its
transaction. Rows come back as named tuples with the same attribute names
and values as SQLAlchemy's rows; driver errors are raised as SQLAlchemy's
exceptions (``IntegrityError`` …), as ``Connection.execute`` raises them.

Only statements with plain bound parameters qualify: no expanding ``IN``,
no Python-side column defaults (callcredit's tables have none).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable

# Called with each SQL string run through this module (the benchmark counts
# statements with it; SQLAlchemy's own events do not see these statements).
statement_listeners: list[Callable[[str], None]] = []


class _Plan:
    """One statement compiled for one dialect."""

    __slots__ = ("defaults", "names", "positional", "processors", "results", "row", "sql")

    def __init__(self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("expanding or literal-execute parameters cannot be prepared")
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = list(compiled.positiontup or ()) if self.positional else list(binds)
        self.names: tuple[str, ...] = tuple(names)
        defaults = compiled.params
        self.defaults: dict[str, Any] = {
            name: defaults[name] for name in names if defaults.get(name) is not None
        }
        processors: dict[str, Any] = {}
        for name in names:
            process = binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        self.processors = processors
        self.row: Any = None
        self.results: tuple[Any, ...] = ()
        if getattr(statement, "is_select", False):
            columns = list(statement.selected_columns)
            keys = [c.key or f"column_{n}" for n, c in enumerate(columns)]
            self.row = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
            self.results = tuple(
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            )

    def parameters(self, params: dict[str, Any]) -> Any:
        processors = self.processors
        values = {**self.defaults, **params} if self.defaults else params
        if self.positional:
            return tuple(
                processors[name](values[name]) if name in processors else values[name]
                for name in self.names
            )
        return {
            name: processors[name](values[name]) if name in processors else values[name]
            for name in self.names
        }

    def make_row(self, raw: Sequence[Any]) -> Any:
        return self.row._make(
            value if process is None or value is None else process(value)
            for process, value in zip(self.results, raw, strict=True)
        )


class Prepared:
    """A statement run on the driver of the connection it is given."""

    __slots__ = ("_plans", "column_keys", "statement")

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = tuple(column_keys) if column_keys is not None else None
        self._plans: dict[tuple[str, str, tuple[str, ...] | None], _Plan] = {}

    def _plan(self, dialect: Dialect, params: dict[str, Any]) -> _Plan:
        keys = self.column_keys
        if keys is None and getattr(self.statement, "is_insert", False):
            keys = tuple(params)
        cache = (dialect.name, dialect.paramstyle, keys)
        plan = self._plans.get(cache)
        if plan is None:
            plan = self._plans.setdefault(cache, _Plan(self.statement, dialect, keys))
        return plan

    def _run(self, conn: Connection, plan: _Plan, params: dict[str, Any]) -> Any:
        dialect = conn.dialect
        values = plan.parameters(params)
        for listener in statement_listeners:
            listener(plan.sql)
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            return driver.execute(plan.sql, values)
        except dialect.loaded_dbapi.Error as err:
            raise exc.DBAPIError.instance(
                plan.sql, values, err, dialect.loaded_dbapi.Error, dialect=dialect
            ) from err

    def execute(self, conn: Connection, params: dict[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it touched."""
        plan = self._plan(conn.dialect, params)
        return int(self._run(conn, plan, params).rowcount)

    def executemany(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Run an INSERT or UPDATE once per parameter set, in one driver call."""
        if not rows:
            return
        plan = self._plan(conn.dialect, rows[0])
        dialect = conn.dialect
        values = [plan.parameters(row) for row in rows]
        for listener in statement_listeners:
            listener(plan.sql)
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            cursor.executemany(plan.sql, values)
        except dialect.loaded_dbapi.Error as err:
            raise exc.DBAPIError.instance(
                plan.sql, values, err, dialect.loaded_dbapi.Error, dialect=dialect, ismulti=True
            ) from err
        finally:
            cursor.close()

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first row of a SELECT, or None."""
        plan = self._plan(conn.dialect, params)
        raw = self._run(conn, plan, params).fetchone()
        return None if raw is None else plan.make_row(raw)

    def one(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The one row of a SELECT; ``NoResultFound`` when there is none."""
        row = self.first(conn, params)
        if row is None:
            raise exc.NoResultFound("No row was found when one was required")
        return row

    def scalar(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first column of the first row of a SELECT, or None."""
        row = self.first(conn, params)
        return None if row is None else row[0]
