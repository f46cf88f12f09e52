"""The charging service called directly (no HTTP): what a paid-call cycle
costs in Python and the database alone, and how many SQL statements it
issues."""

from __future__ import annotations

import time
from typing import Any

from bench.fixtures import Customers, StatementCounter, account_name, make_app
from callcredit.services import charging


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def cycle(app: Any, who: Customers, n: int, tag: str) -> None:
    """One paid call: authorize, then end after 65 answered seconds."""
    call_id = f"{tag}-{n}"
    answer = charging.authorize(
        app,
        charging.AuthorizeCall(
            call_id,
            account_name(n % who.accounts),
            f"10{1 + n % 5}",
            f"+44 7400 {(n * 31) % 1_000_000:06d}",
        ),
    )
    if not answer["allow"]:
        raise RuntimeError(f"benchmark call refused: {answer['reason']}")
    charging.end(app, charging.EndCall(call_id, 65))


def count_statements(url: str, who: Customers) -> dict[str, Any]:
    """SQL statements of one authorize + end, by kind."""
    app = make_app(url)
    try:
        cycle(app, who, 0, "warm")
        counter = StatementCounter(app.engine)
        counter.active = True
        cycle(app, who, 1, "count")
        counter.active = False
        counter.close()
        return {"statements": counter.statements, "by_kind": dict(sorted(counter.counts.items()))}
    finally:
        app.close()


def measure(url: str, who: Customers, seconds: float, repeat: int = 1) -> dict[str, Any]:
    """The median of ``repeat`` runs of :func:`measure_once`."""
    runs = sorted(
        (measure_once(url, who, seconds, f"run{n}") for n in range(repeat)),
        key=lambda r: float(r["cycles_per_s"]),
    )
    median = runs[len(runs) // 2]
    median["cycles_per_s_runs"] = [r["cycles_per_s"] for r in runs]
    median["cpu_ms_per_cycle_runs"] = sorted(r["cpu_ms_per_cycle"] for r in runs)
    return median


def measure_once(url: str, who: Customers, seconds: float, tag: str) -> dict[str, Any]:
    """Cycles per second on one thread, and per-cycle latency."""
    app = make_app(url)
    try:
        for n in range(20):
            cycle(app, who, n, f"{tag}-warmup")
        latencies: list[float] = []
        cpu = time.process_time()
        started = time.perf_counter()
        deadline = started + seconds
        n = 0
        while True:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            cycle(app, who, n, tag)
            latencies.append(time.perf_counter() - t0)
            n += 1
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        app.close()
    return {
        "cycles": n,
        "cycles_per_s": round(n / elapsed, 1),
        "cpu_ms_per_cycle": round(1000 * cpu / max(1, n), 3),
        "cycle_p50_ms": round(_percentile(latencies, 50) * 1000, 3),
        "cycle_p99_ms": round(_percentile(latencies, 99) * 1000, 3),
    }
