"""Results as a Markdown report (the README's "Performance" table)."""

from __future__ import annotations

from typing import Any

from bench.machine import one_line

TARGETS = {
    "pg_ratio": 0.5,
    "sqlite_cycles": 1000,
    "sqlite_p99_ms": 20,
    "lookups": 200_000,
    "deck_load_s": 3,
    "cdr_sqlite": 20_000,
    "rss_mib": 300,
}


def _runs(values: list[float]) -> str:
    if len(values) < 2:
        return ""
    return f" ({min(values):,.0f}–{max(values):,.0f})"


def _api_table(api: dict[str, Any], engine: dict[str, Any]) -> list[str]:
    lines = [
        "| database | server | conns | cycles/s (min–max) | requests/s | p50 ms | p95 ms "
        "| p99 ms | errors | server CPU ms/cycle | peak RSS MiB | engine tx/s "
        "| cycles per engine tx |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for db, servers in api.items():
        for program, result in servers.items():
            for level in result["levels"]:
                tps = _engine_tps(engine, db, level["connections"])
                ratio = f"{level['cycles_per_s'] / tps:.3f}" if tps else "–"
                lines.append(
                    f"| {db} | {program} ×{result['workers']} | {level['connections']} "
                    f"| {level['cycles_per_s']:,.0f}{_runs(level['cycles_per_s_runs'])} "
                    f"| {level['requests_per_s']:,.0f} | {level['p50_ms']:.1f} "
                    f"| {level['p95_ms']:.1f} | {level['p99_ms']:.1f} | {level['errors']} "
                    f"| {level['server_cpu_ms_per_cycle']:.1f} | {level['peak_rss_mib']:.0f} "
                    f"| {f'{tps:,.0f}' if tps else '–'} | {ratio} |"
                )
    return lines


def _engine_tps(engine: dict[str, Any], db: str, clients: int) -> float | None:
    if db == "postgres" and "pgbench" in engine:
        for level in engine["pgbench"]["levels"]:
            if level["clients"] == clients:
                return float(level["tps"])
        return None
    if db == "sqlite" and "sqlite" in engine:
        return float(engine["sqlite"]["tps"])
    return None


def headlines(results: dict[str, Any]) -> dict[str, Any]:
    """The figures the targets are about, with the best concurrency level."""
    out: dict[str, Any] = {}
    api, engine = results.get("api", {}), results.get("engine", {})
    for db, servers in api.items():
        best = max(
            ((program, level) for program, r in servers.items() for level in r["levels"]),
            key=lambda pl: float(pl[1]["cycles_per_s"]),
        )
        program, level = best
        tps = _engine_tps(engine, db, level["connections"])
        out[db] = {
            "server": program,
            "connections": level["connections"],
            "cycles_per_s": level["cycles_per_s"],
            "p99_ms": level["p99_ms"],
            "engine_tps": tps,
            "cycles_per_engine_tx": round(level["cycles_per_s"] / tps, 4) if tps else None,
            "peak_rss_mib": max(lv["peak_rss_mib"] for r in servers.values() for lv in r["levels"]),
        }
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = ["## callcredit benchmark", "", f"Machine: {one_line(results['machine'])}", ""]
    opts = results["options"]
    lines.append(
        f"Options: {opts['seconds']} s per run, {opts['repeat']} run(s) per level (median; "
        f"min–max in brackets), {opts['workers']} workers, {opts['accounts']} accounts"
        + (", smoke run" if opts["smoke"] else "")
        + "."
    )
    lines.append("")
    api, engine = results.get("api"), results.get("engine", {})
    if api:
        lines += ["### PBX API: paid-call cycles (authorize + end) over HTTP, wrk", ""]
        lines += _api_table(api, engine)
        lines.append("")
    if engine:
        lines += ["### Engine limits, same run", ""]
        if "pgbench" in engine:
            levels = engine["pgbench"]["levels"]
            lines.append(
                "- `pgbench -N` (scale "
                f"{engine['pgbench']['scale']}): "
                + ", ".join(
                    f"{lv['clients']} clients {lv['tps']:,.0f} tx/s{_runs(lv['tps_runs'])}"
                    for lv in levels
                )
            )
        if "sqlite" in engine:
            sq = engine["sqlite"]
            lines.append(
                f"- raw `sqlite3` loop, {sq['statements_per_tx']} statements per transaction "
                f"({', '.join(f'{k} {v}' for k, v in sq['mix'].items())}): "
                f"{sq['tps']:,.0f} tx/s{_runs(sq['tps_runs'])}"
            )
        lines.append("")
    statements = results.get("statements")
    if statements:
        lines += ["### SQL statements per paid-call cycle (authorize + end)", ""]
        for db, count in statements.items():
            kinds = ", ".join(f"{k} {v}" for k, v in count["by_kind"].items())
            lines.append(f"- {db}: {count['statements']} statements ({kinds})")
        lines.append("")
    inproc = results.get("inprocess")
    if inproc:
        lines += ["### In-process (no HTTP), one thread", ""]
        lines += ["| database | cycles/s (min–max) | CPU ms/cycle | cycle p50 ms | cycle p99 ms |"]
        lines += ["|---|--:|--:|--:|--:|"]
        for db, r in inproc.items():
            lines.append(
                f"| {db} | {r['cycles_per_s']:,.0f}{_runs(r['cycles_per_s_runs'])} "
                f"| {r['cpu_ms_per_cycle']:.2f} | {r['cycle_p50_ms']:.2f} "
                f"| {r['cycle_p99_ms']:.2f} |"
            )
        lines.append("")
    rating = results.get("rating")
    if rating:
        lines += ["### Rating (one core)", ""]
        lines.append(
            f"- {rating['prefixes']:,}-prefix deck: parse {rating['parse_s']:.2f} s, build "
            f"{rating['build_s']:.2f} s, SQLite import {rating['sqlite_import_s']:.2f} s, "
            f"load from SQLite {rating['sqlite_load_s']:.2f} s"
        )
        lines.append(
            f"- longest-prefix lookups {rating['lookups_per_s']:,.0f}/s "
            f"(plain `dict.get` {rating['dict_get_per_s']:,.0f}/s); call_cost "
            f"{rating['call_cost_per_s']:,.0f}/s; granted_seconds "
            f"{rating['granted_seconds_per_s']:,.0f}/s"
        )
        lines.append("")
    cdr = results.get("cdr")
    if cdr:
        lines += ["### CDR import", ""]
        for db, r in cdr.items():
            lines.append(
                f"- {db}: {r['lines']:,} lines in {r['seconds']:.1f} s = "
                f"{r['cdrs_per_s']:,.0f} CDRs/s ({r['paid']:,} paid, {r['free']:,} free)"
            )
        lines.append("")
    heads = results.get("headlines")
    if heads:
        lines += ["### Headlines", ""]
        for db, h in heads.items():
            ratio = h["cycles_per_engine_tx"]
            lines.append(
                f"- {db}: best {h['cycles_per_s']:,.0f} cycles/s ({h['server']}, "
                f"{h['connections']} connections, p99 {h['p99_ms']:.1f} ms); "
                + (f"{ratio:.3f} cycles per engine transaction; " if ratio else "")
                + f"peak server RSS {h['peak_rss_mib']:.0f} MiB"
            )
        lines.append("")
    if results.get("skipped"):
        lines += ["Skipped: " + "; ".join(results["skipped"]), ""]
    if results.get("failed"):
        lines += ["Failed: " + "; ".join(results["failed"]), ""]
    return "\n".join(lines)
