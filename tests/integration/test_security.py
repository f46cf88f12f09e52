"""Attacks on the web pages and the APIs, walked route by route.

The routes are read from the application itself (the OpenAPI document for
the APIs, the router for the pages), so a route added later is attacked too:

- another account's ids and tokens: 401/403/404 or the caller's own data,
  never the other account's data, and nothing of it changes;
- every form refuses a post without this session's CSRF token;
- security headers on every page and answer;
- API tokens stored only as digests;
- SQL and template injection attempts in names, extensions, destinations
  and form fields are stored and shown as plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from callcredit.adapters import tables as t
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.entrypoints.api.app import create_app
from callcredit.services import accounts, charging, extensions
from tests import factories as f
from tests.billing import put_card
from tests.clocks import FakeClock
from tests.officemanager import BRUNO, CLAIRE, PASSWORD, admin_token, csrf_of, offices, sign_in

# What only Claire's account (atelier) has: nothing of it may reach Bruno.
ATELIER_MARKERS = ("Atelier", "atelier", "Claire", "claire@", "Camille Martin", "ending in 4242",
                   "Poste 101", "123.45", "123,45")  # fmt: skip
# A value for each path parameter: atelier's own ids.
ATELIER_IDS = {"number": "101", "call_id": "atelier-call", "slug": "prepaid-account"}
PAYLOADS = ("' OR 1=1 --", "{{7*7}}", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
            "${7*7}", "1; DROP TABLE transfers; --")  # fmt: skip


@pytest.fixture
def cc(db_url: str) -> Iterator[App]:
    app = bootstrap(Settings(database_url=db_url, secret_key="test-secret"), clock=FakeClock())
    offices(app)
    put_card(app)  # atelier: Visa 4242, holder Camille Martin
    f.credit(app, "atelier", 12345)
    charging.authorize(
        app, charging.AuthorizeCall("atelier-call", "atelier", "101", "+44 7400 123456")
    )
    yield app
    app.close()


@pytest.fixture
def client(cc: App) -> Iterator[TestClient]:
    with TestClient(create_app(cc, run_background=False)) as c:
        yield c


def routes(api: Any) -> list[tuple[str, str, bool]]:
    """(method, path, in the OpenAPI document) for every route of ``api``."""
    found: list[tuple[str, str, bool]] = []

    def walk(items: list[Any], prefix: str, in_schema: bool) -> None:
        for route in items:
            if isinstance(route, APIRoute):
                for method in sorted(route.methods):
                    found.append(
                        (method, prefix + route.path, in_schema and route.include_in_schema)
                    )
            elif hasattr(route, "original_router"):  # an included router
                context = route.include_context
                walk(route.original_router.routes, prefix + context.prefix,
                     in_schema and context.include_in_schema)  # fmt: skip
            elif hasattr(route, "routes") and hasattr(route, "path"):
                continue  # mounted static files

    walk(list(api.routes), "", True)
    return found


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ATELIER_IDS[m.group(1)], path)


def atelier_state(cc: App) -> tuple[Any, ...]:
    """Everything about atelier an attacker might try to read or change."""
    with cc.uow(readonly=True) as uow:
        account = accounts.get_account(uow, "atelier")
        balance = uow.ledger.balance("atelier")
        exts = [
            (e.extension.extension, e.extension.name, e.extension.paid_allowed,
             e.extension.monthly_cap)
            for e in extensions.list_extensions(uow, "atelier")
        ]  # fmt: skip
        card = uow.conn.execute(
            select(t.cards).where(t.cards.c.account_id == "atelier")
        ).one_or_none()
        purchases = uow.conn.execute(
            select(t.purchases.c.purchase_key).where(t.purchases.c.account_id == "atelier")
        ).all()
        call = uow.conn.execute(
            select(t.calls.c.state, t.calls.c.end_response).where(
                t.calls.c.call_id == "atelier-call"
            )
        ).one()
    return (account, balance, exts, tuple(card) if card else None, purchases, tuple(call))


def leaks(text: str) -> list[str]:
    return [marker for marker in ATELIER_MARKERS if marker in text]


API_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/funds"): {"amount": "10", "idempotency_key": "attack-1"},
    ("PUT", "/api/v1/settings"): {"mode": "off"},
    ("PATCH", "/api/v1/extensions/{number}"): {"name": "pwned", "monthly_cap": "1"},
    ("POST", "/pbx/v1/authorize"): {"call_id": "atelier-call", "account": "atelier",
                                    "extension": "101", "destination": "+44 7400 123456"},
    ("POST", "/pbx/v1/calls/{call_id}/reauthorize"): {"used_seconds": 10},
    ("POST", "/pbx/v1/calls/{call_id}/end"): {"answered_seconds": 10},
}  # fmt: skip


def test_every_api_route_refuses_or_scopes_another_accounts_token(
    cc: App, client: TestClient
) -> None:
    """Every route of the OpenAPI document, called with Bruno's admin token,
    a PBX token, a forged token or none at atelier's ids, is refused or
    answers about Bruno's account only; atelier does not change."""
    tokens = {
        "bruno-admin": admin_token(cc, "boulangerie"),
        "pbx": f.pbx_token(cc),
        "forged": "cc_admin_" + "A" * 43,
        "none": "",
    }
    api_routes = [(m, p) for m, p, in_schema in routes(client.app) if in_schema]
    assert ("PATCH", "/api/v1/extensions/{number}") in api_routes
    before = atelier_state(cc)
    tried = 0
    for method, path in api_routes:
        if path in ("/healthz", "/webhooks/stripe"):
            continue  # no account data behind them
        for name, token in tokens.items():
            if path.startswith("/pbx/") and name == "pbx":
                continue  # the PBX token is the PBX's own: it may end any call
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = client.request(
                method, fill(path), json=API_BODIES.get((method, path)), headers=headers
            )
            tried += 1
            if name == "bruno-admin" and path.startswith("/api/"):
                assert response.status_code in (200, 201, 404, 409, 422), (path, response.text)
            else:
                assert response.status_code == 401, (name, method, path, response.text)
            assert leaks(response.text) == [], (name, method, path, response.text)
    assert tried >= 3 * len(api_routes) - 10
    assert atelier_state(cc) == before


def _form_for(path: str, csrf: str | None) -> dict[str, str]:
    """Plausible fields for any of the forms, so only the CSRF token differs."""
    form = {"name": "pwned", "monthly_cap": "1", "paid_allowed": "on", "choice": "off",
            "amount": "10", "idempotency": "attack", "lang": "fr", "next": "/",
            "email": CLAIRE, "password": PASSWORD, "holder": "Mallory",
            "number": "4000 0000 0000 0341", "exp": "12/30", "cvc": "999",
            "address_line1": "1 rue du Vol", "postal_code": "75000", "city": "Paris",
            "address_country": "FR"}  # fmt: skip
    if csrf is not None:
        form["csrf"] = csrf
    return form


def test_every_page_with_another_accounts_ids_shows_only_the_visitors_account(
    cc: App, client: TestClient
) -> None:
    """Bruno, signed in, opens every page and posts every form at atelier's
    ids: 404 or his own account, never atelier's data, and atelier does not
    change."""
    page_routes = [(m, p) for m, p, in_schema in routes(client.app) if not in_schema]
    assert ("POST", "/extensions/{number}") in page_routes
    before = atelier_state(cc)
    csrf = sign_in(client, BRUNO)
    for method, path in page_routes:
        if method == "GET":
            response = client.get(fill(path))
            assert response.status_code in (200, 404), (path, response.status_code)
        elif path not in ("/logout", "/login"):
            response = client.post(fill(path), data=_form_for(path, csrf))
            assert response.status_code in (200, 404, 422), (path, response.status_code)
        else:
            continue
        assert leaks(response.text) == [], (method, path, leaks(response.text))
    assert atelier_state(cc) == before


def test_every_form_refuses_a_post_without_this_sessions_csrf_token(
    cc: App, client: TestClient
) -> None:
    """Every POST page route answers 403 without a CSRF token, or with
    another session's token, and changes nothing."""
    posts = [p for m, p, in_schema in routes(client.app) if m == "POST" and not in_schema]
    assert {"/login", "/logout", "/language", "/prepaid/funds", "/prepaid/settings",
            "/extensions/{number}", "/gateway/simulated/tokens"} <= set(posts)  # fmt: skip
    with TestClient(create_app(cc, run_background=False)) as other:
        foreign = csrf_of(other.get("/login").text)
    sign_in(client)  # Claire, on her own account
    before = atelier_state(cc)
    for path in posts:
        for token in (None, "", foreign, "x" * 32):
            response = client.post(fill(path), data=_form_for(path, token))
            assert response.status_code == 403, (path, token, response.status_code)
    assert atelier_state(cc) == before
    assert client.get("/prepaid/balance", follow_redirects=False).status_code == 200


def test_pages_and_answers_carry_security_headers(client: TestClient) -> None:
    """Pages have a CSP allowing only this site and no framing; every answer
    says nosniff, DENY framing and same-origin referrers."""
    sign_in(client)
    for path in ("/login", "/prepaid/balance", "/prepaid/activity", "/extensions",
                 "/account/billing/edit", "/help", "/healthz", "/openapi.json",
                 "/static/style.css", "/no-such-page"):  # fmt: skip
        response = client.get(path)
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "same-origin", path
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        if headers["content-type"].startswith("text/html"):
            assert "default-src 'self'" in policy
            assert "script-src 'self'" in policy
            assert "unsafe-eval" not in policy
        else:
            assert policy.startswith("default-src 'none'"), path


def test_login_cookie_and_language_cookie_flags(cc: App) -> None:
    """Session and language cookies are HttpOnly and SameSite=Lax, and Secure over HTTPS."""
    api = create_app(cc, run_background=False)
    with TestClient(api, base_url="https://testserver") as secure:
        session = secure.get("/login").headers["set-cookie"].lower()
        csrf = csrf_of(secure.get("/login").text)
        language = secure.post("/language", data={"csrf": csrf, "lang": "fr"},
                               follow_redirects=False).headers["set-cookie"].lower()  # fmt: skip
        for cookie in (session, language):
            assert "httponly" in cookie
            assert "samesite=lax" in cookie
            assert "secure" in cookie


def test_api_tokens_are_stored_only_as_digests(cc: App) -> None:
    """Neither a PBX nor an admin token appears anywhere in the database;
    its SHA-256 digest does."""
    from callcredit.services.tokens import digest

    secrets = [f.pbx_token(cc), admin_token(cc, "atelier")]
    values = _every_stored_value(cc)
    for secret in secrets:
        assert not any(secret in v for v in values)
        assert not any(secret.split("_", 2)[2] in v for v in values)
        assert digest(secret) in values
    if cc.settings.database_url.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(cc.settings.database_url.removeprefix("sqlite:///"))
        raw = b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()
        )  # fmt: skip
        for secret in secrets:
            assert secret.encode() not in raw


def _every_stored_value(cc: App) -> list[str]:
    with cc.uow(readonly=True) as uow:
        return [
            str(value)
            for table in t.metadata.sorted_tables
            for row in uow.conn.execute(select(table))
            for value in row
            if value is not None
        ]


def test_injection_attempts_are_stored_and_shown_as_plain_text(cc: App, client: TestClient) -> None:
    """SQL and template injection attempts as account names, extension
    names, destinations, e-mails and form fields are kept verbatim, shown
    escaped, never evaluated; the other account is untouched."""
    bruno_before = None
    with cc.uow(readonly=True) as uow:
        bruno_before = (
            accounts.get_account(uow, "boulangerie"),
            uow.ledger.balance("boulangerie"),
        )
    with cc.uow() as uow:
        accounts.create_account(
            uow, "inject", name=" | ".join(PAYLOADS), admin_email="mallory@inject.test",
            admin_password=PASSWORD,
        )  # fmt: skip
        for n, payload in enumerate(PAYLOADS):
            extensions.add_extension(uow, "inject", str(300 + n), name=payload)
    f.credit(cc, "inject", 1000)
    # Destinations and extensions sent by a PBX: refused as data, not run.
    for n, payload in enumerate(PAYLOADS):
        answer = charging.authorize(
            cc, charging.AuthorizeCall(f"inject-{n}", "inject", "300", payload)
        )
        assert (answer["allow"], answer["reason"]) == (False, "invalid_number")
        answer = charging.authorize(
            cc, charging.AuthorizeCall(f"inject-x{n}", "inject", payload, "+44 7400 123456")
        )
        assert answer["reason"] == "unknown_extension"
    # Sign-in with injected e-mails and passwords: refused like any wrong login.
    for payload in PAYLOADS:
        csrf = csrf_of(client.get("/login").text)
        refused = client.post("/login", data={"csrf": csrf, "email": f"{CLAIRE}{payload}",
                                              "password": payload})  # fmt: skip
        assert refused.status_code == 401
    sign_in(client, "mallory@inject.test")
    csrf = csrf_of(client.get("/extensions/301").text)
    name = PAYLOADS[2] + PAYLOADS[1]
    refused = client.post("/extensions/301", data={"csrf": csrf, "name": name,
                                                   "monthly_cap": "' OR 1=1 --"})  # fmt: skip
    assert "monthly cap must be an amount" in refused.text
    saved = client.post("/extensions/301", data={"csrf": csrf, "name": name, "monthly_cap": ""})
    assert saved.status_code == 200
    for path in ("/extensions", "/prepaid/balance", "/prepaid/activity", "/extensions/300"):
        html = client.get(path).text
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img src=x" not in html
        assert "{{7*7}}" in html  # shown, not evaluated
    token = admin_token(cc, "inject")
    listed = client.get("/api/v1/extensions", headers={"Authorization": f"Bearer {token}"})
    names = {e["name"] for e in listed.json()}
    assert {PAYLOADS[0], name} <= names
    with cc.uow(readonly=True) as uow:
        assert accounts.get_account(uow, "inject").name == " | ".join(PAYLOADS)
        assert extensions.get_extension(uow, "inject", "301").name == PAYLOADS[2] + PAYLOADS[1]
        assert (accounts.get_account(uow, "boulangerie"), uow.ledger.balance("boulangerie")) == (
            bruno_before
        )
        assert uow.ledger.verify() == []
