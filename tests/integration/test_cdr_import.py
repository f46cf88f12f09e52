"""CDR import: rated like live calls, idempotent on the call id, tolerant of
calls already settled live, malformed lines reported with their numbers."""

from __future__ import annotations

import gc
import random
from pathlib import Path

import pytest

from callcredit.adapters import spend
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.services import cdr, charging
from tests import factories as f

US = "0012125550{:03d}"  # +1: 0.02 per minute, 30/6


def line(
    call_id: str,
    answered: int,
    dst: str = "0012125550123",
    ext: str = "101",
    account: str = "atelier",
    disposition: str = "ANSWERED",
) -> str:
    return (
        f'"{account}","{ext}","{dst}","from-internal","""Camille"" <{ext}>","SIP/{ext}-0001",'
        f'"SIP/carrier-0002","Dial","SIP/carrier/{dst}","2026-11-20 10:00:00",'
        f'"2026-11-20 10:00:05","2026-11-20 10:02:10",{answered + 5},{answered},'
        f'"{disposition}","DOCUMENTATION","{call_id}",""\n'
    )


def us_cost_cents(answered: int) -> int:
    """0.02/min, 30 s then 6 s steps, one half-up rounding."""
    if answered == 0:
        return 0
    billed = 30 if answered <= 30 else 30 + -(-(answered - 30) // 6) * 6
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal("0.02") * billed / 60 * 100).quantize(Decimal(1), ROUND_HALF_UP))


def posted(cc: App) -> int:
    with cc.uow(readonly=True) as uow:
        return uow.ledger.balance("atelier").posted


@pytest.fixture
def cc(db_url: str) -> App:
    app = bootstrap(Settings(database_url=db_url, fraud_concurrent_calls=1000))
    f.office(app, funds=10_000_000)
    return app


def test_small_file_worked_example(cc: App, tmp_path: Path) -> None:
    """Paid, free, unanswered, duplicate and malformed lines each do what they should."""
    rows = [
        line("u1", 125),  # US 125 s → 30+96=126 s → 0.042 → 0.04
        line("u2", 30, dst="0142685300"),  # included French landline
        line("u3", 0, disposition="NO ANSWER"),  # unanswered: free
        line("u1", 125),  # duplicate
        "garbage,line\n",
        line("u4", 10, account="nobody"),
        line("u5", 10, dst="abc"),
        line("u6", 7, dst="112"),
    ]
    report = cdr.import_file(cc, rows)
    assert report.imported == 2  # u1 and u3 (unanswered paid call, 0.00)
    assert report.free == 2
    assert report.duplicates == 1
    assert [n for n, _ in report.errors] == [5, 6, 7]
    assert "columns" in report.errors[0][1]
    assert f.available(cc) == 10_000_000 - 4
    again = cdr.import_file(cc, rows)
    assert again.duplicates == 5
    assert f.available(cc) == 10_000_000 - 4
    assert f.verify(cc) == []


def test_cdr_for_a_live_call_settles_it_once(cc: App) -> None:
    """A CDR for a call still open live settles it; for one ended live it moves nothing."""
    for call_id in ("live-open", "live-ended"):
        answer = charging.authorize(
            cc, charging.AuthorizeCall(call_id, "atelier", "101", "0012125550123")
        )
        assert answer["allow"]
    charging.end(cc, charging.EndCall("live-ended", 60))
    before = posted(cc)
    report = cdr.import_file(cc, [line("live-open", 60), line("live-ended", 60)])
    assert (report.settled_live, report.duplicates) == (1, 1)
    assert posted(cc) == before - 2  # 60 s of the open call: 0.02
    assert f.available(cc) == posted(cc)  # its hold is released
    assert f.verify(cc) == []


@pytest.mark.slow
def test_100000_lines_with_duplicates_live_calls_and_garbage(cc: App, tmp_path: Path) -> None:
    """A 100,000-line file: every valid call charged once at the contract cost."""
    rng = random.Random(11)
    for n in range(50):
        charging.authorize(cc, charging.AuthorizeCall(f"c{n}", "atelier", "101", US.format(n)))
        if n % 2:
            charging.end(cc, charging.EndCall(f"c{n}", 100))
    before = posted(cc)
    path = tmp_path / "Master.csv"
    expected = 0
    seen: set[str] = set()
    with path.open("w") as out:
        for n in range(100_000):
            if n % 997 == 0:
                out.write(f"broken line {n}\n")
                continue
            call = f"c{n - 1}" if 1 <= n <= 50 else f"c{rng.randrange(120_000)}"
            answered = 100 if int(call[1:]) < 50 else rng.randrange(0, 900)
            if call not in seen:
                seen.add(call)
                if not (int(call[1:]) < 50 and int(call[1:]) % 2):
                    expected += us_cost_cents(answered)
            out.write(
                line(call, answered, dst=US.format(int(call[1:]) % 1000), ext=str(101 + n % 5))
            )
    with path.open() as handle:
        report = cdr.import_file(cc, handle)
    assert len(report.errors) == 101
    assert report.lines == 100_000
    assert before - posted(cc) == expected
    assert f.available(cc) == posted(cc)
    assert f.verify(cc) == []


def test_imported_calls_count_in_the_fraud_guards_hourly_spend(cc: App) -> None:
    """A call known only from its CDR starts when it is imported, as far as
    the fraud guard is concerned: its cost is in the last hour's spend, as
    the cost of a call ended live is; free calls are not."""
    rows = [line("s1", 125), line("s2", 600), line("s3", 30, dst="0142685300")]
    report = cdr.import_file(cc, rows)
    assert report.charged["EUR"] == us_cost_cents(125) + us_cost_cents(600)
    with cc.uow(readonly=True) as uow:
        assert spend.last_hour(uow.conn, "atelier", cc.clock.now()) == report.charged["EUR"]


def test_collector_runs_rarely_during_an_import_only(cc: App) -> None:
    """The garbage collector's threshold is raised while an import runs and
    put back afterwards, also when the import fails."""
    before = gc.get_threshold()
    seen: list[int] = []

    def progress(lines: int) -> None:
        seen.append(gc.get_threshold()[0])
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        cdr.import_file(cc, [line("g1", 10)], progress=progress)
    assert seen == [max(before[0], cdr._Collector.GEN0)]
    assert gc.get_threshold() == before
