"""Background loops that run inside ``callcredit serve`` (and standalone as
``callcredit sweep`` / ``callcredit worker``): each is a function that does
one round of work and returns how many items it handled.

Loops are safe to run in several processes at once: every round claims its
rows under the same locks the API uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from callcredit.bootstrap import App

log = logging.getLogger("callcredit.background")


@dataclass(frozen=True)
class Loop:
    """A named round of background work and how often to run it."""

    name: str
    round: Callable[[App], int]
    interval: Callable[[App], float]


LOOPS: list[Loop] = []


def register(loop: Loop) -> Loop:
    LOOPS.append(loop)
    return loop


def run_loop(app: App, loop: Loop, stop: threading.Event) -> None:
    """Run ``loop`` until ``stop`` is set; errors are logged and retried."""
    while not stop.is_set():
        try:
            handled = loop.round(app)
        except Exception:
            log.exception("background loop %s failed; retrying", loop.name)
            handled = 0
        if not handled:
            stop.wait(loop.interval(app))


def start_all(app: App, stop: threading.Event) -> list[threading.Thread]:
    """Start every registered loop in a daemon thread."""
    _import_loops()
    threads = []
    for loop in LOOPS:
        thread = threading.Thread(
            target=run_loop, args=(app, loop, stop), name=f"callcredit-{loop.name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads


def run_until_idle(app: App, max_passes: int = 100) -> dict[str, int]:
    """Run every loop's round in turn until a whole pass finds nothing to do
    (tests, or a one-shot run from cron); returns how many items each handled."""
    _import_loops()
    totals = {loop.name: 0 for loop in LOOPS}
    for _ in range(max_passes):
        handled = 0
        for loop in LOOPS:
            done = loop.round(app)
            totals[loop.name] += done
            handled += done
        if not handled:
            break
    return totals


def _import_loops() -> None:
    """Import the service modules that register loops."""
    for name in ("charging", "topoff", "outbox"):
        try:
            __import__(f"callcredit.services.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"callcredit.services.{name}":
                raise
