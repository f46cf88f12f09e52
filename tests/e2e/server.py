"""Start a real ``callcredit serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def cli(database_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real ``callcredit`` command against ``database_url``."""
    env = {**os.environ, "CALLCREDIT_DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "-m", "callcredit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"callcredit {' '.join(args)} failed: {result.stderr}")
    return result


@contextmanager
def serve(
    database_url: str, folder: Path, *, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``callcredit serve`` on 127.0.0.1 and a free port, stopped afterwards."""
    port = free_port()
    log = folder / f"serve-{port}.log"
    full_env = {**os.environ, "CALLCREDIT_DATABASE_URL": database_url, **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "callcredit",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
