"""The database engines' own limits, measured in the same run:
``pgbench -N`` against the same PostgreSQL server, and a raw ``sqlite3``
loop of transactions with as many statements as one callcredit cycle."""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.fixtures import PG_URL, pg_database

ROWS = 100_000


def pgbench_available() -> bool:
    return shutil.which("pgbench") is not None


def _pg_args() -> list[str]:
    parts = urlsplit(PG_URL)
    return ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U",
            parts.username or "postgres"]  # fmt: skip


def pgbench(levels: list[int], seconds: float, repeat: int = 1, scale: int = 10) -> dict[str, Any]:
    """``pgbench -N`` (no contended branch/teller updates: one UPDATE, one
    SELECT and one INSERT per transaction) at each client count, against a
    throwaway database initialised with ``pgbench -i``."""
    results = []
    with pg_database("cc_bench_pgbench") as name:
        init = ["pgbench", "-i", "-q", "-s", str(scale), *_pg_args(), name]
        subprocess.run(init, check=True, capture_output=True, timeout=600)
        for clients in levels:
            runs = sorted(
                (_pgbench_once(name, clients, seconds) for _ in range(repeat)),
                key=lambda r: float(r["tps"]),
            )
            median = runs[len(runs) // 2]
            median["tps_runs"] = [r["tps"] for r in runs]
            results.append(median)
    return {"scale": scale, "levels": results}


def _pgbench_once(name: str, clients: int, seconds: float) -> dict[str, Any]:
    command = [
        "pgbench", "-N", "-n", "-c", str(clients), "-j", str(min(2, clients)),
        "-T", str(max(1, round(seconds))), *_pg_args(), name,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial", out.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", out.stdout)
    if tps is None:
        raise RuntimeError(f"pgbench printed no tps:\n{out.stdout}")
    return {
        "clients": clients,
        "tps": round(float(tps.group(1)), 1),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
    }


def sqlite_loop(mix: dict[str, int], seconds: float, repeat: int = 1) -> dict[str, Any]:
    """The median of ``repeat`` runs of :func:`sqlite_once`."""
    runs = sorted((sqlite_once(mix, seconds) for _ in range(repeat)), key=lambda r: r["tps"])
    median = runs[len(runs) // 2]
    median["tps_runs"] = [r["tps"] for r in runs]
    return median


def sqlite_once(mix: dict[str, int], seconds: float) -> dict[str, Any]:
    """Transactions of ``mix`` statements (SELECT, INSERT, UPDATE counts, as
    one callcredit cycle issues them) with Python's ``sqlite3`` on one
    connection, WAL and ``synchronous=NORMAL`` as callcredit runs SQLite:
    ``BEGIN IMMEDIATE``, primary-key SELECTs and UPDATEs on a 100,000-row
    table, INSERTs into a growing table, ``COMMIT``."""
    selects, inserts = mix.get("SELECT", 0), mix.get("INSERT", 0)
    updates = mix.get("UPDATE", 0)
    folder = tempfile.mkdtemp(prefix="cc_bench_sqlite_")
    try:
        db = sqlite3.connect(str(Path(folder) / "raw.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE balances (id TEXT PRIMARY KEY, posted INTEGER NOT NULL,"
            " pending INTEGER NOT NULL, note TEXT)"
        )
        db.execute(
            "CREATE TABLE entries (account TEXT NOT NULL, id TEXT NOT NULL, amount INTEGER,"
            " body TEXT, created TEXT, PRIMARY KEY (account, id))"
        )
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO balances VALUES (?, 0, 0, 'x')", ((f"a{n:06d}",) for n in range(ROWS))
        )
        db.execute("COMMIT")
        rng = random.Random(1)
        n = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            key = f"a{rng.randrange(ROWS):06d}"
            db.execute("BEGIN IMMEDIATE")
            for _ in range(selects):
                db.execute(
                    "SELECT posted, pending, note FROM balances WHERE id = ?", (key,)
                ).fetchone()
            for i in range(inserts):
                db.execute(
                    "INSERT INTO entries VALUES (?, ?, ?, ?, ?)",
                    (key, f"{n}-{i}", 15, '{"call_id": "x", "charged": "0.30"}', "2025-01-01"),
                )
            for _ in range(updates):
                db.execute("UPDATE balances SET posted = posted + 1 WHERE id = ?", (key,))
            db.execute("COMMIT")
            n += 1
        elapsed = time.perf_counter() - started
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "statements_per_tx": selects + inserts + updates,
        "mix": {"SELECT": selects, "INSERT": inserts, "UPDATE": updates},
        "tps": round(n / elapsed, 1),
    }
