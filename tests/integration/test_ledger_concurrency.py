"""Many reservers at once against one balance: never an overdraft; and a
process killed mid-stream leaves a ledger that verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from callcredit.domain.errors import InsufficientFunds
from callcredit.services.accounts import open_account

ROOT = Path(__file__).resolve().parents[2]


def _setup(url: str, funds: int) -> App:
    app = bootstrap(Settings(database_url=url), pool_size=20)
    with app.uow() as uow:
        open_account(uow, "shared", name="Shared balance")
        if funds:
            uow.ledger.transfer(
                "shared",
                key="seed",
                debit=L.CARD,
                credit=L.PREPAID,
                amount=funds,
                kind=L.KIND_FUNDS_ADDED,
            )
    return app


def test_threads_never_overdraw(db_url: str) -> None:
    """200 concurrent 10-unit reservations on a 555-unit balance: exactly 55 win."""
    app = _setup(db_url, 555)
    barrier = threading.Barrier(20)

    def reserve(i: int) -> bool:
        if i < 20:
            barrier.wait()
        try:
            with app.uow() as uow:
                uow.ledger.reserve(
                    "shared",
                    key=f"t{i}",
                    amount=10,
                    expires_at=app.clock.now() + timedelta(minutes=5),
                )
            return True
        except InsufficientFunds:
            return False

    with ThreadPoolExecutor(max_workers=20) as pool:
        wins = sum(pool.map(reserve, range(200)))
    with app.uow(readonly=True) as uow:
        bal = uow.ledger.balance("shared")
        problems = uow.ledger.verify()
    app.close()
    assert wins == 55
    assert (bal.reserved, bal.available) == (550, 5)
    assert problems == []


def _worker(url: str, mode: str, count: int, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.ledger_worker",
            url,
            "shared",
            mode,
            str(count),
            tag,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_processes_never_overdraw(db_url: str) -> None:
    """Six processes reserve-and-settle against one balance; spending stops at zero."""
    app = _setup(db_url, 600)
    procs = [_worker(db_url, "reserve", 40, f"p{n}") for n in range(6)]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    acks = sum(line.startswith("ack") for out in outputs for line in out.splitlines())
    with app.uow(readonly=True) as uow:
        bal = uow.ledger.balance("shared")
        problems = uow.ledger.verify()
    app.close()
    # Each acknowledged cycle holds 7 then posts 5; a hold needs 7 available.
    assert bal.posted == 600 - 5 * acks
    assert bal.available >= 0
    assert bal.reserved == 0
    assert bal.available < 7
    assert problems == []


@pytest.mark.slow
def test_sigkill_mid_stream_keeps_every_acknowledged_operation(db_url: str) -> None:
    """A writer killed with SIGKILL loses nothing it acknowledged and leaves
    nothing half-applied."""
    app = _setup(db_url, 0)
    proc = _worker(db_url, "credit", 100_000, "crash")
    assert proc.stdout is not None
    acked: list[str] = []
    deadline = time.monotonic() + 60
    while len(acked) < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ack "):
            acked.append(line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(acked) >= 150
    with app.uow(readonly=True) as uow:
        keys = {
            row[0]
            for row in uow.conn.exec_driver_sql(
                "SELECT key FROM idempotency_keys WHERE account_id = 'shared'"
            )
        }
        bal = uow.ledger.balance("shared")
        problems = uow.ledger.verify()
    app.close()
    assert set(acked) <= keys
    assert bal.posted == 3 * len(keys)
    assert problems == []
