"""Real processes that the reliability tests kill: ``callcredit serve`` and
``callcredit worker`` in their own process group (so ``SIGKILL`` reaches
every uvicorn worker at once), and the PostgreSQL server they restart."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.server import free_port


@dataclass
class Process:
    """A callcredit process leading its own process group."""

    popen: subprocess.Popen[bytes]
    log: Path
    url: str = ""

    def kill(self) -> None:
        """SIGKILL the whole process group, as a power cut would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM the group and wait; SIGKILL if it lingers."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()


def _spawn(database_url: str, log: Path, args: list[str], env: dict[str, str]) -> Process:
    full_env = {**os.environ, "CALLCREDIT_DATABASE_URL": database_url, **env}
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "callcredit", *args],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(popen, log)


def start_server(
    database_url: str, folder: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Process:
    """``callcredit serve`` on a free port, once its health check answers."""
    port = free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process = _spawn(database_url, folder / "serve.log", args, env or {})
    process.url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.popen.poll() is not None:
            raise AssertionError(f"serve exited early:\n{process.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{process.url}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"serve did not start:\n{process.log.read_text()[-3000:]}")
        time.sleep(0.1)


def start_worker(database_url: str, folder: Path, env: dict[str, str] | None = None) -> Process:
    """``callcredit worker`` (sweeper, top-off, purchases, outbox loops)."""
    return _spawn(database_url, folder / "worker.log", ["worker"], env or {})


# -- PostgreSQL ---------------------------------------------------------------


def postgres_cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster that pg_ctlcluster controls."""
    folder = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not folder.is_dir():
        return None
    versions = sorted(p.name for p in folder.iterdir() if (p / "main").is_dir())
    return (versions[-1], "main") if versions else None


def pg_ctl(action: str) -> None:
    cluster = postgres_cluster()
    assert cluster is not None
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def postgres_ready() -> bool:
    result = subprocess.run(
        ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"], check=False, timeout=30
    )
    return result.returncode == 0


def ensure_postgres_running(timeout: float = 60) -> None:
    """Start the cluster if it is down and wait until it accepts connections."""
    deadline = time.monotonic() + timeout
    if not postgres_ready():
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", *(postgres_cluster() or ("", "")),
             "start"],
            check=False, capture_output=True, timeout=120,
        )  # fmt: skip
    while not postgres_ready():
        if time.monotonic() > deadline:
            raise AssertionError("PostgreSQL did not come back")
        time.sleep(0.2)
