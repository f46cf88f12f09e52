"""The office manager refuses what it must: forged forms, tampered sessions,
guessed passwords and another account's pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.entrypoints.api.app import create_app
from callcredit.entrypoints.web import session as sessions
from callcredit.services.extensions import get_extension
from callcredit.services.signin import MAX_FAILURES_PER_EMAIL
from tests.clocks import FakeClock
from tests.officemanager import BRUNO, CLAIRE, PASSWORD, form_token, offices, sign_in


@pytest.fixture
def cc(db_url: str) -> Iterator[App]:
    app = bootstrap(Settings(database_url=db_url, secret_key="test-secret"), clock=FakeClock())
    offices(app)
    yield app
    app.close()


@pytest.fixture
def client(cc: App) -> Iterator[TestClient]:
    with TestClient(create_app(cc, run_background=False)) as c:
        yield c


def test_pages_need_a_signed_in_administrator(client: TestClient) -> None:
    """Every office-manager page sends a visitor to the sign-in page first."""
    for path in ("/prepaid/balance", "/prepaid/activity", "/extensions", "/account/billing"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_wrong_password_is_refused_and_right_one_signs_in(client: TestClient) -> None:
    """A wrong password shows the form again; the right one opens the Prepaid Account."""
    token = form_token(client, "/login")
    wrong = client.post("/login", data={"csrf": token, "email": CLAIRE, "password": "nope"})
    assert wrong.status_code == 401
    assert "Wrong e-mail or password" in wrong.text
    sign_in(client)
    assert "Atelier Lumière" in client.get("/prepaid/balance").text


def test_session_cookie_is_httponly_lax_and_secure_over_https(cc: App) -> None:
    """The session cookie is HttpOnly and SameSite=Lax, and Secure when served over HTTPS."""
    api = create_app(cc, run_background=False)
    with TestClient(api, base_url="https://testserver") as secure:
        cookie = secure.get("/login").headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" in cookie
    with TestClient(api) as plain:
        assert "secure" not in plain.get("/login").headers["set-cookie"].lower()


def test_login_without_csrf_token_is_refused(client: TestClient) -> None:
    """A login form posted without the session's CSRF token is refused with 403."""
    client.get("/login")
    response = client.post("/login", data={"email": CLAIRE, "password": PASSWORD})
    assert response.status_code == 403
    assert client.get("/prepaid/balance", follow_redirects=False).status_code == 303


def test_forms_with_a_missing_or_foreign_csrf_token_change_nothing(
    cc: App, client: TestClient
) -> None:
    """Changing an extension needs this session's CSRF token; another session's token is refused."""
    sign_in(client)
    with TestClient(create_app(cc, run_background=False)) as other:
        foreign = form_token(other, "/login")
    data = {"name": "Accueil", "monthly_cap": "5"}
    assert client.post("/extensions/101", data=data).status_code == 403
    assert client.post("/extensions/101", data={**data, "csrf": foreign}).status_code == 403
    with cc.uow(readonly=True) as uow:
        ext = get_extension(uow, "atelier", "101")
    assert (ext.name, ext.paid_allowed, ext.monthly_cap) == ("Poste 101", True, None)


def test_tampered_or_foreign_session_cookie_signs_out(cc: App, client: TestClient) -> None:
    """A session cookie that was edited, or signed with another key, counts as signed out."""
    sign_in(client)
    genuine = client.cookies[sessions.COOKIE]
    payload, _, signature = genuine.rpartition(".")
    client.cookies.set(sessions.COOKIE, payload + "." + signature[::-1])
    assert client.get("/prepaid/balance", follow_redirects=False).status_code == 303
    forged = URLSafeTimedSerializer("another-key", salt="callcredit.web.session").dumps(
        {"c": "x", "a": "boulangerie", "e": BRUNO, "f": None, "m": None}
    )
    client.cookies.set(sessions.COOKIE, forged)
    assert client.get("/prepaid/balance", follow_redirects=False).status_code == 303


def test_session_stops_working_when_the_password_changes(cc: App, client: TestClient) -> None:
    """Changing an administrator's password ends the sessions opened with the old one."""
    from sqlalchemy import update

    from callcredit.adapters import tables as t
    from callcredit.adapters.passwords import hash_password

    sign_in(client)
    with cc.uow() as uow:
        uow.conn.execute(
            update(t.users)
            .where(t.users.c.email == CLAIRE)
            .values(password_hash=hash_password("a brand new password"))
        )
    assert client.get("/prepaid/balance", follow_redirects=False).status_code == 303


def test_repeated_failures_lock_the_email_even_for_the_right_password(cc: App) -> None:
    """After five failures the e-mail is locked for a while, across server processes."""
    first = TestClient(create_app(cc, run_background=False))
    for _ in range(MAX_FAILURES_PER_EMAIL):
        token = form_token(first, "/login")
        first.post("/login", data={"csrf": token, "email": CLAIRE, "password": "guess"})
    # A second application object on the same database: another worker.
    other = bootstrap(Settings(database_url=cc.settings.database_url, secret_key="test-secret"),
                      clock=cc.clock)  # fmt: skip
    second = TestClient(create_app(other, run_background=False))
    token = form_token(second, "/login")
    locked = second.post("/login", data={"csrf": token, "email": CLAIRE, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    # Bruno, on the same address, is not locked out by Claire's failures.
    token = form_token(second, "/login")
    ok = second.post("/login", data={"csrf": token, "email": BRUNO, "password": PASSWORD})
    assert ok.status_code == 200
    clock = cc.clock
    assert isinstance(clock, FakeClock)
    clock.advance(16 * 60)
    third = TestClient(create_app(other, run_background=False))
    sign_in(third)
    other.close()


def test_another_accounts_extension_is_not_found_and_untouched(cc: App, client: TestClient) -> None:
    """Claire gets 404 for Bruno's extension, whether she reads or changes it."""
    csrf = sign_in(client)
    assert client.get("/extensions/201").status_code == 404
    response = client.post("/extensions/201", data={"csrf": csrf, "monthly_cap": "1"})
    assert response.status_code == 404
    with cc.uow(readonly=True) as uow:
        assert get_extension(uow, "boulangerie", "201").monthly_cap is None
    listing = client.get("/extensions").text
    assert "201" not in listing
    assert "101" in listing


def test_redirect_after_login_stays_on_this_site(client: TestClient) -> None:
    """The ``next`` address after signing in cannot send the browser to another site."""
    token = form_token(client, "/login")
    response = client.post(
        "/login",
        data={"csrf": token, "email": CLAIRE, "password": PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/prepaid/balance"


def test_logout_needs_the_csrf_token_and_ends_the_session(client: TestClient) -> None:
    """Signing out is a form with a CSRF token; afterwards pages ask to sign in again."""
    csrf = sign_in(client)
    assert client.post("/logout", data={}).status_code == 403
    client.post("/logout", data={"csrf": csrf})
    assert client.get("/prepaid/balance", follow_redirects=False).status_code == 303
