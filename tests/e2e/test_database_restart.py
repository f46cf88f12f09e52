"""Database faults under load against a real ``callcredit serve``.

- PostgreSQL is restarted while paid calls stream in: while it is down the
  server answers 503 ``unavailable`` — never a 500, never a wrong decision —
  and it recovers by itself once the database is back. This test holds the
  PostgreSQL test lock exclusively (every other PostgreSQL test holds it
  shared), so it never pulls the database from under another test, and it
  always leaves the server running.
- A SQLite file is write-locked by another program for a few seconds while
  requests come in: they wait and succeed; ``database is locked`` never
  reaches a user.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from callcredit.bootstrap import bootstrap
from callcredit.config import Settings
from tests import factories as f
from tests import support
from tests.e2e.crashing import ensure_postgres_running, pg_ctl, postgres_cluster, start_server
from tests.e2e.server import cli

UK_MOBILE = "+44 7400 123456"  # 0.15 a started minute
ENV = {
    "CALLCREDIT_FRAUD_CONCURRENT_CALLS": "1000",
    "CALLCREDIT_FRAUD_SPEND_PER_HOUR": "100000",
    "CALLCREDIT_LOG_LEVEL": "warning",
}


def body(call_id: str) -> dict[str, Any]:
    return {"call_id": call_id, "account": "atelier", "extension": "104",
            "destination": UK_MOBILE}  # fmt: skip


class Stream:
    """Paid calls (authorize, then end after 61 s of conversation) sent one
    after another until stopped, remembering every answer."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.statuses: Counter[int] = Counter()
        self.wrong: list[str] = []
        self.unanswered_authorize: list[str] = []
        self.unanswered_end: list[str] = []
        self.ended: dict[str, str] = {}
        self.stop = threading.Event()
        self.down_seen = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            call_id = f"call-{n}"
            answer = self._post("/pbx/v1/authorize", body(call_id))
            if answer is None or answer.status_code != 200:
                self.unanswered_authorize.append(call_id)
                continue
            decision = answer.json()
            if (decision["allow"], decision["reason"]) != (True, "prepaid"):
                self.wrong.append(f"{call_id}: {decision}")
                continue
            ended = self._post(f"/pbx/v1/calls/{call_id}/end", {"answered_seconds": 61})
            if ended is None or ended.status_code != 200:
                self.unanswered_end.append(call_id)
                continue
            self.ended[call_id] = ended.json()["charged"]

    def _post(self, path: str, payload: dict[str, Any]) -> httpx.Response | None:
        try:
            response = self.client.post(path, json=payload)
        except httpx.HTTPError as exc:
            self.wrong.append(f"{path}: no answer ({exc!r})")
            return None
        self.statuses[response.status_code] += 1
        if response.status_code == 503:
            self.down_seen.set()
            if response.json()["error"]["code"] != "unavailable":
                self.wrong.append(f"{path}: 503 {response.text}")
            time.sleep(0.05)
        elif response.status_code != 200:
            self.wrong.append(f"{path}: {response.status_code} {response.text}")
        return response


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restart_under_load_answers_503_then_recovers(tmp_path: Path) -> None:
    """While PostgreSQL restarts the server answers 503 (no 500, no wrong
    decision), then recovers by itself; retried requests settle once and
    verify passes."""
    support.require(support.postgres_available(), "PostgreSQL is not reachable")
    support.require(postgres_cluster() is not None, "pg_ctlcluster is not available")
    with support.postgres_lock(exclusive=True), support.fresh_postgres_database() as url:
        try:
            _restart_under_load(url, tmp_path)
        finally:
            ensure_postgres_running()


def _restart_under_load(url: str, folder: Path) -> None:
    app = bootstrap(Settings(database_url=url))
    f.office(app, funds=100_000)
    token = f.pbx_token(app)
    app.close()
    server = start_server(url, folder, workers=2, env=ENV)
    try:
        stream = Stream(server.url, token)
        thread = threading.Thread(target=stream.run)
        thread.start()
        try:
            _wait(lambda: len(stream.ended) >= 5, "calls before the restart")
            pg_ctl("stop")
            _wait(stream.down_seen.is_set, "a 503 while the database is down")
            time.sleep(1.0)  # requests keep coming while it is down
            pg_ctl("start")
            ensure_postgres_running()
            before = len(stream.ended)
            _wait(lambda: len(stream.ended) >= before + 5, "calls after the restart", 60)
        finally:
            stream.stop.set()
            thread.join(timeout=60)
        assert stream.wrong == []
        assert set(stream.statuses) <= {200, 503}, stream.statuses
        assert stream.statuses[503] >= 1
        # Retry what was not answered: each settles exactly once.
        for call_id in stream.unanswered_authorize:
            retried = stream.client.post("/pbx/v1/authorize", json=body(call_id))
            assert retried.status_code == 200
            assert retried.json()["allow"] is True
            stream.unanswered_end.append(call_id)
        for call_id in stream.unanswered_end:
            ended = stream.client.post(f"/pbx/v1/calls/{call_id}/end",
                                       json={"answered_seconds": 61})  # fmt: skip
            assert ended.status_code == 200
            stream.ended[call_id] = ended.json()["charged"]
        stream.client.close()
    finally:
        server.stop()
    assert set(stream.ended.values()) == {"0.30"}
    balance = cli(url, "balance", "atelier", "--json").stdout
    assert '"reserved": "0.00"' in balance
    assert f'"balance": "{(100_000 - 30 * len(stream.ended)) / 100:.2f}"' in balance
    assert cli(url, "verify").returncode == 0
    print(
        f"\npostgres restart: {sum(stream.statuses.values())} requests, "
        f"{stream.statuses[503]} answered 503 while down, {len(stream.ended)} calls settled"
    )


def _wait(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_sqlite_write_lock_held_by_another_program_makes_requests_wait_not_fail(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Requests arriving while another program holds the SQLite write lock
    for 3 s wait for it and then succeed: no 500, no ``database is locked``."""
    app = bootstrap(Settings(database_url=sqlite_url))
    f.office(app, funds=10_000)
    token = f.pbx_token(app)
    app.close()
    server = start_server(sqlite_url, tmp_path, workers=2, env=ENV)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            assert client.post("/pbx/v1/authorize", json=body("warm-up")).status_code == 200
            holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()

            def call(n: int) -> tuple[int, int, float]:
                answer = client.post("/pbx/v1/authorize", json=body(f"c{n}"))
                ended = client.post(f"/pbx/v1/calls/c{n}/end", json={"answered_seconds": 61})
                return answer.status_code, ended.status_code, time.monotonic() - started

            with ThreadPoolExecutor(max_workers=10) as pool:
                futures = [pool.submit(call, n) for n in range(20)]
                time.sleep(3)
                holder.execute("ROLLBACK")
                holder.close()
                results = [future.result(timeout=60) for future in futures]
    finally:
        server.stop()
    assert {(a, e) for a, e, _ in results} == {(200, 200)}
    assert max(took for *_, took in results) >= 3  # they really waited for the lock
    assert "database is locked" not in server.log.read_text()
    assert cli(sqlite_url, "verify").returncode == 0
