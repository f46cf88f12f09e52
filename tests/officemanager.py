"""Helpers for the office-manager tests: two Paris offices with their
administrators, and signing in through the real login form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from callcredit.bootstrap import App
from callcredit.services.accounts import create_account
from callcredit.services.extensions import add_extension
from callcredit.services.tokens import create_token

PASSWORD = "correct horse battery"
CLAIRE = "claire@atelier-lumiere.fr"
BRUNO = "bruno@boulangerie-ble.fr"
GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def offices(app: App) -> None:
    """Two accounts: ``atelier`` (Claire, extensions 101-105) and
    ``boulangerie`` (Bruno, extensions 201-202)."""
    with app.uow() as uow:
        create_account(uow, "atelier", name="Atelier Lumière", admin_email=CLAIRE,
                       admin_password=PASSWORD)  # fmt: skip
        for number in ("101", "102", "103", "104", "105"):
            add_extension(uow, "atelier", number, name=f"Poste {number}")
        create_account(uow, "boulangerie", name="Boulangerie Blé", admin_email=BRUNO,
                       admin_password=PASSWORD, locale="fr")  # fmt: skip
        for number in ("201", "202"):
            add_extension(uow, "boulangerie", number)


def admin_token(app: App, account: str) -> str:
    with app.uow() as uow:
        return create_token(uow, "admin", account_id=account)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, email: str = CLAIRE, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the CSRF token of the new session."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "email": email, "password": password})
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


def form_token(client: TestClient, path: str) -> str:
    return csrf_of(client.get(path).text)
