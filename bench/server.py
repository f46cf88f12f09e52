"""A real ``callcredit serve`` process for the HTTP benchmarks, and the
resident memory of its process tree."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import httpx
import psutil

from bench.fixtures import SERVER_ENV


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def tree_cpu(self) -> float:
        """CPU seconds (user + system) used so far by the server's processes."""
        total = 0.0
        for proc in self._tree():
            with suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def tree_rss(self) -> int:
        """Resident bytes of the server and all its children."""
        total = 0
        for proc in self._tree():
            with suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total


def command_line(program: str, port: int, workers: int) -> list[str]:
    """How to start ``program``: ``serve`` (``callcredit serve``, uvicorn) or
    ``granian`` (the same ASGI application under granian, for comparison)."""
    if program == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--no-ws", "--log-level", "warning",
            "callcredit.entrypoints.api.app:create_app",
        ]  # fmt: skip
    command = [sys.executable, "-m", "callcredit", "serve", "--host", "127.0.0.1"]
    return [*command, "--port", str(port), "--workers", str(workers)]


@contextmanager
def serve(
    url: str, workers: int, program: str = "serve", extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``callcredit serve --workers N`` on a free port, stopped afterwards."""
    port = free_port()
    env = {
        **os.environ,
        **SERVER_ENV,
        "CALLCREDIT_DATABASE_URL": url,
        "CALLCREDIT_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    command = command_line(program, port, workers)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"serve exited early:\n{log.read().decode()}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("serve did not start within 60 s")
                time.sleep(0.2)
            # All workers answer once each has served a health check.
            for _ in range(workers * 4):
                httpx.get(f"{base}/healthz", timeout=10)
            yield Server(base, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class RssSampler:
    """Peak resident memory of a server's process tree, sampled every
    ``interval`` seconds in a background thread."""

    server: Server
    interval: float = 0.25
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.server.tree_rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.peak = max(self.peak, self.server.tree_rss())
