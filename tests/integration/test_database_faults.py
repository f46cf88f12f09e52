"""Database faults seen from the API, in process: a SQLite file kept locked
by another program past the busy timeout, and a PostgreSQL connection that
dies under a request. The answer is 503 ``unavailable`` (never a 500, never
a decision), nothing is half-applied, and the retry succeeds."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from callcredit.adapters.db import make_engine
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.entrypoints.api.app import create_app
from tests import factories as f
from tests import support

UK_MOBILE = "+44 7400 123456"
BUSY_MS = 300


def authorize_body(call_id: str) -> dict[str, Any]:
    return {"call_id": call_id, "account": "atelier", "extension": "104",
            "destination": UK_MOBILE}  # fmt: skip


@pytest.fixture
def impatient(sqlite_url: str) -> Iterator[App]:
    """The application over a SQLite file whose busy timeout is short."""
    engine = make_engine(sqlite_url)

    @event.listens_for(engine, "connect")
    def _short_busy_timeout(dbapi_connection: sqlite3.Connection, record: object) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_MS}")

    app = bootstrap(Settings(database_url=sqlite_url), engine=engine)
    f.office(app, funds=1000)
    yield app
    app.close()


def test_sqlite_locked_past_the_busy_timeout_answers_503_and_the_retry_succeeds(
    impatient: App, sqlite_url: str
) -> None:
    """While another program holds the write lock longer than the busy
    timeout, money-moving requests get 503 unavailable (reads still work);
    once it lets go, the same requests succeed and were applied once."""
    token = f.pbx_token(impatient)
    api = create_app(impatient, run_background=False, routers=("callcredit.entrypoints.api.pbx",))
    holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    with TestClient(api) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        assert client.post("/pbx/v1/authorize", json=authorize_body("c0")).status_code == 200
        holder.execute("BEGIN IMMEDIATE")
        try:
            busy = client.post("/pbx/v1/authorize", json=authorize_body("c1"))
            assert busy.status_code == 503, busy.text
            assert busy.json()["error"]["code"] == "unavailable"
            ended = client.post("/pbx/v1/calls/c0/end", json={"answered_seconds": 60})
            assert ended.status_code == 503
            assert client.get("/healthz").status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert f.available(impatient) == 1000 - 75  # only c0's hold
        retried = client.post("/pbx/v1/authorize", json=authorize_body("c1"))
        assert retried.status_code == 200
        assert retried.json()["allow"] is True
        ended = client.post("/pbx/v1/calls/c0/end", json={"answered_seconds": 60})
        assert ended.json()["charged"] == "0.15"
    assert f.available(impatient) == 1000 - 15 - 75
    assert f.verify(impatient) == []


@pytest.mark.postgres
def test_postgres_connection_killed_under_a_request_answers_503() -> None:
    """A PostgreSQL backend terminated while a request waits on it gives
    503 unavailable; the retry on a fresh connection succeeds once."""
    support.require(support.postgres_available(), "PostgreSQL is not reachable")
    with support.postgres_lock(), support.fresh_postgres_database() as url:
        _killed_connection(url)


def _killed_connection(url: str) -> None:
    app = bootstrap(Settings(database_url=url))
    f.office(app, funds=1000)
    token = f.pbx_token(app)
    api = create_app(app, run_background=False, routers=("callcredit.entrypoints.api.pbx",))
    try:
        with TestClient(api) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            # Hold the account's row lock so the request's backend waits,
            # then terminate that backend from outside.
            with app.engine.connect() as blocker:
                blocker.begin()
                blocker.execute(text("SELECT 1 FROM ledger_balances FOR UPDATE"))
                answers: list[Any] = []
                thread = threading.Thread(
                    target=lambda: answers.append(
                        client.post("/pbx/v1/authorize", json=authorize_body("c1"))
                    )
                )
                thread.start()
                _terminate_waiting_backends(app)
                thread.join(timeout=30)
                blocker.rollback()
            assert answers, "the request never finished"
            assert answers[0].status_code == 503, answers[0].text
            assert answers[0].json()["error"]["code"] == "unavailable"
            assert f.available(app) == 1000
            retried = client.post("/pbx/v1/authorize", json=authorize_body("c1"))
            assert retried.status_code == 200
            assert retried.json()["allow"] is True
        assert f.available(app) == 925
        assert f.verify(app) == []
    finally:
        app.close()


def _terminate_waiting_backends(app: App) -> None:
    """Terminate the backends of this database waiting on a lock."""
    database = app.engine.url.database
    deadline = time.monotonic() + 20
    with app.engine.connect() as admin:
        while time.monotonic() < deadline:
            killed = admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                ),
                {"db": database},
            ).all()
            admin.commit()
            if killed:
                return
            time.sleep(0.05)
    raise AssertionError("no request came to wait on the lock")
