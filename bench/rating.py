"""Rating throughput on one core: loading a 100,000-prefix deck, longest-
prefix lookups and call-cost computation, each against a plain ``dict``
lookup measured in the same run (the engine's own limit).

    python bench/rating.py [--prefixes 100000] [--lookups 200000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

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


def database_round_trip(rates: list[Rate]) -> None:
    """Import the deck into a fresh SQLite database, then load it back."""
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
    print(f"  SQLite import  {imported - started:6.3f} s  (one transaction, executemany)")
    print(f"  SQLite load    {read - imported:6.3f} s  ({len(loaded.table):,} rates into memory)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()
    rng = random.Random(42)

    lines = make_deck(args.prefixes, rng)
    started = time.perf_counter()
    rates = parse_deck(lines)
    parsed = time.perf_counter()
    table = RateTable(rates)
    built = time.perf_counter()
    print(f"deck: {len(table):,} prefixes")
    print(f"  parse CSV      {parsed - started:6.3f} s")
    print(f"  build table    {built - parsed:6.3f} s")
    database_round_trip(rates)

    prefixes = [r.prefix for r in rates]
    numbers = [
        rng.choice(prefixes) + "".join(rng.choice("0123456789") for _ in range(6))
        for _ in range(args.lookups)
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

    dict_rate = rate_per_second(dict_lookups, len(exact))
    lookup_rate = rate_per_second(table_lookups, len(numbers))
    cost_rate = rate_per_second(costs, len(found))
    grant_rate = rate_per_second(grants, len(found))
    print(f"one core, {len(numbers):,} random numbers (each covered by some prefix):")
    print(f"  plain dict.get          {dict_rate:12,.0f} /s   (1.00×)")
    print(f"  longest-prefix lookup   {lookup_rate:12,.0f} /s   ({lookup_rate / dict_rate:.2f}×)")
    print(f"  call_cost               {cost_rate:12,.0f} /s   ({cost_rate / dict_rate:.2f}×)")
    print(f"  granted_seconds         {grant_rate:12,.0f} /s   ({grant_rate / dict_rate:.2f}×)")


if __name__ == "__main__":
    main()
