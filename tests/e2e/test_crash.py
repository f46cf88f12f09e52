"""Crash safety: ``SIGKILL`` at random moments, nothing acknowledged lost,
nothing unacknowledged half-applied.

A real ``callcredit serve`` (two uvicorn workers, in its own process group)
takes a steady stream of paid calls (authorize then end over HTTP) and Add
Funds purchases (admin API). At a random moment the whole process group is
killed; the server is started again and the stream goes on, for
:data:`ROUNDS` rounds on SQLite and on PostgreSQL. Then every operation is
checked against the database:

- acknowledged (HTTP 200/201 received): present exactly once, as answered;
- unacknowledged: either fully applied or not at all, and retrying it after
  the restart applies it exactly once;
- the gateway's charges equal the ledger's credits, and ``callcredit verify``
  passes.

A second test kills ``callcredit worker`` in the middle of an automatic
top-off charge and checks the card is charged, and the balance credited,
exactly once.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.gateways.simulated import SimulatedGateway
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from tests import factories as f
from tests.billing import auto_topoff, put_card, spend
from tests.e2e.crashing import Process, start_server, start_worker
from tests.e2e.server import cli
from tests.officemanager import admin_token

ROUNDS = 20
CALLERS = 3
UK_MOBILE = "+44 7400 {:06d}"  # +447: 0.15 EUR a started minute
ENV = {
    "CALLCREDIT_FRAUD_CONCURRENT_CALLS": "1000",
    "CALLCREDIT_FRAUD_SPEND_PER_HOUR": "100000",
    "CALLCREDIT_LOG_LEVEL": "warning",
    # Holds outlive a slow run; an expired hold would also be "not applied".
    "CALLCREDIT_RESERVATION_GRACE_SECONDS": "3600",
}


def cost_cents(answered: int) -> int:
    return 0 if answered == 0 else 15 * -(-answered // 60)


@dataclass
class Call:
    """One paid call as the PBX saw it."""

    call_id: str
    extension: str
    answered: int
    authorized: dict[str, Any] | None = None  # the 200 answer, if received
    auth_sent: bool = False
    ended: dict[str, Any] | None = None  # the 200 answer, if received
    end_sent: bool = False

    def authorize_body(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "account": "atelier", "extension": self.extension,
                "destination": UK_MOBILE.format(int(self.extension) * 1000 + 7)}  # fmt: skip


@dataclass
class Purchase:
    """One Add Funds request as the admin API's client saw it."""

    key: str
    answer: dict[str, Any] | None = None  # the 201 answer, if received
    sent: bool = False


@dataclass
class Journal:
    calls: list[Call] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledged(self) -> int:
        with self.lock:
            return sum(self.statuses.values())

    def status(self, code: int) -> None:
        with self.lock:
            self.statuses[code] += 1


def _caller(url: str, token: str, prefix: str, journal: Journal, rng: random.Random) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=20) as client:
        for n in range(10_000):
            call = Call(f"{prefix}-{n}", str(101 + rng.randrange(5)), rng.randint(0, 200))
            with journal.lock:
                journal.calls.append(call)
            try:
                call.auth_sent = True
                answer = client.post("/pbx/v1/authorize", json=call.authorize_body())
                journal.status(answer.status_code)
                if answer.status_code != 200:
                    return
                call.authorized = answer.json()
                call.end_sent = True
                ended = client.post(
                    f"/pbx/v1/calls/{call.call_id}/end", json={"answered_seconds": call.answered}
                )
                journal.status(ended.status_code)
                if ended.status_code != 200:
                    return
                call.ended = ended.json()
            except httpx.HTTPError:
                return  # the server is gone: this operation stays unacknowledged


def _funder(url: str, token: str, prefix: str, journal: Journal) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=20) as client:
        for n in range(10_000):
            purchase = Purchase(f"{prefix}-{n}")
            with journal.lock:
                journal.purchases.append(purchase)
            try:
                purchase.sent = True
                answer = client.post(
                    "/api/v1/funds", json={"amount": "10", "idempotency_key": purchase.key}
                )
                journal.status(answer.status_code)
                if answer.status_code != 201:
                    return
                purchase.answer = answer.json()
            except httpx.HTTPError:
                return
            time.sleep(0.05)


def _round(db_url: str, folder: Path, tokens: dict[str, str], n: int, journal: Journal) -> None:
    """Serve, stream calls and purchases, SIGKILL the group at a random moment."""
    rng = random.Random(n)
    server = start_server(db_url, folder, workers=2 if n % 2 == 0 else 1, env=ENV)
    acknowledged = journal.acknowledged()
    threads = [
        threading.Thread(
            target=_caller,
            args=(server.url, tokens["pbx"], f"r{n}c{k}", journal, random.Random(n * 10 + k)),
        )
        for k in range(CALLERS)
    ]
    threads.append(
        threading.Thread(target=_funder, args=(server.url, tokens["admin"], f"r{n}f", journal))
    )
    for thread in threads:
        thread.start()
    # Kill at a random moment once the stream is flowing (a slow machine
    # may take a while to answer the first request of a fresh server).
    deadline = time.monotonic() + 30
    while journal.acknowledged() == acknowledged and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.8))
    server.kill()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a client thread is stuck"


# -- checks against the database -----------------------------------------------


def _call_row(app: App, call_id: str) -> Any:
    with app.uow(readonly=True) as uow:
        return uow.conn.execute(select(t.calls).where(t.calls.c.call_id == call_id)).one_or_none()


def _settlements(app: App, reservation_id: str) -> int:
    with app.uow(readonly=True) as uow:
        return int(
            uow.conn.execute(
                select(func.count()).where(
                    t.transfers.c.reservation_id == reservation_id,
                    t.transfers.c.kind == L.KIND_SETTLE,
                )
            ).scalar_one()
        )


def _reservation_state(app: App, reservation_id: str) -> str:
    with app.uow(readonly=True) as uow:
        return str(
            uow.conn.execute(
                select(t.reservations.c.state).where(
                    t.reservations.c.reservation_id == reservation_id
                )
            ).scalar_one()
        )


def _check_call_applied_once(app: App, call: Call, charged: str) -> None:
    row = _call_row(app, call.call_id)
    assert row is not None, f"{call.call_id}: acknowledged but missing"
    assert row.state == "ended"
    assert row.end_response["charged"] == charged
    settles = _settlements(app, row.reservation_id)
    assert settles == (1 if cost_cents(call.answered) else 0), f"{call.call_id}: {settles}"
    assert _reservation_state(app, row.reservation_id) == L.SETTLED


def _check_unacknowledged_end(app: App, call: Call) -> str:
    """The end was sent but not answered: all or nothing. Returns which."""
    row = _call_row(app, call.call_id)
    assert row is not None  # its authorize was acknowledged
    settles = _settlements(app, row.reservation_id)
    reservation = _reservation_state(app, row.reservation_id)
    if row.end_response is not None:
        assert row.state == "ended"
        assert reservation == L.SETTLED
        assert settles == (1 if cost_cents(call.answered) else 0)
        return "applied"
    assert row.state in ("authorized", "expired"), f"{call.call_id}: half-applied ({row.state})"
    assert reservation in (L.PENDING, L.EXPIRED)
    assert settles == 0
    return "not applied"


def _gateway_versus_ledger(app: App) -> tuple[int, int]:
    """(sum of succeeded gateway charges, sum of card → prepaid credits)."""
    with app.uow(readonly=True) as uow:
        charged = uow.conn.execute(
            select(func.coalesce(func.sum(t.gateway_charges.c.amount), 0)).where(
                t.gateway_charges.c.kind == "charge", t.gateway_charges.c.status == "succeeded"
            )
        ).scalar_one()
        credited = uow.conn.execute(
            select(func.coalesce(func.sum(t.transfers.c.amount), 0)).where(
                t.transfers.c.debit_ledger == L.CARD, t.transfers.c.credit_ledger == L.PREPAID
            )
        ).scalar_one()
    return int(charged), int(credited)


def _funds_credits(app: App) -> Counter[str]:
    """How many times each purchase key was credited."""
    with app.uow(readonly=True) as uow:
        keys = uow.conn.execute(
            select(t.idempotency_keys.c.key).where(t.idempotency_keys.c.key.like("purchase:%"))
        ).scalars()
        return Counter(str(k) for k in keys)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(db_url: str, tmp_path: Path) -> None:
    """ROUNDS kill/restart rounds under load: every acknowledged call and
    purchase is there exactly once, every unacknowledged one is all or
    nothing and settles once when retried, gateway charges equal ledger
    credits, and verify passes."""
    app = bootstrap(Settings(database_url=db_url))
    f.office(app, funds=50_000)
    put_card(app)
    tokens = {"pbx": f.pbx_token(app), "admin": admin_token(app, "atelier")}
    journal = Journal()
    started = time.monotonic()
    for n in range(ROUNDS):
        _round(db_url, tmp_path, tokens, n, journal)
    rounds_took = time.monotonic() - started
    assert set(journal.statuses) <= {200, 201}, (journal.statuses, _errors(tmp_path))

    unacked_ends = {"applied": 0, "not applied": 0}
    unacked_authorizes = {"applied": 0, "not applied": 0}
    server = start_server(db_url, tmp_path, workers=1, env=ENV)
    try:
        pbx = httpx.Client(base_url=server.url, timeout=30,
                           headers={"Authorization": f"Bearer {tokens['pbx']}"})  # fmt: skip
        admin = httpx.Client(base_url=server.url, timeout=30,
                             headers={"Authorization": f"Bearer {tokens['admin']}"})  # fmt: skip
        charged_total = 0
        for call in journal.calls:
            if not call.auth_sent:
                continue
            if call.authorized is None:
                row = _call_row(app, call.call_id)
                unacked_authorizes["applied" if row is not None else "not applied"] += 1
                retried = pbx.post("/pbx/v1/authorize", json=call.authorize_body())
                assert retried.status_code == 200
                call.authorized = retried.json()
            else:
                row = _call_row(app, call.call_id)
                assert row is not None, f"{call.call_id}: acknowledged authorize missing"
                assert row.authorize_response == call.authorized
            assert call.authorized["allow"] is True, call.authorized
            if call.ended is None:
                if call.end_sent:
                    unacked_ends[_check_unacknowledged_end(app, call)] += 1
                ended = pbx.post(f"/pbx/v1/calls/{call.call_id}/end",
                                 json={"answered_seconds": call.answered})  # fmt: skip
                assert ended.status_code == 200
                call.ended = ended.json()
            assert call.ended["charged"] == f"{cost_cents(call.answered) / 100:.2f}"
            _check_call_applied_once(app, call, call.ended["charged"])
            # A late duplicate end moves nothing.
            again = pbx.post(f"/pbx/v1/calls/{call.call_id}/end",
                             json={"answered_seconds": call.answered + 300})  # fmt: skip
            assert again.json() == call.ended
            charged_total += cost_cents(call.answered)

        unacked_purchases = 0
        for purchase in journal.purchases:
            if not purchase.sent:
                continue
            if purchase.answer is None:
                unacked_purchases += 1
                retried = admin.post(
                    "/api/v1/funds", json={"amount": "10", "idempotency_key": purchase.key}
                )
                assert retried.status_code == 201, retried.text
        credits = _funds_credits(app)
        bought = [p for p in journal.purchases if p.sent]
        assert all(credits[f"purchase:api:{p.key}"] == 1 for p in bought), credits
        assert len(credits) == len(bought)
        charged, credited = _gateway_versus_ledger(app)
        assert charged == credited - 50_000 == 1000 * len(bought)  # 50.00 was the opening credit
        balance = admin.get("/api/v1/balance").json()
        assert balance["reserved"] == "0.00"
        expected = 50_000 + 1000 * len(bought) - charged_total
        assert balance["balance"] == f"{expected / 100:.2f}"
        pbx.close()
        admin.close()
    finally:
        server.stop()
    assert cli(db_url, "verify").returncode == 0
    calls = [c for c in journal.calls if c.auth_sent]
    _report(
        db_url, rounds_took, len(calls), len(bought), unacked_authorizes, unacked_ends,
        unacked_purchases,
    )  # fmt: skip
    assert len(calls) >= ROUNDS  # the stream really ran in every round


def _errors(folder: Path) -> str:
    """The server's tracebacks, to explain an unexpected status."""
    log = (folder / "serve.log").read_text(errors="replace")
    return "\n".join(line for line in log.splitlines() if "Error" in line or "File " in line)


def _report(db_url: str, took: float, calls: int, purchases: int, *unacked: object) -> None:
    """One line of figures for the README (shown with ``pytest -s``)."""
    kind = "postgres" if db_url.startswith("postgres") else "sqlite"
    print(
        f"\ncrash[{kind}]: {ROUNDS} SIGKILL rounds in {took:.0f} s, {calls} calls, "
        f"{purchases} purchases; unacknowledged authorizes {unacked[0]}, ends {unacked[1]}, "
        f"purchases {unacked[2]}"
    )


# -- the top-off worker ------------------------------------------------------------


def _topoff_state(app: App) -> list[Any]:
    with app.uow(readonly=True) as uow:
        return list(uow.conn.execute(select(t.topoff_requests)).all())


def _wait(predicate: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _charges(app: App) -> list[Any]:
    with app.uow(readonly=True) as uow:
        return list(
            uow.conn.execute(
                select(t.gateway_charges).where(t.gateway_charges.c.kind == "charge")
            ).all()
        )


@pytest.mark.slow
def test_worker_killed_mid_top_off_charges_and_credits_once(db_url: str, tmp_path: Path) -> None:
    """``callcredit worker`` SIGKILLed while a top-off is being charged (on
    PostgreSQL after the gateway charged and before the credit; on SQLite
    before the charge): after a restart the card is charged once and the
    balance credited once."""
    app = bootstrap(Settings(database_url=db_url))
    f.office(app, funds=1500)
    put_card(app)
    auto_topoff(app, below="10", amount="25")
    gateway = SimulatedGateway(app.engine, app.clock)
    gateway.set_fault("slow", delay=1.5, times=1)
    spend(app, 1000)  # 15.00 → 5.00: one top-off request
    env = {**ENV, "CALLCREDIT_WORKER_INTERVAL_SECONDS": "0.2"}
    worker: Process = start_worker(db_url, tmp_path, env)
    try:
        _wait(lambda: [r.state for r in _topoff_state(app)] == ["charging"], "the claim")
        postgres = app.engine.dialect.name == "postgresql"
        with app.engine.connect() as blocker:
            if postgres:
                # The credit needs the account's row lock: hold it, let the
                # charge land, then kill the worker waiting for the lock.
                blocker.begin()
                blocker.execute(
                    select(t.ledger_balances.c.account_id)
                    .where(t.ledger_balances.c.ledger == L.PREPAID)
                    .with_for_update()
                )
                _wait(lambda: len(_charges(app)) == 1, "the gateway charge")
                time.sleep(0.3)
            else:
                # SQLite: hold the write lock (BEGIN IMMEDIATE) so the
                # charge cannot be written.
                blocker.begin()
                time.sleep(0.3)
            worker.kill()
            blocker.rollback()
        (request,) = _topoff_state(app)
        assert request.state == "charging"
        assert len(_charges(app)) == (1 if postgres else 0)
        assert f.available(app) == 500  # nothing credited yet
        # The claim's lease (5 minutes) runs out: bring it forward rather than wait.
        with app.uow() as uow:
            uow.conn.execute(update(t.topoff_requests).values(next_attempt_at=uow.clock.now()))
        worker = start_worker(db_url, tmp_path, env)
        _wait(lambda: _topoff_state(app)[0].state == "succeeded", "the top-off", timeout=60)
    finally:
        worker.stop()
    charges = _charges(app)
    assert [(c.amount, c.status) for c in charges] == [(2500, "succeeded")]
    with app.uow(readonly=True) as uow:
        topoffs = uow.conn.execute(
            select(t.transfers.c.amount).where(t.transfers.c.kind == L.KIND_AUTO_TOPOFF)
        ).all()
    assert [r.amount for r in topoffs] == [2500]
    assert f.available(app) == 3000
    assert f.verify(app) == []
    app.close()
