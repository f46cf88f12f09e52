"""``python -m bench``: how fast callcredit charges calls, next to the
database engine's own limit measured in the same run.

Parts: ``api`` (HTTP, wrk), ``engine`` (pgbench -N, raw sqlite3),
``inprocess`` (charging service called directly), ``rating``, ``cdr``.
Writes ``bench/results/latest.json`` and ``latest.md`` and prints the
Markdown report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import api, cdr, engine, fixtures, inprocess, machine, rating, report

PARTS = ("api", "engine", "inprocess", "rating", "cdr")
RESULTS = Path(__file__).with_name("results")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS))
    p.add_argument("--databases", default="sqlite,postgres", help="sqlite,postgres")
    p.add_argument("--seconds", type=float, default=10, help="length of each timed run")
    p.add_argument("--warmup", type=float, default=3, help="HTTP warm-up seconds per server")
    p.add_argument("--repeat", type=int, default=3, help="runs per level (median reported)")
    p.add_argument("--levels", default="8,32,64", help="concurrent connections / clients")
    p.add_argument("--workers", type=int, default=2, help="callcredit serve --workers")
    p.add_argument("--servers", default="serve", help="serve (uvicorn) and/or granian")
    p.add_argument("--accounts", type=int, default=50, help="customer accounts charged")
    p.add_argument("--cdr-lines", type=int, default=1_000_000)
    p.add_argument("--prefixes", type=int, default=100_000)
    p.add_argument("--lookups", type=int, default=200_000)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--smoke", action="store_true", help="a seconds-long run for CI")
    args = p.parse_args(argv)
    if args.smoke:
        args.seconds, args.warmup, args.repeat = 1, 0.5, 1
        args.levels, args.accounts = "4", 3
        args.cdr_lines, args.prefixes, args.lookups = 2_000, 5_000, 20_000
    unknown = set(_names(args.parts)) - set(PARTS)
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(_names(args.parts))
    levels = _ints(args.levels)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {
            "parts": sorted(parts),
            "seconds": args.seconds,
            "repeat": args.repeat,
            "levels": levels,
            "workers": args.workers,
            "servers": _names(args.servers),
            "accounts": args.accounts,
            "cdr_lines": args.cdr_lines,
            "smoke": args.smoke,
        },
        "machine": machine.describe(),
        "skipped": [],
        "failed": [],
    }
    log(machine.one_line(results["machine"]))
    databases = _names(args.databases)
    if "postgres" in databases and not fixtures.pg_available():
        results["skipped"].append(f"PostgreSQL not reachable at {fixtures.PG_URL}")
        databases.remove("postgres")
    if "api" in parts and not api.wrk_available():
        results["skipped"].append("api: wrk is not installed")
        parts.discard("api")
    if parts & {"api", "engine", "inprocess"}:
        for db in databases:
            _guarded(results, f"charging on {db}", _charging, args, parts, db, levels, results)
    if "rating" in parts:
        log(f"rating: {args.prefixes:,}-prefix deck, {args.lookups:,} lookups")
        _guarded(results, "rating", _rating, args, results)
    if "cdr" in parts:
        results["cdr"] = {}
        for db in databases:
            log(f"cdr: {args.cdr_lines:,} lines on {db}")
            _guarded(results, f"cdr on {db}", _cdr, args, db, results)
    results["headlines"] = report.headlines(results)
    return results


def _guarded(results: dict[str, Any], what: str, work: Any, *args: Any) -> None:
    """Run one part; a failure is recorded and the other parts still run."""
    try:
        work(*args)
    except Exception as exc:
        log(f"{what} failed: {exc!r}")
        results["failed"].append(f"{what}: {type(exc).__name__}: {str(exc)[:300]}")


def _rating(args: argparse.Namespace, results: dict[str, Any]) -> None:
    results["rating"] = rating.measure(args.prefixes, args.lookups)


def _cdr(args: argparse.Namespace, db: str, results: dict[str, Any]) -> None:
    with fixtures.database(db) as url:
        app = fixtures.make_app(url)
        fixtures.customers(app, args.accounts)
        app.close()
        results["cdr"][db] = cdr.measure(url, args.cdr_lines, args.accounts)


def _charging(
    args: argparse.Namespace,
    parts: set[str],
    db: str,
    levels: list[int],
    results: dict[str, Any],
) -> None:
    results.setdefault("statements", {})
    with fixtures.database(db) as url:
        app = fixtures.make_app(url)
        who = fixtures.customers(app, args.accounts)
        app.close()
        results["statements"][db] = inprocess.count_statements(url, who)
        if "api" in parts:
            for program in _names(args.servers):
                log(f"api: {db}, {program} ×{args.workers}, connections {levels}")
                results.setdefault("api", {}).setdefault(db, {})[program] = api.measure(
                    url,
                    who,
                    workers=args.workers,
                    levels=levels,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    repeat=args.repeat,
                    program=program,
                )
        if "inprocess" in parts:
            log(f"inprocess: {db}")
            results.setdefault("inprocess", {})[db] = inprocess.measure(
                url, who, args.seconds, args.repeat
            )
    if "engine" in parts:
        eng = results.setdefault("engine", {})
        if db == "postgres":
            if engine.pgbench_available():
                log(f"engine: pgbench -N, clients {levels}")
                eng["pgbench"] = engine.pgbench(levels, args.seconds, args.repeat)
            else:
                results["skipped"].append("engine: pgbench is not installed")
        else:
            mix = results["statements"][db]["by_kind"]
            log("engine: raw sqlite3 loop")
            eng["sqlite"] = engine.sqlite_loop(mix, args.seconds, args.repeat)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = run(args)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    text = report.markdown(results)
    (args.output / "latest.md").write_text(text + "\n")
    print(text)
    if results["failed"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
