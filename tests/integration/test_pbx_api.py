"""The PBX API in process (FastAPI's test client over the real storage):
every deny reason, quotas, idempotency and bad requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.entrypoints.api.app import create_app
from callcredit.services.accounts import get_account
from callcredit.services.extensions import set_rights
from tests import factories as f
from tests.clocks import FakeClock

UK_MOBILE = "0044 7400 123456"  # +447 at 0.15/min, 60/60
US = "+1 212 555 0123"  # +1 at 0.02/min, 30/6
PREMIUM = "08 99 23 45 67"  # +3389 at 0.80/min + 0.15, 1/1


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cc(db_url: str, clock: FakeClock) -> Iterator[App]:
    app = bootstrap(Settings(database_url=db_url, default_quota_seconds=300), clock=clock)
    f.office(app, funds=1000)
    yield app
    app.close()


@pytest.fixture
def client(cc: App) -> Iterator[TestClient]:
    app = create_app(cc, run_background=False, routers=("callcredit.entrypoints.api.pbx",))
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {f.pbx_token(cc)}"
        yield c


def authorize(client: TestClient, call_id: str, destination: str, **extra: object) -> dict:
    body = {
        "call_id": call_id,
        "account": "atelier",
        "extension": "104",
        "destination": destination,
        **extra,
    }
    response = client.post("/pbx/v1/authorize", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_paid_call_reserves_its_quota_and_end_charges_the_contract_cost(
    cc: App, client: TestClient
) -> None:
    """A UK mobile call: 300 s reserved (0.75), 125 s billed 180 s = 0.45."""
    answer = authorize(client, "c1", UK_MOBILE)
    assert answer["allow"] is True
    assert answer["reason"] == "prepaid"
    assert answer["granted_seconds"] == 300
    assert answer["destination"] == {
        "e164": "+447400123456",
        "country": "GB",
        "kind": "mobile",
        "label": answer["destination"]["label"],
    }
    assert answer["rate"] == {
        "per_minute": "0.1500",
        "connect_fee": "0.0000",
        "increment": "60/60",
        "currency": "EUR",
        "matched": "+447",
    }
    assert answer["balance"] == {"currency": "EUR", "available": "9.25"}
    end = client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 125})
    assert end.json() == {
        "call_id": "c1",
        "billed_seconds": 180,
        "charged": "0.45",
        "balance": {"currency": "EUR", "available": "9.55"},
    }
    assert f.verify(cc) == []


def test_repeated_requests_return_the_first_answer_and_move_nothing(
    cc: App, client: TestClient
) -> None:
    """authorize, reauthorize and end are idempotent on call_id."""
    first = authorize(client, "c1", UK_MOBILE)
    assert authorize(client, "c1", UK_MOBILE) == first
    re1 = client.post("/pbx/v1/calls/c1/reauthorize", json={"used_seconds": 280}).json()
    re2 = client.post("/pbx/v1/calls/c1/reauthorize", json={"used_seconds": 280}).json()
    assert re1 == re2
    end1 = client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 400}).json()
    end2 = client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 400}).json()
    end3 = client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 9}).json()
    assert end1 == end2 == end3
    assert end1["charged"] == "1.05"  # 420 s at 0.15/min
    assert f.available(cc) == 1000 - 105
    assert f.verify(cc) == []


def test_call_id_reused_for_another_call_is_a_conflict(client: TestClient) -> None:
    """The same call_id with a different destination is refused with 409."""
    authorize(client, "c1", UK_MOBILE)
    body = {"call_id": "c1", "account": "atelier", "extension": "104", "destination": US}
    response = client.post("/pbx/v1/authorize", json=body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"


def test_reauthorize_grows_the_hold_then_reports_seconds_left(cc: App, client: TestClient) -> None:
    """With 1.00 available a UK mobile call gets 300 s, then up to 360 s in
    all (0.90), then only the seconds left."""
    cc2 = cc
    with cc2.uow() as uow:
        uow.ledger.transfer(
            "atelier",
            key="spend",
            debit="prepaid",
            credit="revenue",
            amount=900,
            kind="call.charge",
        )
    first = authorize(client, "c1", UK_MOBILE)
    assert first["granted_seconds"] == 300  # 0.75 of 1.00
    more = client.post("/pbx/v1/calls/c1/reauthorize", json={"used_seconds": 280}).json()
    assert more["allow"] is True
    assert more["granted_seconds"] == 360 - 280  # 6 minutes = 0.90 ≤ 1.00 < 7 minutes
    gone = client.post("/pbx/v1/calls/c1/reauthorize", json={"used_seconds": 350}).json()
    assert gone["allow"] is False
    assert gone["reason"] == "insufficient_funds"
    assert gone["granted_seconds"] == 10
    end = client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 360}).json()
    assert end["charged"] == "0.90"
    assert f.available(cc) == 10
    assert f.verify(cc) == []


def test_overrun_is_charged_and_flagged(cc: App, client: TestClient) -> None:
    """A call reported longer than granted is charged in full; verify accepts the flag."""
    with cc.uow() as uow:
        uow.ledger.transfer(
            "atelier",
            key="spend",
            debit="prepaid",
            credit="revenue",
            amount=900,
            kind="call.charge",
        )
    authorize(client, "c1", UK_MOBILE, quota_seconds=600)
    end = client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 900}).json()
    assert end["charged"] == "2.25"
    assert end["balance"]["available"] == "-1.25"
    assert f.verify(cc) == []


@pytest.mark.parametrize(
    ("destination", "reason", "granted"),
    [
        ("112", "emergency", None),
        ("15", "emergency", None),
        ("06 12 34 56 78", "included", None),
        ("01 42 68 53 00", "included", None),
        ("0044 20 7946 0000", "included", None),
        ("hello", "invalid_number", 0),
        ("+999 123", "invalid_number", 0),
    ],
)
def test_free_and_invalid_destinations(
    cc: App, client: TestClient, destination: str, reason: str, granted: int | None
) -> None:
    """Emergency and included calls are free and unlimited; garbage is invalid."""
    answer = authorize(client, "c1", destination)
    assert (answer["reason"], answer["granted_seconds"]) == (reason, granted)
    assert answer["allow"] is (reason in ("emergency", "included"))
    client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 600})
    assert f.available(cc) == 1000


def test_emergency_allowed_with_zero_balance_and_blocked_extension(
    cc: App, client: TestClient
) -> None:
    """112 goes through whatever the balance and the extension's rights."""
    with cc.uow() as uow:
        set_rights(uow, "atelier", "104", paid_allowed=False)
        uow.ledger.transfer(
            "atelier",
            key="spend",
            debit="prepaid",
            credit="revenue",
            amount=1000,
            kind="call.charge",
        )
    assert authorize(client, "c1", "112")["allow"] is True


def test_every_deny_reason(cc: App, client: TestClient, clock: FakeClock) -> None:
    """Each of the contract's deny reasons is reachable through the API."""

    def reason(
        call_id: str, destination: str, account: str = "atelier", extension: str = "104"
    ) -> str:
        body = {
            "call_id": call_id,
            "account": account,
            "extension": extension,
            "destination": destination,
        }
        return str(client.post("/pbx/v1/authorize", json=body).json()["reason"])

    assert reason("d1", US, account="nobody") == "unknown_account"
    assert reason("d2", US, extension="999") == "unknown_extension"
    assert reason("d3", "not a number") == "invalid_number"
    assert reason("d4", "+882 1234 5678") == "prepaid"
    client.post("/pbx/v1/calls/d4/end", json={"answered_seconds": 0})
    with cc.uow() as uow:
        uow.conn.exec_driver_sql("DELETE FROM rates WHERE prefix = '+1'")
        uow.conn.exec_driver_sql("UPDATE rate_decks SET version = version")
    from callcredit.adapters.rating_store import rate_tables

    rate_tables.clear()
    assert reason("d5", US) == "destination_blocked"
    with cc.uow() as uow:
        set_rights(uow, "atelier", "104", premium_allowed=False)
    assert reason("d6", PREMIUM) == "extension_blocked"
    with cc.uow() as uow:
        set_rights(uow, "atelier", "104", premium_allowed=True, paid_allowed=False)
    assert reason("d7", UK_MOBILE) == "extension_blocked"
    with cc.uow() as uow:
        set_rights(uow, "atelier", "104", paid_allowed=True, monthly_cap=0)
    assert reason("d8", UK_MOBILE) == "extension_cap_reached"
    with cc.uow() as uow:
        set_rights(uow, "atelier", "104", clear_cap=True)
        uow.conn.exec_driver_sql(
            "UPDATE accounts SET low_balance_mode = 'stop-below', low_balance_below = 2000"
        )
    assert reason("d9", UK_MOBILE) == "low_balance"
    with cc.uow() as uow:
        uow.conn.exec_driver_sql(
            "UPDATE accounts SET low_balance_mode = 'off', fraud_concurrent_calls = 1"
        )
    assert reason("d10", UK_MOBILE) == "prepaid"
    assert reason("d11", UK_MOBILE) == "fraud_guard"
    with cc.uow() as uow:
        uow.conn.exec_driver_sql("UPDATE accounts SET fraud_concurrent_calls = NULL")
        uow.conn.exec_driver_sql("SELECT 1")
        assert (
            uow.conn.exec_driver_sql(
                "SELECT count(*) FROM alerts WHERE kind = 'fraud_guard'"
            ).scalar()
            == 1
        )
        uow.ledger.transfer(
            "atelier",
            key="spend",
            debit="prepaid",
            credit="revenue",
            amount=1000 - 75 - 1,
            kind="call.charge",
        )
    assert reason("d12", "+33 1 40 20 50 50") == "included"
    assert reason("d13", PREMIUM) == "insufficient_funds"  # needs 0.15 + 0.80/60 > 0.01 left
    with cc.uow() as uow:
        assert get_account(uow, "atelier").low_balance_mode == "off"
    assert f.verify(cc) == []


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/pbx/v1/authorize", {"account": "atelier"}, 422),
        (
            "/pbx/v1/authorize",
            {
                "call_id": "x",
                "account": "atelier",
                "extension": "104",
                "destination": US,
                "quota_seconds": -5,
            },
            422,
        ),
        (
            "/pbx/v1/authorize",
            {
                "call_id": "x",
                "account": "atelier",
                "extension": "104",
                "destination": US,
                "quota_seconds": 10**12,
            },
            422,
        ),
        ("/pbx/v1/calls/nope/end", {"answered_seconds": 3}, 404),
        ("/pbx/v1/calls/nope/reauthorize", {"used_seconds": 3}, 404),
        ("/pbx/v1/calls/c1/end", {"answered_seconds": -1}, 422),
        ("/pbx/v1/calls/c1/end", {"answered_seconds": 10**9}, 422),
        ("/pbx/v1/calls/c1/end", {}, 422),
    ],
)
def test_bad_requests_get_the_contract_error_and_move_nothing(
    cc: App, client: TestClient, path: str, body: dict, status: int
) -> None:
    """Malformed bodies give 422, unknown calls 404, with a JSON error."""
    authorize(client, "c1", UK_MOBILE)
    before = f.available(cc)
    response = client.post(path, json=body)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"code", "message"}
    assert f.available(cc) == before


def test_wrong_token_and_non_json_body(cc: App, client: TestClient) -> None:
    """No or wrong token is 401; a body that is not JSON is 422."""
    body = {"call_id": "x", "account": "atelier", "extension": "104", "destination": US}
    assert (
        client.post("/pbx/v1/authorize", json=body, headers={"Authorization": ""}).status_code
        == 401
    )
    wrong = client.post("/pbx/v1/authorize", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"
    garbage = client.post(
        "/pbx/v1/authorize", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 422
    assert f.available(cc) == 1000


def test_sweeper_releases_unended_calls_and_a_late_end_still_settles_once(
    cc: App, client: TestClient, clock: FakeClock
) -> None:
    """Granted time + grace after authorize the hold is released; a late end posts once."""
    from callcredit.services.charging import sweep

    authorize(client, "c1", UK_MOBILE)
    assert f.available(cc) == 925
    clock.advance(300 + cc.settings.reservation_grace_seconds + 1)
    assert sweep(cc) == 1
    assert f.available(cc) == 1000
    end = client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 60}).json()
    assert end["charged"] == "0.15"
    client.post("/pbx/v1/calls/c1/end", json={"answered_seconds": 60})
    assert f.available(cc) == 985
    assert f.verify(cc) == []


def test_healthz_and_openapi(client: TestClient) -> None:
    """The health check answers and the OpenAPI document lists the PBX routes."""
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/pbx/v1/authorize",
        "/pbx/v1/calls/{call_id}/reauthorize",
        "/pbx/v1/calls/{call_id}/end",
    } <= set(paths)


def test_reauthorize_uses_the_quota_the_pbx_asked_for(cc: App, client: TestClient) -> None:
    """A PBX asking for 120 s quotas gets 120 s more at each reauthorize."""
    first = authorize(client, "c1", UK_MOBILE, quota_seconds=120)
    assert first["granted_seconds"] == 120
    more = client.post("/pbx/v1/calls/c1/reauthorize", json={"used_seconds": 110}).json()
    assert more["granted_seconds"] == 180 - 110  # the last 60/60 boundary within 110 + 120 s
    assert more["allow"] is True
