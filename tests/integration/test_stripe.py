"""The Stripe gateway through the whole product, against a local server that
answers like the Stripe API, and the signed ``POST /webhooks/stripe``."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callcredit.adapters import tables as t
from callcredit.adapters.gateways.stripe import StripeGateway
from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.domain.cards import validate_card
from callcredit.domain.errors import CardDeclined
from callcredit.entrypoints.api import errors, webhooks
from callcredit.services import topoff
from tests.billing import (
    INSUFFICIENT,
    TIMEOUT,
    VISA,
    auto_topoff,
    available,
    billing_app,
    buy,
    office,
    put_card,
    rows,
    spend,
    transfers,
    verify,
)
from tests.clocks import FakeClock
from tests.fake_stripe import FakeStripe

SECRET = "whsec_test_secret"


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    with FakeStripe() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(db_url: str, fake: FakeStripe, clock: FakeClock) -> Iterator[App]:
    built = billing_app(
        db_url, clock, payment_gateway="stripe", stripe_api_key="sk_test_fake",
        stripe_api_base=fake.url, stripe_webhook_secret=SECRET,
    )  # fmt: skip
    office(built)
    yield built
    built.close()


def test_add_funds_and_top_off_through_stripe(app: App, fake: FakeStripe) -> None:
    """Card on file, Add Funds and an automatic top-off all go through Stripe:
    off-session, confirmed PaymentIntents carrying our idempotency key."""
    card = put_card(app)
    assert card.gateway == "stripe"
    assert card.token.startswith("cus_fake")
    assert "/pm_fake" in card.token
    buy(app, "25", key="web:first")
    auto_topoff(app, below="10", amount="10")
    spend(app, 1600)
    topoff.run_round(app)
    assert available(app) == 1900
    [added] = transfers(app, L.KIND_FUNDS_ADDED)
    assert added.reference.startswith("Visa •••• 4242 · pi_fake")
    assert len(transfers(app, L.KIND_AUTO_TOPOFF)) == 1
    intents = [(form, headers) for method, path, form, headers in fake.requests
               if (method, path) == ("POST", "/v1/payment_intents")]  # fmt: skip
    assert len(intents) == 2
    for form, headers in intents:
        assert (form["off_session"], form["confirm"]) == ("true", "true")
        assert headers["idempotency-key"] == form["metadata[callcredit_key]"]
    assert intents[0][0]["metadata[callcredit_key]"] == "funds:atelier:web:first"
    assert (intents[0][0]["amount"], intents[0][0]["currency"]) == ("2500", "eur")
    assert len(fake.charged()) == 2
    assert verify(app) == []


def test_declined_card_through_stripe_adds_nothing(app: App, fake: FakeStripe) -> None:
    """A Stripe card_error decline becomes a clear refusal; nothing is credited."""
    put_card(app, INSUFFICIENT)
    with pytest.raises(CardDeclined, match="insufficient funds"):
        buy(app, "25")
    assert available(app) == 0
    assert fake.charged() == []
    assert verify(app) == []


def test_new_card_keeps_the_stripe_customer(app: App, fake: FakeStripe) -> None:
    """Replacing the card on file reuses the account's Stripe customer."""
    first = put_card(app)
    second = put_card(app, "5555555555554444")
    assert first.token.split("/")[0] == second.token.split("/")[0]
    assert second.label == "Mastercard •••• 4444"
    assert len(fake.customers) == 1


def test_stripe_debug_logs_never_show_the_card_number(
    fake: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    """The library logs request bodies at DEBUG; number and CVC are cut out."""
    caplog.set_level(logging.DEBUG)
    gateway = StripeGateway("sk_test_fake", api_base=fake.url, max_network_retries=0)
    card = validate_card(VISA, "12/30", "7391", "Camille Martin", today=FakeClock().now().date())
    gateway.save_card(card, account_id="atelier")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Post details" in text  # the bodies were logged ...
    assert "[redacted]" in text  # ... without the card details
    assert VISA not in text
    assert "7391" not in text


def sign(payload: bytes, secret: str = SECRET) -> str:
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def event(key: str, kind: str = "payment_intent.succeeded") -> bytes:
    intent = {"id": "pi_fake9", "object": "payment_intent", "status": "succeeded",
              "metadata": {"callcredit_key": key}}  # fmt: skip
    body = {"id": "evt_1", "object": "event", "type": kind, "data": {"object": intent}}
    return json.dumps(body).encode()


def client_for(app: App) -> TestClient:
    api = FastAPI()
    api.state.cc = app
    errors.install(api)
    webhooks.install(api)
    return TestClient(api)


def test_signed_webhook_brings_forward_the_lookup_of_a_lost_charge(
    app: App, clock: FakeClock
) -> None:
    """payment_intent.succeeded for a top-off whose answer was lost makes the
    worker look it up at once; the lookup, not the event, credits it once."""
    put_card(app, TIMEOUT)
    with app.uow() as uow:
        uow.ledger.transfer("atelier", key="seed", debit=L.CARD, credit=L.PREPAID, amount=2500,
                            kind=L.KIND_FUNDS_ADDED)  # fmt: skip
    auto_topoff(app, below="10", amount="10")
    spend(app, 1600)
    gateway = StripeGateway("sk_test_fake", api_base=app.settings.stripe_api_base, timeout=0.3,
                            max_network_retries=0)  # fmt: skip
    app.gateway = gateway
    topoff.run_round(app)  # the answer times out
    [request] = rows(app, t.topoff_requests)
    assert request.state == "charging"
    assert topoff.run_round(app) == 0  # waiting for its back-off
    client = client_for(app)
    payload = event(request.charge_key)
    answer = client.post("/webhooks/stripe", content=payload,
                         headers={"Stripe-Signature": sign(payload)})  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["matched"] is True
    assert topoff.run_round(app) == 1
    assert available(app) == 1900
    assert len(transfers(app, L.KIND_AUTO_TOPOFF)) == 1
    assert verify(app) == []


def test_webhook_with_a_bad_signature_is_refused(app: App) -> None:
    """An event not signed with our secret is refused with 400 and ignored."""
    payload = event("topoff:atelier:x")
    forged = {"Stripe-Signature": sign(payload, "whsec_other")}
    answer = client_for(app).post("/webhooks/stripe", content=payload, headers=forged)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_signature"


def test_webhook_is_not_found_without_a_secret(db_url: str) -> None:
    """Without CALLCREDIT_STRIPE_WEBHOOK_SECRET the endpoint does not exist."""
    plain = billing_app(db_url)
    try:
        payload = event("k")
        answer = client_for(plain).post("/webhooks/stripe", content=payload,
                                        headers={"Stripe-Signature": sign(payload)})  # fmt: skip
        assert answer.status_code == 404
    finally:
        plain.close()
