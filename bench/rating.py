"""Rating throughput on one core: loading a 100,000-prefix deck, longest-
prefix lookups and call-cost computation, each against a plain ``dict``
lookup measured in the same run (the engine's own limit).

    python bench/rating.py [--prefixes 100000] [--lookups 200000]
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from callcredit.adapters import rating_store, schema
from callcredit.adapters.db import make_engine
from callcredit.domain.rating import Rate, RateTable, call_cost, granted_seconds, parse_deck

INCREMENTS = ["60/60", "30/6", "1/1"]


def make_deck(size: int, rng: random.Random) -> list[str]:
    """A CSV deck of ``size`` distinct prefixes of 2 to 9 digits."""
    lines = ["prefix,description,per_minute,connect_fee,increment\n"]
    seen: set[str] = set()
    while len(seen) < size:
        digits = str(rng.randint(1, 9)) + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(1, 8))
        )
        if digits in seen:
            continue
        seen.add(digits)
        per_minute = Decimal(rng.randint(1, 200_000)).scaleb(-5)
        lines.append(f"+{digits},dest {digits},{per_minute},0.0100,{rng.choice(INCREMENTS)}\n")
    return lines


def rate_per_second(work: Callable[[], object], items: int) -> float:
    started = time.perf_counter()
    work()
    return items / (time.perf_counter() - started)


def database_round_trip(rates: list[Rate]) -> tuple[float, float]:
    """Import the deck into a fresh SQLite database, then load it back:
    (import seconds, load seconds)."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        schema.upgrade(engine)
        started = time.perf_counter()
        with engine.begin() as conn:
            rating_store.save_deck(conn, "bench", "EUR", rates, datetime.now(UTC))
        imported = time.perf_counter()
        with engine.begin() as conn:
            loaded = rating_store.read_deck(conn, "bench")
        read = time.perf_counter()
        engine.dispose()
    assert len(loaded.table) == len(rates)
    return imported - started, read - imported


def measure(prefixes: int = 100_000, lookups: int = 200_000) -> dict[str, Any]:
    """Deck parse, build, import and load times, and lookups per second on
    one core against a plain ``dict.get`` (the interpreter's own limit)."""
    rng = random.Random(42)
    lines = make_deck(prefixes, rng)
    started = time.perf_counter()
    rates = parse_deck(lines)
    parsed = time.perf_counter()
    table = RateTable(rates)
    built = time.perf_counter()
    import_s, load_s = database_round_trip(rates)

    known = [r.prefix for r in rates]
    numbers = [
        rng.choice(known) + "".join(rng.choice("0123456789") for _ in range(6))
        for _ in range(lookups)
    ]
    plain = {r.prefix[1:]: r for r in rates}
    exact = [n[1:] for n in numbers]

    def dict_lookups() -> None:
        get = plain.get
        for key in exact:
            get(key)

    found: list[Rate] = []

    def table_lookups() -> None:
        lookup = table.lookup
        found.clear()
        for number in numbers:
            rate = lookup(number)
            assert rate is not None
            found.append(rate)

    durations = [rng.randint(1, 3600) for _ in range(len(numbers))]

    def costs() -> None:
        for rate, seconds in zip(found, durations, strict=True):
            call_cost(seconds, rate, "EUR")

    def grants() -> None:
        for rate, seconds in zip(found, durations, strict=True):
            granted_seconds(rate, 5_000, seconds, "EUR")

    gc.collect()
    return {
        "prefixes": len(table),
        "parse_s": round(parsed - started, 3),
        "build_s": round(built - parsed, 3),
        "sqlite_import_s": round(import_s, 3),
        "sqlite_load_s": round(load_s, 3),
        "lookups": len(numbers),
        "dict_get_per_s": round(rate_per_second(dict_lookups, len(exact))),
        "lookups_per_s": round(rate_per_second(table_lookups, len(numbers))),
        "call_cost_per_s": round(rate_per_second(costs, len(found))),
        "granted_seconds_per_s": round(rate_per_second(grants, len(found))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()
    r = measure(args.prefixes, args.lookups)
    dict_rate, lookup_rate = r["dict_get_per_s"], r["lookups_per_s"]
    cost_rate, grant_rate = r["call_cost_per_s"], r["granted_seconds_per_s"]
    print(f"deck: {r['prefixes']:,} prefixes")
    print(f"  parse CSV      {r['parse_s']:6.3f} s")
    print(f"  build table    {r['build_s']:6.3f} s")
    print(f"  SQLite import  {r['sqlite_import_s']:6.3f} s  (one transaction, executemany)")
    print(f"  SQLite load    {r['sqlite_load_s']:6.3f} s  (all rates into memory)")
    print(f"one core, {r['lookups']:,} random numbers (each covered by some prefix):")
    print(f"  plain dict.get          {dict_rate:12,.0f} /s   (1.00×)")
    print(f"  longest-prefix lookup   {lookup_rate:12,.0f} /s   ({lookup_rate / dict_rate:.2f}×)")
    print(f"  call_cost               {cost_rate:12,.0f} /s   ({cost_rate / dict_rate:.2f}×)")
    print(f"  granted_seconds         {grant_rate:12,.0f} /s   ({grant_rate / dict_rate:.2f}×)")


if __name__ == "__main__":
    main()
