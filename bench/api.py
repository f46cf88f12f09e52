"""Paid-call cycles (authorize, then end) over HTTP against a real
``callcredit serve --workers N``, driven by ``wrk`` with ``cycle.lua``.

wrk is a C load generator: one event loop per thread, a few megabytes and
a small fraction of a core even at thousands of requests per second, so it
leaves the two cores to the server. The Lua script gives every cycle a
unique call id and only ends a call after its authorize answer arrived.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from bench.fixtures import Customers
from bench.server import RssSampler, Server, serve

SCRIPT = Path(__file__).with_name("cycle.lua")
MARK = "BENCH-JSON "


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(server: Server, who: Customers, connections: int, seconds: float) -> dict[str, Any]:
    """One closed-loop wrk run with ``connections`` connections."""
    threads = max(1, min(2, connections))
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "10s", "-s", str(SCRIPT), server.url,
        "--", who.token, str(who.accounts), uuid.uuid4().hex[:8],
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith(MARK)), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(line[len(MARK) :])
    duration = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "seconds": round(duration, 2),
        "cycles_per_s": round(raw["ended"] / duration, 1),
        "requests_per_s": round(raw["requests"] / duration, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["latency_max_us"] / 1000,
        "authorized": raw["authorized"],
        "denied": raw["denied"],
        "ended": raw["ended"],
        "errors": raw["failed"] + raw["socket_errors"],
    }


def measure(
    url: str,
    who: Customers,
    *,
    workers: int,
    levels: list[int],
    seconds: float,
    warmup: float,
    repeat: int = 1,
    program: str = "serve",
) -> dict[str, Any]:
    """Cycles per second and latency at each concurrency level (the median
    of ``repeat`` runs, with every run's figure), with the peak resident
    memory of the server's process tree."""
    results: list[dict[str, Any]] = []
    with serve(url, workers, program) as server:
        idle_rss = server.tree_rss()
        if warmup > 0:
            run_wrk(server, who, max(levels), warmup)
        for connections in levels:
            runs = []
            with RssSampler(server) as rss:
                for _ in range(repeat):
                    cpu = server.tree_cpu()
                    run = run_wrk(server, who, connections, seconds)
                    used = server.tree_cpu() - cpu
                    run["server_cpu_ms_per_cycle"] = round(1000 * used / max(1, run["ended"]), 2)
                    runs.append(run)
            runs.sort(key=lambda r: float(r["cycles_per_s"]))
            result = runs[len(runs) // 2]
            result["cycles_per_s_runs"] = [r["cycles_per_s"] for r in runs]
            result["p99_ms_runs"] = sorted(r["p99_ms"] for r in runs)
            result["server_cpu_ms_per_cycle_runs"] = sorted(
                r["server_cpu_ms_per_cycle"] for r in runs
            )
            result["peak_rss_mib"] = round(rss.peak / 2**20, 1)
            results.append(result)
    return {
        "server": program,
        "workers": workers,
        "idle_rss_mib": round(idle_rss / 2**20, 1),
        "levels": results,
    }
