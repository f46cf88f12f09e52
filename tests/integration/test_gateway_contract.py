"""Both payment gateways follow the PaymentGateway contract: the built-in
simulation, and the Stripe adapter talking HTTP to a local server that
answers like the Stripe API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from callcredit.adapters import tables as t
from callcredit.adapters.db import make_engine
from callcredit.adapters.gateways.simulated import SimulatedGateway
from callcredit.adapters.gateways.stripe import StripeGateway
from callcredit.domain.cards import validate_card
from callcredit.domain.errors import CardDeclined, GatewayUnavailable, InvalidInput
from callcredit.domain.money import Money
from callcredit.services.ports import PaymentGateway, SavedCard
from tests.billing import DECLINED, FAILS_AFTER_SAVE, INSUFFICIENT, TIMEOUT, VISA
from tests.clocks import FakeClock
from tests.fake_stripe import FakeStripe


@dataclass
class Subject:
    gateway: PaymentGateway
    charges_made: Callable[[], int]  # charges that took money, as the processor sees them


@pytest.fixture(params=["simulated", "stripe"])
def subject(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Subject]:
    if request.param == "simulated":
        engine = make_engine(sqlite_url)
        c = t.gateway_charges.c

        def made() -> int:
            with engine.connect() as conn:
                query = select(func.count()).where(c.kind == "charge", c.status == "succeeded")
                return int(conn.execute(query).scalar_one())

        yield Subject(SimulatedGateway(engine, FakeClock()), made)
        engine.dispose()
        return
    with FakeStripe(slow_seconds=1.0) as fake:
        gateway = StripeGateway("sk_test_fake", api_base=fake.url, timeout=0.3,
                                max_network_retries=0)  # fmt: skip
        yield Subject(gateway, lambda: len(fake.charged()))


def save(gateway: PaymentGateway, number: str, account: str = "atelier") -> SavedCard:
    card = validate_card(number, "12/30", "123", "Camille Martin", today=FakeClock().now().date())
    return gateway.save_card(card, account_id=account)


EUR10 = Money(1000, "EUR")


def test_a_charge_is_made_once_per_idempotency_key(subject: Subject) -> None:
    """Charging twice with one key answers with the first charge; lookup agrees."""
    saved = save(subject.gateway, VISA)
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year) == ("Visa", "4242", 12, 2030)
    first = subject.gateway.charge(saved.token, EUR10, key="k-1", description="test")
    again = subject.gateway.charge(saved.token, EUR10, key="k-1", description="test")
    assert first.status == "succeeded"
    assert again == first
    assert subject.gateway.lookup("k-1") == first
    assert subject.charges_made() == 1


def test_lookup_of_an_unused_key_finds_nothing(subject: Subject) -> None:
    """A key never charged is reported as no charge at all."""
    assert subject.gateway.lookup("never-used") is None


def test_generic_decline_card_is_refused_when_saved(subject: Subject) -> None:
    """4000…0002 cannot be put on file."""
    with pytest.raises(CardDeclined) as caught:
        save(subject.gateway, DECLINED)
    assert caught.value.decline_code == "generic_decline"


@pytest.mark.parametrize(
    ("number", "code"),
    [(INSUFFICIENT, "insufficient_funds"), (FAILS_AFTER_SAVE, "generic_decline")],
)
def test_declines_are_failed_results(subject: Subject, number: str, code: str) -> None:
    """A declined charge is a ``failed`` answer with the decline code, not an error."""
    saved = save(subject.gateway, number)
    result = subject.gateway.charge(saved.token, EUR10, key=f"k-{number}", description="test")
    assert (result.status, result.decline_code) == ("failed", code)
    assert result.message
    assert subject.gateway.lookup(f"k-{number}") is not None
    assert subject.charges_made() == 0


def test_lost_answer_is_unavailable_and_lookup_finds_the_charge(subject: Subject) -> None:
    """4000…8880: the charge goes through but no answer arrives in time; the
    lookup by key then reports it as succeeded."""
    saved = save(subject.gateway, TIMEOUT)
    with pytest.raises(GatewayUnavailable):
        subject.gateway.charge(saved.token, EUR10, key="k-lost", description="test")
    found = subject.gateway.lookup("k-lost")
    assert found is not None
    assert found.status == "succeeded"
    assert subject.charges_made() == 1


def test_refund_happens_once_per_key_and_never_exceeds_the_charge(subject: Subject) -> None:
    """A refund is idempotent and cannot give back more than was charged."""
    saved = save(subject.gateway, VISA)
    charge = subject.gateway.charge(saved.token, EUR10, key="k-r", description="test")
    assert charge.reference is not None
    first = subject.gateway.refund(charge.reference, Money(600, "EUR"), key="r-1")
    assert subject.gateway.refund(charge.reference, Money(600, "EUR"), key="r-1") == first
    with pytest.raises(InvalidInput):
        subject.gateway.refund(charge.reference, Money(600, "EUR"), key="r-2")
    subject.gateway.refund(charge.reference, Money(400, "EUR"), key="r-3")
