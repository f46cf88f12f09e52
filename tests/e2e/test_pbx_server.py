"""The PBX API over HTTP against a real ``callcredit serve`` with two worker
processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from callcredit.bootstrap import bootstrap
from callcredit.config import Settings
from tests import factories as f
from tests.e2e.server import cli, serve

UK_MOBILE = "+44 7400 {:06d}"  # +447: 0.15 EUR per minute, 60/60


def contract_cost_cents(answered: int) -> int:
    """0.15 per started minute, 60/60 increments; unanswered calls are free."""
    return 0 if answered == 0 else 15 * -(-answered // 60)


@pytest.mark.slow
def test_200_concurrent_calls_never_overdraw(db_url: str, tmp_path: Path) -> None:
    """200 concurrent paid calls from 10 extensions on 20.00 EUR: some are
    refused, the balance never goes below zero, the charges are the contract
    costs, verify passes and repeated ends change nothing."""
    app = bootstrap(Settings(database_url=db_url))
    f.office(app, funds=2000, extensions=tuple(str(100 + n) for n in range(10)))
    token = f.pbx_token(app)
    app.close()
    rng = random.Random(7)
    plan = [(f"call-{n}", str(100 + n % 10), rng.randint(0, 240)) for n in range(200)]
    env = {"CALLCREDIT_FRAUD_CONCURRENT_CALLS": "1000", "CALLCREDIT_FRAUD_SPEND_PER_HOUR": "1000"}
    with serve(db_url, tmp_path, workers=2, env=env) as server:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:

            def call(item: tuple[str, str, int]) -> tuple[str, bool, int, str]:
                call_id, ext, answered = item
                body = {
                    "call_id": call_id,
                    "account": "atelier",
                    "extension": ext,
                    "destination": UK_MOBILE.format(int(ext) * 1000 + 1),
                }
                auth = client.post("/pbx/v1/authorize", json=body).json()
                assert auth["balance"] is None or not auth["balance"]["available"].startswith("-")
                if not auth["allow"]:
                    assert auth["reason"] == "insufficient_funds"
                    return call_id, False, 0, "0.00"
                answered = min(answered, auth["granted_seconds"])
                end = client.post(
                    f"/pbx/v1/calls/{call_id}/end", json={"answered_seconds": answered}
                ).json()
                assert not end["balance"]["available"].startswith("-")
                return call_id, True, answered, end["charged"]

            with ThreadPoolExecutor(max_workers=40) as pool:
                results = list(pool.map(call, plan))
            allowed = [r for r in results if r[1]]
            refused = [r for r in results if not r[1]]
            for call_id, _ok, answered, _ in allowed[:20]:
                again = client.post(
                    f"/pbx/v1/calls/{call_id}/end", json={"answered_seconds": answered + 999}
                ).json()
                assert again["charged"] == next(r[3] for r in allowed if r[0] == call_id)
    expected = sum(contract_cost_cents(answered) for _, _, answered, _ in allowed)
    charged = sum(int(c.replace(".", "")) for *_, c in allowed)
    assert charged == expected
    assert refused, "the balance should not cover all 200 calls"
    balance = json.loads(cli(db_url, "balance", "atelier", "--json").stdout)
    assert balance["reserved"] == "0.00"
    assert int(balance["available"].replace(".", "")) == 2000 - expected >= 0
    assert cli(db_url, "verify").returncode == 0
