"""Payment gateway faults against a real ``callcredit serve`` (with its
top-off and purchase loops), on SQLite and PostgreSQL.

While paid calls drain the balance (so automatic top-offs are requested)
and Add Funds purchases arrive over the admin API, the simulated gateway is
switched between working, down, timing out (charges made, answers lost) and
slow. Afterwards the faults are cleared, the unanswered purchases retried
with their keys and the pending top-offs looked up. Then, per purchase and
per top-off: at most one succeeded charge, a credit exactly when there is a
succeeded charge, and the gateway's total equals the ledger's credits.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from callcredit.adapters import tables as t
from callcredit.adapters.gateways.simulated import Fault, SimulatedGateway
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from tests import factories as f
from tests.billing import auto_topoff, put_card
from tests.e2e.crashing import start_server
from tests.e2e.server import cli
from tests.officemanager import admin_token

OPENING = 3000  # credited by hand, without a gateway charge
FAULTS: list[tuple[Fault | None, float]] = [(None, 0), ("down", 0), ("timeout", 0), ("slow", 0.4)]
ENV = {
    "CALLCREDIT_FRAUD_CONCURRENT_CALLS": "1000",
    "CALLCREDIT_FRAUD_SPEND_PER_HOUR": "100000",
    "CALLCREDIT_TOPOFF_DAILY_CAP": "1000",
    "CALLCREDIT_WORKER_INTERVAL_SECONDS": "0.2",
    "CALLCREDIT_LOG_LEVEL": "warning",
}


def owner_of(charge_key: str) -> str:
    """The purchase or top-off request a gateway charge was made for."""
    return charge_key.split("~", 1)[0]


def ledger_and_gateway(db_url: str) -> dict[str, Any]:
    app = bootstrap(Settings(database_url=db_url))
    try:
        with app.uow(readonly=True) as uow:
            charges = uow.conn.execute(
                select(t.gateway_charges).where(t.gateway_charges.c.kind == "charge")
            ).all()
            purchases = uow.conn.execute(select(t.purchases)).all()
            requests = uow.conn.execute(select(t.topoff_requests)).all()
            credits = uow.conn.execute(
                select(t.transfers.c.amount, t.transfers.c.kind).where(
                    t.transfers.c.debit_ledger == L.CARD
                )
            ).all()
            problems = uow.ledger.verify()
    finally:
        app.close()
    return {"charges": charges, "purchases": purchases, "requests": requests,
            "credits": credits, "problems": problems}  # fmt: skip


def check_money(state: dict[str, Any], *, settled: bool) -> None:
    """At most one succeeded charge per purchase or top-off; credits only
    for succeeded charges (and, once settled, for every one of them)."""
    succeeded = Counter(owner_of(c.idempotency_key) for c in state["charges"]
                        if c.status == "succeeded")  # fmt: skip
    assert all(n == 1 for n in succeeded.values()), succeeded
    credited = {p.charge_key for p in state["purchases"] if p.state == "succeeded"}
    credited |= {owner_of(r.charge_key) for r in state["requests"] if r.state == "succeeded"}
    assert credited <= set(succeeded), "a credit without a succeeded charge"
    if settled:
        assert credited == set(succeeded), "a succeeded charge never credited"
    charged = sum(c.amount for c in state["charges"] if c.status == "succeeded")
    credit_total = sum(amount for amount, _ in state["credits"]) - OPENING
    if settled:
        assert charged == credit_total
    else:
        assert credit_total <= charged
    assert state["problems"] == []


def bring_forward(app: App) -> list[Any]:
    """Make the open top-off requests due now; returns them."""
    r = t.topoff_requests.c
    with app.uow() as uow:
        uow.conn.execute(
            update(t.topoff_requests)
            .where(r.state.in_(("pending", "charging")))
            .values(next_attempt_at=uow.clock.now())
        )
        return list(
            uow.conn.execute(select(r.request_id).where(r.state.in_(("pending", "charging")))).all()
        )


@pytest.mark.slow
def test_gateway_failing_timing_out_and_slow_never_double_charges_or_credits_unpaid(
    db_url: str, tmp_path: Path
) -> None:
    """Add Funds and automatic top-off through a gateway that fails, times
    out and answers slowly: never two charges for one purchase or top-off,
    never a credit without a succeeded charge, and all settled in the end."""
    app = bootstrap(Settings(database_url=db_url))
    f.office(app, funds=OPENING)
    put_card(app)
    auto_topoff(app, below="10", amount="25")
    tokens = {"pbx": f.pbx_token(app), "admin": admin_token(app, "atelier")}
    gateway = SimulatedGateway(app.engine, app.clock)
    server = start_server(db_url, tmp_path, workers=2, env=ENV)
    statuses: Counter[int] = Counter()
    unanswered: list[str] = []
    faults_set = 0
    try:
        pbx = httpx.Client(base_url=server.url, timeout=30,
                           headers={"Authorization": f"Bearer {tokens['pbx']}"})  # fmt: skip
        admin = httpx.Client(base_url=server.url, timeout=30,
                             headers={"Authorization": f"Bearer {tokens['admin']}"})  # fmt: skip
        for n in range(3 * len(FAULTS)):
            mode, delay = FAULTS[n % len(FAULTS)]
            if mode is None:
                gateway.clear_fault()
            else:
                gateway.set_fault(mode, delay=delay)
                faults_set += 1
            key = f"buy-{n}"
            bought = admin.post("/api/v1/funds", json={"amount": "10", "idempotency_key": key})
            statuses[bought.status_code] += 1
            assert bought.status_code in (201, 503), bought.text
            if bought.status_code != 201:
                assert bought.json()["error"]["code"] == "gateway_unavailable"
                unanswered.append(key)
            for k in range(2):  # two 30-minute calls: 4.50 each
                call = {"call_id": f"call-{n}-{k}", "account": "atelier", "extension": "101",
                        "destination": "+44 7400 123456", "quota_seconds": 1800}  # fmt: skip
                answer = pbx.post("/pbx/v1/authorize", json=call)
                assert answer.status_code == 200
                if answer.json()["allow"]:
                    ended = pbx.post(f"/pbx/v1/calls/call-{n}-{k}/end",
                                     json={"answered_seconds": 1800})  # fmt: skip
                    assert ended.status_code == 200
            # Top-offs waiting out a back-off (30 s or more after no answer)
            # are brought forward, so each fault meets their lookups too.
            bring_forward(app)
            time.sleep(0.6)  # the worker's rounds meet this fault
            check_money(ledger_and_gateway(db_url), settled=False)
        gateway.clear_fault()
        for key in unanswered:
            retried = admin.post("/api/v1/funds", json={"amount": "10", "idempotency_key": key})
            assert retried.status_code == 201, retried.text
        deadline = time.monotonic() + 60
        while True:
            open_requests = bring_forward(app)
            if not open_requests:
                break
            assert time.monotonic() < deadline, f"top-offs still open: {open_requests}"
            time.sleep(0.5)
        pbx.close()
        admin.close()
    finally:
        server.stop()
        app.close()
    state = ledger_and_gateway(db_url)
    check_money(state, settled=True)
    assert {p.state for p in state["purchases"]} == {"succeeded"}
    topoffs = Counter(r.state for r in state["requests"])
    assert topoffs["succeeded"] >= 1, topoffs
    assert cli(db_url, "verify").returncode == 0
    print(
        f"\ngateway faults[{'postgres' if db_url.startswith('postgres') else 'sqlite'}]: "
        f"{faults_set} faults set, "
        f"{sum(statuses.values())} purchases ({statuses[503]} unanswered then retried), "
        f"top-offs {dict(topoffs)}, {len(state['charges'])} gateway charges"
    )
