"""A PBX that misbehaves: duplicate, out-of-order and missing messages.

Each test pins the documented outcome of one misbehaviour (the README's
"Reliability" table lists them): what the PBX gets back and that no money
moves twice or without a call to pay for.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callcredit.adapters import tables as t
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.services import charging
from callcredit.services.charging import sweep
from tests import factories as f
from tests.clocks import FakeClock

UK_MOBILE = "0044 7400 123456"  # +447 at 0.15/min, 60/60
INCLUDED = "06 12 34 56 78"  # a French mobile: in the fr-office plan


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
    app = create_pbx_app(cc)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {f.pbx_token(cc)}"
        yield c


def create_pbx_app(cc: App) -> Any:
    from callcredit.entrypoints.api.app import create_app

    return create_app(cc, run_background=False, routers=("callcredit.entrypoints.api.pbx",))


def money_state(cc: App) -> tuple[int, int, int]:
    """(posted balance, reserved, number of transfers): equal before and
    after means nothing moved."""
    with cc.uow(readonly=True) as uow:
        balance = uow.ledger.balance("atelier")
        transfers = uow.conn.execute(select(func.count()).select_from(t.transfers)).scalar_one()
    return balance.posted, balance.reserved, int(transfers)


def authorize(client: TestClient, call_id: str, destination: str = UK_MOBILE) -> dict[str, Any]:
    body = {"call_id": call_id, "account": "atelier", "extension": "104",
            "destination": destination}  # fmt: skip
    response = client.post("/pbx/v1/authorize", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def end(client: TestClient, call_id: str, answered: int) -> Any:
    return client.post(f"/pbx/v1/calls/{call_id}/end", json={"answered_seconds": answered})


def reauthorize(client: TestClient, call_id: str, used: int) -> Any:
    return client.post(f"/pbx/v1/calls/{call_id}/reauthorize", json={"used_seconds": used})


def test_end_before_authorize_is_404_and_moves_nothing(cc: App, client: TestClient) -> None:
    """An end for a call never authorized is 404; the later authorize and end work normally."""
    before = money_state(cc)
    early = end(client, "c1", 60)
    assert early.status_code == 404
    assert early.json()["error"]["code"] == "not_found"
    assert money_state(cc) == before
    authorize(client, "c1")
    assert end(client, "c1", 60).json()["charged"] == "0.15"
    assert f.available(cc) == 985
    assert f.verify(cc) == []


def test_reauthorize_before_authorize_is_404_and_moves_nothing(cc: App, client: TestClient) -> None:
    """A reauthorize for a call never authorized is 404 and reserves nothing."""
    before = money_state(cc)
    response = reauthorize(client, "c1", 30)
    assert response.status_code == 404
    assert money_state(cc) == before


def test_reauthorize_after_end_answers_call_ended_with_nothing_granted(
    cc: App, client: TestClient
) -> None:
    """A reauthorize that arrives after the end gets allow=false, reason
    call_ended, granted_seconds 0, and reserves nothing."""
    authorize(client, "c1")
    end(client, "c1", 100)
    before = money_state(cc)
    late = reauthorize(client, "c1", 280)
    assert late.status_code == 200
    body = late.json()
    assert (body["allow"], body["reason"], body["granted_seconds"]) == (False, "call_ended", 0)
    assert body["balance"]["available"] == "9.70"
    assert money_state(cc) == before
    assert reauthorize(client, "c1", 280).json() == body  # a repeat gets the same answer
    assert f.verify(cc) == []


def test_reauthorize_after_expiry_answers_expired(
    cc: App, client: TestClient, clock: FakeClock
) -> None:
    """Once the sweeper released an unended call, a reauthorize gets
    allow=false, reason expired, granted_seconds 0, and reserves nothing."""
    authorize(client, "c1")
    clock.advance(300 + cc.settings.reservation_grace_seconds + 1)
    assert sweep(cc) == 1
    before = money_state(cc)
    body = reauthorize(client, "c1", 420).json()
    assert (body["allow"], body["reason"], body["granted_seconds"]) == (False, "expired", 0)
    assert money_state(cc) == before


def test_end_twice_with_different_seconds_keeps_the_first_answer(
    cc: App, client: TestClient
) -> None:
    """A second end with other seconds gets the first end's answer and moves nothing."""
    authorize(client, "c1")
    first = end(client, "c1", 125).json()
    assert first["charged"] == "0.45"
    after_first = money_state(cc)
    for answered in (125, 10, 9999, 0):
        assert end(client, "c1", answered).json() == first
    assert money_state(cc) == after_first
    assert f.verify(cc) == []


def test_duplicate_authorize_after_end_replays_the_first_answer(
    cc: App, client: TestClient
) -> None:
    """A retransmitted authorize arriving after the end gets the original
    answer and reserves nothing again."""
    first = authorize(client, "c1")
    end(client, "c1", 60)
    before = money_state(cc)
    assert authorize(client, "c1") == first
    assert money_state(cc) == before
    assert f.verify(cc) == []


def test_reauthorize_arriving_out_of_order_keeps_the_time_already_granted(
    cc: App, client: TestClient
) -> None:
    """A stale reauthorize (fewer used seconds than one already answered)
    does not cut the call: it is allowed with the time already reserved."""
    authorize(client, "c1")
    newer = reauthorize(client, "c1", 280).json()
    assert (newer["allow"], newer["granted_seconds"]) == (True, 260)  # 540 s in all
    held = money_state(cc)
    stale = reauthorize(client, "c1", 100).json()
    assert (stale["allow"], stale["reason"], stale["granted_seconds"]) == (True, "prepaid", 440)
    assert money_state(cc) == held
    assert end(client, "c1", 500).json()["charged"] == "1.35"
    assert f.verify(cc) == []


def test_no_end_releases_after_grant_plus_grace_and_a_late_end_settles_once(
    cc: App, client: TestClient, clock: FakeClock
) -> None:
    """Without an end the hold stays until granted time + grace, is then
    released, and a late end still charges once."""
    authorize(client, "c1")
    assert f.available(cc) == 925
    clock.advance(300 + cc.settings.reservation_grace_seconds - 1)
    assert sweep(cc) == 0
    assert f.available(cc) == 925
    clock.advance(2)
    assert sweep(cc) == 1
    assert sweep(cc) == 0
    assert f.available(cc) == 1000
    late = end(client, "c1", 200).json()
    assert late["charged"] == "0.60"
    assert end(client, "c1", 200).json() == late
    assert f.available(cc) == 940
    assert f.verify(cc) == []


def test_end_of_a_denied_call_charges_nothing(cc: App, client: TestClient) -> None:
    """An end reported for a call that was refused charges 0.00 whatever its seconds."""
    denied = authorize(client, "c1", "hello")
    assert denied["allow"] is False
    before = money_state(cc)
    answer = end(client, "c1", 300).json()
    assert (answer["billed_seconds"], answer["charged"]) == (0, "0.00")
    assert money_state(cc) == before


def test_end_of_an_included_call_charges_nothing(cc: App, client: TestClient) -> None:
    """Included calls reserve nothing; their end (and any reauthorize) moves no money."""
    answer = authorize(client, "c1", INCLUDED)
    assert (answer["reason"], answer["granted_seconds"]) == ("included", None)
    before = money_state(cc)
    assert reauthorize(client, "c1", 3000).json()["allow"] is True
    assert end(client, "c1", 3600).json()["charged"] == "0.00"
    assert money_state(cc) == before


def test_concurrent_duplicate_ends_settle_once(cc: App) -> None:
    """Twenty copies of the same end sent at once all get the same answer; one charge."""
    charging.authorize(cc, charging.AuthorizeCall("c1", "atelier", "104", UK_MOBILE))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda s: charging.end(cc, charging.EndCall("c1", s)),
                [61 + n % 3 for n in range(20)],
            )
        )
    assert all(a == answers[0] for a in answers)
    assert answers[0]["charged"] == "0.30"
    assert f.available(cc) == 970
    assert f.verify(cc) == []


def test_concurrent_duplicate_authorizes_reserve_once(cc: App) -> None:
    """Twenty copies of the same authorize sent at once reserve one quota."""
    cmd = charging.AuthorizeCall("c1", "atelier", "104", UK_MOBILE)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: charging.authorize(cc, cmd), range(20)))
    assert all(a == answers[0] for a in answers)
    assert f.available(cc) == 925
    assert f.verify(cc) == []
