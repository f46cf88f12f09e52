"""The admin REST API: per-account tokens, the office manager's operations
for scripts, and one account never reaching another's data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.entrypoints.api.app import create_app
from callcredit.services import cards
from callcredit.services.extensions import get_extension
from tests import factories as f
from tests.clocks import FakeClock
from tests.officemanager import GOOD_CARD, admin_token, offices


@pytest.fixture
def cc(db_url: str) -> Iterator[App]:
    app = bootstrap(Settings(database_url=db_url), clock=FakeClock())
    offices(app)
    address = cards.BillingAddress("12 rue des Lilas", "", "75011", "Paris", "FR")
    cards.set_card(
        app, "atelier", number=GOOD_CARD, exp="12/29", cvc="123", holder="Claire Martin",
        address=address,
    )  # fmt: skip
    yield app
    app.close()


@pytest.fixture
def api(cc: App) -> Iterator[TestClient]:
    with TestClient(create_app(cc, run_background=False)) as client:
        client.headers["Authorization"] = f"Bearer {admin_token(cc, 'atelier')}"
        yield client


def test_requests_without_an_admin_token_get_401(cc: App, api: TestClient) -> None:
    """No token, a wrong token or a PBX token is refused with the contract's error shape."""
    for header in ("", "Bearer cc_admin_wrong", f"Bearer {f.pbx_token(cc)}"):
        response = api.get("/api/v1/balance", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_add_funds_charges_a_preset_once_per_key(api: TestClient) -> None:
    """Add Funds credits the balance; repeating the same idempotency key adds nothing more."""
    assert api.get("/api/v1/funds/presets").json()["amounts"] == ["10.00", "25.00", "50.00",
                                                                   "100.00"]  # fmt: skip
    body = {"amount": "25.00", "idempotency_key": "order-1"}
    first = api.post("/api/v1/funds", json=body)
    assert first.status_code == 201
    assert first.json()["available"] == "25.00"
    again = api.post("/api/v1/funds", json=body)
    assert again.json()["balance"] == "25.00"
    refused = api.post("/api/v1/funds", json={"amount": "7.00", "idempotency_key": "order-2"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "invalid_amount"


def test_settings_round_trip(api: TestClient) -> None:
    """The Settings drop-down can be read and changed, and bad combinations are refused."""
    assert api.get("/api/v1/settings").json()["mode"] == "off"
    put = api.put("/api/v1/settings", json={"mode": "auto-topoff", "below": "10", "amount": "25"})
    assert put.status_code == 200
    assert put.json() | {} == {"mode": "auto-topoff", "below": "10.00", "amount": "25.00",
                               "currency": "EUR", "topoff_suspended": False}  # fmt: skip
    stop = api.put("/api/v1/settings", json={"mode": "stop-below", "below": "5"})
    assert stop.json()["mode"] == "stop-below"
    assert stop.json()["amount"] is None
    bad = api.put("/api/v1/settings", json={"mode": "auto-topoff", "below": "10"})
    assert bad.status_code == 422


def test_card_summary_never_shows_the_number(api: TestClient) -> None:
    """The card on file is described by brand, last four digits, expiry and address only."""
    card = api.get("/api/v1/card").json()
    assert card["last4"] == "4242"
    assert card["address"]["city"] == "Paris"
    assert "4242424242424242" not in str(card)


def test_activity_filters_totals_and_csv(cc: App, api: TestClient) -> None:
    """The activity lists funding and calls, filters by type and exports the contract's CSV."""
    api.post("/api/v1/funds", json={"amount": "50", "idempotency_key": "k1"})
    _call(cc, "c1", "101", 120)
    _call(cc, "c2", "102", 60)
    everything = api.get("/api/v1/activity").json()
    assert everything["total"] == 3
    assert [e["type"] for e in everything["entries"]] == ["call", "call", "funds_added"]
    calls = api.get("/api/v1/activity", params={"type": "call", "extension": "101"}).json()
    assert calls["total"] == 1
    assert set(calls["totals_per_extension"]) == {"101"}
    csv = api.get("/api/v1/activity.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0] == ("time,type,extension,destination,country,kind,answered_seconds,"
                        "billed_seconds,amount,balance_after,reference")  # fmt: skip
    assert lines[1].split(",")[1] == "funds_added"


def test_extensions_list_and_patch(cc: App, api: TestClient) -> None:
    """Extensions show their rights; a patch changes only what it names."""
    listed = api.get("/api/v1/extensions").json()
    assert [e["extension"] for e in listed] == ["101", "102", "103", "104", "105"]
    patched = api.patch("/api/v1/extensions/103",
                        json={"premium_allowed": False, "monthly_cap": "20"})  # fmt: skip
    assert patched.json()["monthly_cap"] == "20.00"
    assert patched.json()["paid_allowed"] is True
    cleared = api.patch("/api/v1/extensions/103", json={"monthly_cap": None})
    assert cleared.json()["monthly_cap"] is None
    assert cleared.json()["premium_allowed"] is False


def test_another_accounts_data_is_out_of_reach(cc: App, api: TestClient) -> None:
    """With Atelier's token, Boulangerie's extensions are 404 and its balance is never shown."""
    assert api.get("/api/v1/extensions/201").status_code == 404
    response = api.patch("/api/v1/extensions/201", json={"paid_allowed": False})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    with cc.uow(readonly=True) as uow:
        assert get_extension(uow, "boulangerie", "201").paid_allowed is True
    assert api.get("/api/v1/balance").json()["account"] == "atelier"
    bruno = {"Authorization": f"Bearer {admin_token(cc, 'boulangerie')}"}
    other = api.get("/api/v1/card", headers=bruno)
    assert other.status_code == 404


def test_openapi_describes_the_admin_api(api: TestClient) -> None:
    """The OpenAPI document lists the admin routes with their models."""
    doc = api.get("/openapi.json").json()
    paths = ["/api/v1/balance", "/api/v1/funds", "/api/v1/settings", "/api/v1/card"]
    paths += ["/api/v1/activity", "/api/v1/activity.csv", "/api/v1/extensions/{number}"]
    for path in paths:
        assert path in doc["paths"], path
    assert {"PrepaidBalance", "SettingsBody", "ActivityOut", "ExtensionOut"} <= set(
        doc["components"]["schemas"]
    )


def _call(cc: App, call_id: str, extension: str, seconds: int) -> None:
    from callcredit.services import charging

    answer = charging.authorize(
        cc, charging.AuthorizeCall(call_id, "atelier", extension, "+1 212 555 0123")
    )
    assert answer["allow"], answer
    charging.end(cc, charging.EndCall(call_id, seconds))
