"""CDR import in batches that span many accounts: the ledger ends up
exactly as with the per-account importer it replaced (``cdr_reference``),
balance for balance, transfer for transfer, call row for call row."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from callcredit.adapters import tables as t
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain.money import Money
from callcredit.services import cdr, charging
from callcredit.services.settings import set_low_balance
from tests import factories as f
from tests.integration import cdr_reference

US = "0012125550{:03d}"  # +1: 0.02 per minute, 30/6
SPACES = ("old", "new")  # the reference's accounts and call ids, and the batched importer's
STAMPS = ("created_at", "started_at", "ended_at", "resolved_at", "expires_at", "next_attempt_at")
GENERATED = (*STAMPS, "transfer_id", "reservation_id", "settle_transfer_id", "request_id")
GENERATED += ("charge_key", "request_hash")  # made of an id; of a call id with its space


def line(p: str, call: str, answered: int, dst: str = US.format(123), acc: str = "a") -> str:
    """A Master.csv line of account ``{p}-{acc}`` for call id ``{p}:{call}``."""
    return office_line(f"{p}-{acc}", f"{p}:{call}", answered, dst)


def office_line(office: str, call_id: str, answered: int, dst: str) -> str:
    disposition = "ANSWERED" if answered else "NO ANSWER"
    return (
        f'"{office}","101","{dst}","from-internal","""Camille"" <101>","SIP/101-0001",'
        f'"SIP/carrier-0002","Dial","SIP/carrier/{dst}","2026-11-20 10:00:00",'
        f'"2026-11-20 10:00:05","2026-11-20 10:02:10",{answered + 5},{answered},'
        f'"{disposition}","DOCUMENTATION","{call_id}",""\n'
    )


def worked_example(p: str) -> list[str]:
    """Interleaved accounts; duplicates in the file; one call id used by two
    accounts; CDRs for calls open live (one of them twice, one of them from
    the wrong account) and ended live; free, unanswered, unpriced and
    invalid destinations; an unknown account and a malformed line."""
    return [
        line(p, "a1", 125),
        line(p, "x", 40, acc="b"),  # also used by a below, in the same batch
        line(p, "c1", 3000, acc="c"),  # c dips below its top-off threshold
        line(p, "open-a", 61),  # settles a's open live call …
        line(p, "a2", 30, dst="0142685300"),  # included French landline
        line(p, "x", 50),  # a, which appears first, takes the call id
        "garbage,line\n",
        line(p, "b1", 900, acc="b"),  # overdraws b: an overrun
        line(p, "a1", 125),  # duplicate in the file
        line(p, "open-a", 61),  # … once
        line(p, "g1", 10, acc="ghost"),  # unknown account
        line(p, "c2", 0, acc="c"),  # unanswered paid call: 0.00
        line(p, "a3", 7, dst="112"),  # emergency
        line(p, "a4", 10, dst="abc"),  # invalid destination
        line(p, "open-c", 300, acc="a"),  # c's open call, reported by a
        line(p, "open-c", 300, acc="c"),
        line(p, "ended-b", 60, acc="b"),  # ended live: moves nothing
        line(p, "b2", 45, acc="b"),
        line(p, "c3", 95, acc="c"),
        line(p, "a5", 600, dst="0033892680000"),  # premium-rate French number
    ]


def random_file(p: str, lines: int = 400) -> list[str]:
    """Random lines over three accounts and a small pool of call ids, so
    that duplicates, clashes between accounts and live calls abound."""
    rng = random.Random(5)
    rows = []
    for n in range(lines):
        if n % 37 == 0:
            rows.append(f"broken {n}\n")
            continue
        acc = rng.choice("aabbcc") if n % 53 else "ghost"
        call = f"r{rng.randrange(250)}"
        if n % 11 == 0:
            call = rng.choice(["open-a", "open-c", "ended-b"])
        dst = rng.choice([US.format(rng.randrange(40)), "0142685300", "112", US.format(1)])
        rows.append(line(p, call, rng.randrange(0, 1500) if n % 5 else 0, dst=dst, acc=acc))
    return rows


@pytest.fixture
def cc(db_url: str) -> App:
    """The same three offices and live calls in each space: ``a`` well
    funded, ``b`` short of funds (floor 0, so CDRs overrun), ``c`` with an
    automatic top-off below 10.00; open live calls for ``a`` and ``c``, an
    ended one for ``b``."""
    app = bootstrap(Settings(database_url=db_url, fraud_concurrent_calls=1000))
    for p in SPACES:
        f.office(app, f"{p}-a", funds=10_000_000)
        f.office(app, f"{p}-b", funds=20)
        f.office(app, f"{p}-c", funds=1_050)
        with app.uow() as uow:
            set_low_balance(
                uow, f"{p}-c", "auto-topoff", below=Money(1_000, "EUR"), amount=Money(2_000, "EUR")
            )
        for acc, call in (("a", "open-a"), ("c", "open-c"), ("b", "ended-b")):
            answer = charging.authorize(
                app, charging.AuthorizeCall(f"{p}:{call}", f"{p}-{acc}", "101", US.format(7))
            )
            assert answer["allow"]
        charging.end(app, charging.EndCall(f"{p}:ended-b", 20))
    return app


def snapshot(cc: App, p: str) -> dict[str, Any]:
    """Everything the import wrote for space ``p``, without generated ids
    and times, and with ``p`` taken out of names."""
    mine = f"{p}-%"

    def rows(table: Any, *order: Any) -> list[dict[str, Any]]:
        with cc.uow(readonly=True) as uow:
            found = uow.conn.execute(
                select(table).where(table.c.account_id.like(mine)).order_by(*order)
            )
            return [_strip(p, dict(r._mapping)) for r in found]

    tr, ca, ky, rs = t.transfers.c, t.calls.c, t.idempotency_keys.c, t.reservations.c
    return {
        "balances": rows(t.ledger_balances, t.ledger_balances.c.account_id, "ledger"),
        "transfers": rows(t.transfers, tr.account_id, tr.seq),
        "calls": rows(t.calls, ca.account_id, ca.call_id),
        "keys": rows(t.idempotency_keys, ky.account_id, ky.key),
        "reservations": rows(t.reservations, rs.account_id, rs.amount),
        "topoffs": rows(t.topoff_requests, "account_id", "amount"),
        "accounts": rows(t.accounts, "account_id"),
    }


def _strip(p: str, value: Any) -> Any:
    """``value`` without space ``p`` in its texts, and without the
    generated ids and times in stored answers and keys."""
    if isinstance(value, str):
        value = value.replace(f"{p}-", "").replace(f"{p}:", "")
        return value.rsplit("-", 1)[0] if value.startswith("test-credit-") else value
    if isinstance(value, dict):
        return {k: _strip(p, v) for k, v in value.items() if k not in GENERATED}
    return value


def report(r: cdr.ImportReport, p: str) -> tuple[Any, ...]:
    errors = [(n, _strip(p, reason)) for n, reason in r.errors]
    return (r.imported, r.free, r.settled_live, r.duplicates, r.charged, errors)


@pytest.mark.parametrize("batch", [7, 1000])
@pytest.mark.parametrize("file", [worked_example, random_file])
def test_batches_leave_the_ledger_the_per_account_importer_left(
    cc: App, monkeypatch: pytest.MonkeyPatch, batch: int, file: Any
) -> None:
    """Batches of 7 lines (boundaries inside every account's run) and one
    batch for the whole file; each file imported twice."""
    monkeypatch.setattr(cdr, "BATCH", batch)
    for _ in range(2):
        old = cdr_reference.import_file(cc, file("old"), batch_lines=batch)
        new = cdr.import_file(cc, file("new"))
        assert report(new, "new") == report(old, "old")
    assert snapshot(cc, "new") == snapshot(cc, "old")
    assert f.verify(cc) == []


def test_worked_example_in_numbers(cc: App) -> None:
    """The worked example's outcome, spelled out: what each line did."""
    r = cdr.import_file(cc, worked_example("new"))
    assert (r.imported, r.free, r.settled_live, r.duplicates) == (8, 2, 2, 3)
    assert [n for n, _ in r.errors] == [2, 7, 11, 14, 15]
    assert r.errors[0][1] == "call id new:x belongs to another account"
    with cc.uow(readonly=True) as uow:
        b = uow.ledger.balance("new-b")
        overruns = uow.conn.execute(
            select(t.transfers.c.seq).where(
                t.transfers.c.account_id == "new-b", t.transfers.c.overrun
            )
        ).all()
        topoffs = uow.conn.execute(
            select(t.topoff_requests.c.amount).where(t.topoff_requests.c.account_id == "new-c")
        ).all()
    assert b.posted < 0
    assert overruns
    assert [row.amount for row in topoffs] == [2_000]  # one request per dip
    assert f.verify(cc) == []


def test_imports_and_live_calls_at_once_never_deadlock(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports naming the same six accounts in opposite orders, and live
    calls on those accounts, all at once: each batch locks its accounts in
    account order, so no transaction waits on another in a cycle (on
    PostgreSQL a deadlock would abort one); every call is charged once."""
    monkeypatch.setattr(cdr, "BATCH", 40)
    app = bootstrap(Settings(database_url=db_url, fraud_concurrent_calls=1000), pool_size=10)
    offices = [f"o{n}" for n in range(6)]
    for office in offices:
        f.office(app, office, funds=10_000_000)

    def file(tag: str, order: list[str]) -> list[str]:
        return [
            office_line(order[n % 6], f"{tag}:{n}", 60 + n % 300, US.format(n % 50))
            for n in range(400)
        ]

    def live(tag: str) -> int:
        charged = 0
        for n in range(30):
            call = charging.AuthorizeCall(f"{tag}-{n}", offices[n % 6], "101", US.format(n))
            assert charging.authorize(app, call)["allow"]
            answer = charging.end(app, charging.EndCall(f"{tag}-{n}", 90))
            charged += Money.parse(answer["charged"], "EUR").minor
        return charged

    with ThreadPoolExecutor(max_workers=4) as pool:
        imports = [
            pool.submit(cdr.import_file, app, file("up", offices)),
            pool.submit(cdr.import_file, app, file("down", offices[::-1])),
        ]
        calls = [pool.submit(live, "live1"), pool.submit(live, "live2")]
        reports = [job.result() for job in imports]
        charged = sum(job.result() for job in calls)
    assert [r.imported for r in reports] == [400, 400]
    assert all(not r.errors for r in reports)
    charged += sum(r.charged["EUR"] for r in reports)
    with app.uow(readonly=True) as uow:
        spent = sum(10_000_000 - uow.ledger.balance(o).posted for o in offices)
    assert spent == charged
    assert f.verify(app) == []
    app.close()
