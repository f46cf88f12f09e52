"""Fixtures: a fresh, migrated database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from tests import support


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_template() -> Iterator[None]:
    yield
    support.drop_template()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """The URL of a fresh, migrated database of each kind."""
    if request.param == "sqlite":
        yield support.new_sqlite_database(str(tmp_path))
        return
    support.require(support.postgres_available(), "PostgreSQL is not reachable")
    with support.postgres_lock(), support.fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    """A fresh, migrated SQLite database only."""
    return support.new_sqlite_database(str(tmp_path))


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    """The application wired to a fresh database."""
    built = bootstrap(Settings(database_url=db_url))
    yield built
    built.close()
