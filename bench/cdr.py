"""CDR import throughput: an Asterisk ``Master.csv`` file of finished calls
(paid international calls and free calls included in the plan), rated and
posted with ``callcredit.services.cdr.import_file``."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fixtures import StatementCounter, account_name, make_app
from callcredit.services import cdr

# (share, destination pattern): paid UK mobiles, paid US numbers, paid
# German mobiles, and French landlines included in the fr-office plan.
DESTINATIONS = (
    (0.4, "+4474", 8),
    (0.2, "+1212555", 4),
    (0.1, "+49151", 8),
    (0.3, "01", 8),
)


def write_file(path: Path, lines: int, accounts: int, numbers: int = 20_000) -> None:
    """``lines`` CDRs over ``accounts`` accounts and about ``numbers``
    distinct destinations (offices call the same numbers again)."""
    rng = random.Random(8)
    pools = []
    for share, prefix, digits in DESTINATIONS:
        count = max(1, int(numbers * share))
        pool = [f"{prefix}{rng.randrange(1, 10**digits):0{digits}d}" for _ in range(count)]
        pools.append((share, pool))
    weights = [share for share, _ in pools]
    with path.open("w", encoding="utf-8") as out:
        for n in range(lines):
            _, pool = rng.choices(pools, weights)[0]
            dst = rng.choice(pool)
            answered = rng.random() < 0.8
            billsec = rng.randint(1, 900) if answered else 0
            out.write(
                f"{account_name(n % accounts)},10{1 + n % 5},{dst},from-internal,"
                f'"Office" <10{1 + n % 5}>,PJSIP/10{1 + n % 5}-0001,PJSIP/trunk-0002,Dial,'
                f"PJSIP/{dst}@trunk,2025-03-01 09:00:00,2025-03-01 09:00:05,"
                f"2025-03-01 09:10:00,{billsec + 5},{billsec},"
                f"{'ANSWERED' if answered else 'NO ANSWER'},DOCUMENTATION,bench-cdr-{n},\n"
            )


def measure(url: str, lines: int, accounts: int) -> dict[str, Any]:
    """Import a fresh file of ``lines`` CDRs into ``url`` once."""
    with tempfile.TemporaryDirectory(prefix="cc_bench_cdr_") as folder:
        path = Path(folder) / "Master.csv"
        write_file(path, lines, accounts)
        app = make_app(url)
        counter = StatementCounter(app.engine)
        try:
            with path.open(encoding="utf-8") as rows:
                counter.active = True
                started, cpu = time.perf_counter(), time.process_time()
                report = cdr.import_file(app, rows)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                counter.active = False
        finally:
            counter.close()
            app.close()
    if report.errors:
        raise RuntimeError(f"CDR import reported errors, first: {report.errors[:3]}")
    return {
        "lines": report.lines,
        "seconds": round(elapsed, 2),
        "cdrs_per_s": round(report.lines / elapsed, 1),
        "paid": report.imported,
        "free": report.free,
        # this process only (PostgreSQL's own work is not in it)
        "cpu_us_per_cdr": round(cpu / report.lines * 1e6, 1),
        "statements_per_1000": round(counter.statements / report.lines * 1000, 2),
    }
