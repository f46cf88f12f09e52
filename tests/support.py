"""Helpers shared by the tests: real components that must be present under CI."""

from __future__ import annotations

import fcntl
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get(
    "CALLCREDIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def require(available: bool, reason: str) -> None:
    """Skip when a real component is missing on a laptop; fail under CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


PG_LOCK = Path(tempfile.gettempdir()) / "callcredit-tests-postgres.lock"


@contextmanager
def postgres_lock(*, exclusive: bool = False) -> Iterator[None]:
    """Tests that use PostgreSQL hold this lock shared; a test that restarts
    the server holds it exclusive, so neither disturbs the other, across
    pytest processes (xdist workers, or several runs on one machine)."""
    fd = os.open(PG_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def postgres_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(_libpq(PG_ADMIN_URL), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


_TEMPLATE: dict[str, str] = {}


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database (copied from a template made once
    per test session), dropped afterwards."""
    import psycopg

    from callcredit.adapters import schema
    from callcredit.adapters.db import make_engine

    admin = _libpq(PG_ADMIN_URL)
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    if "name" not in _TEMPLATE:
        name = f"cc_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        engine = make_engine(f"{base}/{name}")
        schema.upgrade(engine)
        _load_shipped_data(engine)
        engine.dispose()
        _TEMPLATE["name"] = name
    name = f"cc_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATE["name"]}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_template() -> None:
    import psycopg

    if "name" in _TEMPLATE:
        with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE.pop("name")}" WITH (FORCE)')


def _load_shipped_data(engine: object) -> None:
    """Run what `callcredit init` runs after the schema upgrade."""
    from callcredit.bootstrap import bootstrap
    from callcredit.config import Settings
    from callcredit.entrypoints.cli.commands import INIT_HOOKS

    app = bootstrap(Settings(), engine=engine)  # type: ignore[arg-type]
    for hook in INIT_HOOKS:
        hook(app)


def new_sqlite_database(folder: str) -> str:
    from callcredit.adapters import schema
    from callcredit.adapters.db import make_engine

    url = f"sqlite:///{folder}/callcredit.db"
    engine = make_engine(url)
    schema.upgrade(engine)
    _load_shipped_data(engine)
    engine.dispose()
    return url
