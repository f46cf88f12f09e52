"""Add Funds with each test card, on real SQLite and PostgreSQL: the card is
charged first, the balance credited once and only for a succeeded charge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from callcredit.adapters import tables as t
from callcredit.adapters.gateways.simulated import SimulatedGateway
from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.domain.errors import (
    CardDeclined,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidAmount,
    NoCardOnFile,
)
from callcredit.services import cards, funds
from tests.billing import (
    DECLINED,
    FAILS_AFTER_SAVE,
    INSUFFICIENT,
    TIMEOUT,
    available,
    billing_app,
    buy,
    count,
    eur,
    gateway_charges,
    office,
    put_card,
    rows,
    transfers,
    verify,
)
from tests.clocks import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(db_url: str, clock: FakeClock) -> Iterator[App]:
    built = billing_app(db_url, clock)
    office(built)
    yield built
    built.close()


def simulated(app: App) -> SimulatedGateway:
    gateway = app.payment_gateway()
    assert isinstance(gateway, SimulatedGateway)
    return gateway


def test_visa_card_adds_funds_with_brand_and_last_four(app: App) -> None:
    """4242…: the card is charged 25.00 and the balance credited 25.00 once."""
    put_card(app)
    purchase = buy(app, "25")
    assert purchase.state == "succeeded"
    assert purchase.balance_after == eur("25")
    assert available(app) == 2500
    [added] = transfers(app, L.KIND_FUNDS_ADDED)
    assert (added.debit_ledger, added.credit_ledger, added.amount) == (L.CARD, L.PREPAID, 2500)
    assert added.reference.startswith("Visa •••• 4242 · ch_sim_")
    [charge] = gateway_charges(app)
    assert (charge.status, charge.amount, charge.currency) == ("succeeded", 2500, "EUR")
    assert charge.reference == purchase.charge_reference
    assert verify(app) == []


def test_retrying_a_purchase_key_answers_the_same_and_charges_once(app: App) -> None:
    """The same request key twice: one charge, one credit, the same answer."""
    put_card(app)
    first = buy(app, "50", key="web:abc")
    again = buy(app, "50", key="web:abc")
    assert again == first
    assert available(app) == 5000
    assert len(gateway_charges(app)) == 1
    assert len(transfers(app, L.KIND_FUNDS_ADDED)) == 1
    assert verify(app) == []


def test_a_purchase_key_reused_for_another_amount_is_a_conflict(app: App) -> None:
    """Reusing a request key with a different amount is refused, nothing moves."""
    put_card(app)
    buy(app, "10", key="k1")
    with pytest.raises(IdempotencyConflict):
        buy(app, "25", key="k1")
    assert available(app) == 1000
    assert len(gateway_charges(app)) == 1


@pytest.mark.parametrize("major", ["26", "0", "10.5"])
def test_only_preset_amounts_can_be_bought(app: App, major: str) -> None:
    """An amount outside the presets is refused before the card is charged."""
    put_card(app)
    with pytest.raises(InvalidAmount, match="preset"):
        buy(app, major)
    assert gateway_charges(app) == []
    assert available(app) == 0


def test_declined_card_cannot_be_put_on_file(app: App) -> None:
    """4000…0002: the gateway declines the card when it is saved; nothing is kept
    and Add Funds is refused for want of a card."""
    with pytest.raises(CardDeclined, match="declined") as caught:
        put_card(app, DECLINED)
    assert caught.value.decline_code == "generic_decline"
    with app.uow(readonly=True) as uow:
        assert cards.get_card(uow, "atelier") is None
    with pytest.raises(NoCardOnFile):
        buy(app, "25")
    assert available(app) == 0
    assert gateway_charges(app) == []
    assert verify(app) == []


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [(INSUFFICIENT, "insufficient_funds", "insufficient funds"),
     (FAILS_AFTER_SAVE, "generic_decline", "declined")],
)  # fmt: skip
def test_declined_charge_credits_nothing(app: App, number: str, code: str, message: str) -> None:
    """4000…9995 and 4000…0341 are saved, but the charge is declined: a clear
    error, nothing credited, and a retry with the same key answers the same."""
    card = put_card(app, number)
    assert card.last4 == number[-4:]
    for _ in range(2):
        with pytest.raises(CardDeclined, match=message) as caught:
            buy(app, "25", key="same")
        assert caught.value.decline_code == code
        assert "Nothing was added" in str(caught.value)
    assert available(app) == 0
    assert transfers(app, L.KIND_FUNDS_ADDED) == []
    [charge] = gateway_charges(app)
    assert (charge.status, charge.decline_code) == ("failed", code)
    [purchase] = rows(app, t.purchases)
    assert purchase.state == "failed"
    assert verify(app) == []


def test_timeout_card_is_looked_up_and_credited_once(app: App) -> None:
    """4000…8880: the charge succeeds but its answer is lost; the lookup by
    idempotency key finds it and the balance is credited exactly once."""
    put_card(app, TIMEOUT)
    purchase = buy(app, "25")
    assert purchase.state == "succeeded"
    assert available(app) == 2500
    assert len(gateway_charges(app)) == 1
    assert len(transfers(app, L.KIND_FUNDS_ADDED)) == 1
    assert verify(app) == []


def test_unknown_outcome_is_resolved_in_the_background(app: App, clock: FakeClock) -> None:
    """Answer lost and lookup failing: nothing is credited, the user is told,
    and the background lookup credits the charge once later."""
    put_card(app)
    simulated(app).set_fault("timeout", times=2)  # the charge's answer, then the lookup
    with pytest.raises(GatewayUnavailable, match="at most once"):
        buy(app, "25", key="lost")
    assert available(app) == 0
    assert len(gateway_charges(app)) == 1
    assert funds.reconcile_round(app) == 0  # not before its back-off
    clock.advance(31)
    assert funds.reconcile_round(app) == 1
    assert available(app) == 2500
    assert len(gateway_charges(app)) == 1
    assert buy(app, "25", key="lost").state == "succeeded"  # the retry gets the answer
    assert len(transfers(app, L.KIND_FUNDS_ADDED)) == 1
    assert verify(app) == []


def test_gateway_down_charges_nothing_until_it_is_back(app: App, clock: FakeClock) -> None:
    """With the gateway unreachable nothing is charged or credited; once it
    is back, the pending purchase is charged once and credited once."""
    put_card(app)
    simulated(app).set_fault("down")
    with pytest.raises(GatewayUnavailable):
        buy(app, "10", key="down")
    assert gateway_charges(app) == []
    clock.advance(31)
    assert funds.reconcile_round(app) == 1  # still down: looked at, nothing done
    assert available(app) == 0
    simulated(app).clear_fault()
    clock.advance(61)
    funds.reconcile_round(app)
    assert available(app) == 1000
    assert len(gateway_charges(app)) == 1
    assert count(app, t.purchases, state="succeeded") == 1
    assert verify(app) == []


def test_slow_gateway_still_charges_once(app: App) -> None:
    """A gateway that answers slowly delays the purchase but changes nothing else."""
    put_card(app)
    simulated(app).set_fault("slow", delay=0.3, times=1)
    assert buy(app, "10").state == "succeeded"
    assert available(app) == 1000
    assert len(gateway_charges(app)) == 1


def test_funds_added_writes_a_receipt_to_the_outbox(app: App) -> None:
    """Every purchase leaves one receipt per administrator in the outbox."""
    put_card(app)
    buy(app, "25", key="r1")
    buy(app, "25", key="r1")
    [mail] = rows(app, t.outbox)
    assert (mail.kind, mail.recipient, mail.state) == ("receipt.funds", "admin@atelier.test",
                                                       "pending")  # fmt: skip
    assert "€25.00" in mail.subject
    assert "Visa •••• 4242" in mail.body
