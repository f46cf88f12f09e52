"""``callcredit serve`` and the standalone background commands."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Annotated

import typer
import uvicorn

from callcredit.entrypoints import background

FACTORY = "callcredit.entrypoints.api.app:create_app"


def run_server(host: str, port: int, workers: int, database_url: str | None) -> None:
    """Serve the API and pages with uvicorn (``workers`` processes; uvloop
    and httptools, which uvicorn picks when they are installed)."""
    if database_url:
        os.environ["CALLCREDIT_DATABASE_URL"] = database_url
    log_level = os.environ.get("CALLCREDIT_LOG_LEVEL", "info")
    if workers > 1:
        # The supervisor only starts and watches the workers: replace this
        # process by plain uvicorn so that it does not keep the command
        # line's modules (Typer, Rich, Alembic …) in memory all along.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(  # noqa: S606 - a fixed argument list, no shell
            sys.executable,
            [
                sys.executable, "-m", "uvicorn", FACTORY, "--factory",
                "--host", host, "--port", str(port), "--workers", str(workers),
                "--log-level", log_level, "--no-access-log", "--proxy-headers",
                "--no-server-header",
            ],
        )  # fmt: skip
    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


def register(app: typer.Typer) -> None:
    from callcredit.entrypoints.cli.main import _state, console, get_app

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    ) -> None:
        """Serve the web pages, the admin REST API and the PBX API."""
        url = _state.get("database_url")
        run_server(host, port, workers, url if isinstance(url, str) else None)

    @app.command()
    def sweep() -> None:
        """Release reservations of calls nobody ended (for cron)."""
        from callcredit.services.charging import sweep as sweep_once

        total = 0
        while released := sweep_once(get_app()):
            total += released
        console.print(f"released {total} expired reservation(s)")

    @app.command()
    def worker() -> None:
        """Run the background loops (sweeper, top-off, outbox) until stopped."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        threads = background.start_all(get_app(), stop)
        console.print(f"running: {', '.join(t.name for t in threads)}; Ctrl-C stops")
        try:
            while not stop.wait(1):
                pass
        except KeyboardInterrupt:
            stop.set()
        for thread in threads:
            thread.join(timeout=10)
