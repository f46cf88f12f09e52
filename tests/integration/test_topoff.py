"""Automatic top-off with each test card, on real SQLite and PostgreSQL: one
top-off per dip, credited only for a succeeded charge, never charged twice,
suspended after repeated failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import update

from callcredit.adapters import tables as t
from callcredit.adapters.gateways.simulated import SimulatedGateway
from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.services import settings as low_balance
from callcredit.services import topoff
from tests.billing import (
    FAILS_AFTER_SAVE,
    INSUFFICIENT,
    TIMEOUT,
    VISA,
    account_row,
    auto_topoff,
    available,
    billing_app,
    buy,
    count,
    gateway_charges,
    office,
    put_card,
    rows,
    spend,
    transfers,
    verify,
)
from tests.clocks import FakeClock
from tests.factories import credit


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(db_url: str, clock: FakeClock) -> Iterator[App]:
    built = billing_app(db_url, clock)
    office(built)
    yield built
    built.close()


def funded(app: App, number: str = VISA) -> None:
    """A card on file, 25.00 bought with a good card, then top off 10.00 below 10.00."""
    put_card(app)
    buy(app, "25")
    if number != VISA:
        put_card(app, number)
    auto_topoff(app, below="10", amount="10")


def requests(app: App) -> list[Any]:
    return rows(app, t.topoff_requests)


def test_dip_below_threshold_tops_off_once(app: App) -> None:
    """4242…: falling below 10.00 charges 10.00 once and credits it once."""
    funded(app)
    spend(app, 1600)  # 9.00 left
    spend(app, 100)  # 8.00, same dip
    assert topoff.run_round(app) == 1
    assert topoff.run_round(app) == 0
    assert available(app) == 1800
    [credit] = transfers(app, L.KIND_AUTO_TOPOFF)
    assert (credit.debit_ledger, credit.credit_ledger, credit.amount) == (L.CARD, L.PREPAID, 1000)
    assert credit.reference.startswith("Visa •••• 4242 · ch_sim_")
    [request] = requests(app)
    assert request.state == "succeeded"
    assert len(gateway_charges(app)) == 2  # the purchase and the top-off
    assert count(app, t.outbox, kind="receipt.topoff") == 1
    assert verify(app) == []


def test_next_dip_after_recovery_tops_off_again(app: App) -> None:
    """Back above the threshold re-arms the watch: the next dip tops off again."""
    funded(app)
    spend(app, 1600)
    topoff.run_round(app)  # 19.00
    spend(app, 1000)  # 9.00: a new dip
    topoff.run_round(app)
    assert available(app) == 1900
    assert len(transfers(app, L.KIND_AUTO_TOPOFF)) == 2
    assert verify(app) == []


@pytest.mark.parametrize(
    ("number", "code"),
    [(INSUFFICIENT, "insufficient_funds"), (FAILS_AFTER_SAVE, "generic_decline")],
)
def test_declining_card_is_retried_then_suspended(
    app: App, clock: FakeClock, number: str, code: str
) -> None:
    """4000…9995 and 4000…0341: each decline is retried after a back-off with a
    new key; after three in a row top-off is suspended, an alert recorded and
    the administrator told; nothing is ever credited."""
    funded(app, number)
    spend(app, 1600)
    assert topoff.run_round(app) == 1
    assert account_row(app).topoff_failures == 1
    assert topoff.run_round(app) == 0  # waits for its back-off
    clock.advance(10 * 60)
    assert topoff.run_round(app) == 1
    clock.advance(60 * 60)
    assert topoff.run_round(app) == 1
    account = account_row(app)
    assert (account.topoff_failures, account.topoff_suspended) == (3, True)
    [request] = requests(app)
    assert request.state == "failed"
    charges = gateway_charges(app)[1:]
    assert [c.status for c in charges] == ["failed"] * 3
    assert {c.decline_code for c in charges} == {code}
    assert len({c.idempotency_key for c in charges}) == 3
    assert transfers(app, L.KIND_AUTO_TOPOFF) == []
    assert available(app) == 900
    kinds = sorted(a.kind for a in rows(app, t.alerts))
    assert kinds == ["topoff.failed", "topoff.failed", "topoff.suspended"]
    assert count(app, t.outbox, kind="topoff.failed") == 2
    assert count(app, t.outbox, kind="topoff.suspended") == 1
    spend(app, 100)  # suspended: no new request
    assert len(requests(app)) == 1
    assert verify(app) == []


def test_a_success_resets_the_failure_count(app: App, clock: FakeClock) -> None:
    """One decline, then the bank accepts the card: the retry succeeds and the
    count of failures in a row goes back to zero."""
    funded(app, INSUFFICIENT)
    spend(app, 1600)
    topoff.run_round(app)
    assert account_row(app).topoff_failures == 1
    with app.engine.begin() as conn:
        conn.execute(update(t.gateway_cards).values(behaviour="succeed"))
    clock.advance(10 * 60)
    topoff.run_round(app)
    assert account_row(app).topoff_failures == 0
    assert available(app) == 1900
    assert len(transfers(app, L.KIND_AUTO_TOPOFF)) == 1
    assert verify(app) == []


def test_a_new_card_lifts_a_suspension(app: App, clock: FakeClock) -> None:
    """Saving a new card after a suspension re-arms top-off and tops off the
    current dip."""
    funded(app, INSUFFICIENT)
    spend(app, 1600)
    for wait in (0, 600, 3600):
        clock.advance(wait)
        topoff.run_round(app)
    assert account_row(app).topoff_suspended
    put_card(app, VISA)
    assert not account_row(app).topoff_suspended
    topoff.run_round(app)
    assert available(app) == 1900
    assert verify(app) == []


def test_timeout_card_then_worker_restart_charges_and_credits_once(
    app: App, db_url: str, clock: FakeClock
) -> None:
    """4000…8880: the charge succeeds but its answer is lost; a new worker over
    the same database looks it up by key: one charge, one credit."""
    funded(app, TIMEOUT)
    spend(app, 1600)
    assert topoff.run_round(app) == 1
    assert available(app) == 900  # not credited without a known success
    [request] = requests(app)
    assert request.state == "charging"
    app.close()
    restarted = billing_app(db_url, clock)
    try:
        clock.advance(31)
        assert topoff.run_round(restarted) == 1
        assert available(restarted) == 1900
        assert [c.status for c in gateway_charges(restarted)] == ["succeeded", "succeeded"]
        assert len(transfers(restarted, L.KIND_AUTO_TOPOFF)) == 1
        assert topoff.run_round(restarted) == 0
        assert verify(restarted) == []
    finally:
        restarted.close()


def test_gateway_down_is_retried_with_backoff(app: App, clock: FakeClock) -> None:
    """An unreachable gateway is not a decline: no failure is counted and the
    request is retried after a growing wait until it goes through once."""
    funded(app)
    spend(app, 1600)
    gateway = app.payment_gateway()
    assert isinstance(gateway, SimulatedGateway)
    gateway.set_fault("down")
    topoff.run_round(app)
    clock.advance(31)
    topoff.run_round(app)
    [request] = requests(app)
    assert (request.state, request.attempts) == ("charging", 2)
    assert account_row(app).topoff_failures == 0
    gateway.clear_fault()
    clock.advance(30)
    assert topoff.run_round(app) == 0  # second back-off is 60 s
    clock.advance(31)
    assert topoff.run_round(app) == 1
    assert available(app) == 1900
    assert len(gateway_charges(app)) == 2
    assert verify(app) == []


def test_daily_cap_stops_the_sixth_top_off(app: App, clock: FakeClock) -> None:
    """At most topoff_daily_cap (5) top-offs in 24 hours; the next dip is not
    charged, an alert is recorded and the administrator told."""
    funded(app)
    for _ in range(6):
        spend(app, available(app) - 500)  # 5.00 left: a dip
        topoff.run_round(app)
        clock.advance(60)
    assert len(transfers(app, L.KIND_AUTO_TOPOFF)) == 5
    assert [r.state for r in requests(app)].count("skipped") == 1
    assert [a.kind for a in rows(app, t.alerts)] == ["topoff.capped"]
    assert count(app, t.outbox, kind="topoff.capped") == 1
    clock.advance(24 * 3600)
    spend(app, 100)
    buy(app, "10")  # back above 10.00, re-armed
    spend(app, available(app) - 500)
    topoff.run_round(app)
    assert len(transfers(app, L.KIND_AUTO_TOPOFF)) == 6
    assert verify(app) == []


def test_choosing_auto_topoff_below_the_balance_tops_off_at_once(app: App) -> None:
    """Settings changed while already below X: one request at once."""
    put_card(app)
    buy(app, "10")
    auto_topoff(app, below="25", amount="25")
    assert len(requests(app)) == 1
    topoff.run_round(app)
    assert available(app) == 3500
    assert verify(app) == []


def test_request_is_skipped_when_settings_changed(app: App) -> None:
    """A pending request is not charged once the Settings no longer say top off."""
    funded(app)
    spend(app, 1600)
    with app.uow() as uow:
        low_balance.set_low_balance(uow, "atelier", "off")
    assert topoff.run_round(app) == 0
    [request] = requests(app)
    assert request.state == "skipped"
    assert len(gateway_charges(app)) == 1


def test_no_card_on_file_counts_as_a_failed_top_off(app: App) -> None:
    """Without a card the top-off fails (and the administrator is told)."""
    credit(app, "atelier", 2000)
    auto_topoff(app, below="10", amount="10")
    spend(app, 1500)
    topoff.run_round(app)
    assert account_row(app).topoff_failures == 1
    assert count(app, t.outbox, kind="topoff.failed") == 1
    assert gateway_charges(app) == []


def test_fifty_concurrent_debits_make_exactly_one_top_off(app: App) -> None:
    """50 debits at once drive the balance under the threshold: one request,
    and workers racing on it charge and credit it exactly once."""
    put_card(app)
    buy(app, "100")
    auto_topoff(app, below="50", amount="10")
    start = threading.Barrier(50)

    def debit(i: int) -> None:
        start.wait()
        spend(app, 150, key=f"call-{i}")

    with ThreadPoolExecutor(50) as pool:
        list(pool.map(debit, range(50)))
    assert available(app) == 2500
    assert len(requests(app)) == 1
    race = threading.Barrier(6)

    def work(_: int) -> int:
        race.wait()
        return topoff.run_round(app)

    with ThreadPoolExecutor(6) as pool:
        handled = list(pool.map(work, range(6)))
    assert sum(handled) == 1
    assert available(app) == 3500
    assert len(transfers(app, L.KIND_AUTO_TOPOFF)) == 1
    assert len(gateway_charges(app)) == 2
    assert verify(app) == []
