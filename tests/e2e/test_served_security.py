"""Security of a real ``callcredit serve`` behind a proxy: cookies marked
``Secure`` when the proxy says the page was served over HTTPS, and a card
entered in the web form leaving no trace in the database file, the
server's own log (at DEBUG level) or the e-mails it writes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from callcredit.adapters import tables as t
from callcredit.bootstrap import bootstrap
from callcredit.config import Settings
from tests.e2e.server import serve
from tests.officemanager import CLAIRE, PASSWORD, offices

CARD = "4000 0566 5566 5556"  # a valid Visa debit test number
CVC = "7391"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found
    return found.group(1)


@pytest.mark.slow
def test_cookies_are_secure_behind_an_https_proxy_and_cards_leave_no_trace(
    sqlite_url: str, tmp_path: Path
) -> None:
    """With ``X-Forwarded-Proto: https`` from the proxy the session cookie
    is Secure (not without it); after saving a card through the form and
    buying funds, neither its number nor its CVC is in the database file,
    the server log or the outbox."""
    app = bootstrap(Settings(database_url=sqlite_url))
    offices(app)
    app.close()
    env = {"CALLCREDIT_LOG_LEVEL": "debug"}
    with serve(sqlite_url, tmp_path, workers=1, env=env) as server:
        behind = httpx.get(f"{server.url}/login", headers={"X-Forwarded-Proto": "https"})
        assert "secure" in behind.headers["set-cookie"].lower()
        assert "httponly" in behind.headers["set-cookie"].lower()
        plain = httpx.get(f"{server.url}/login")
        assert "secure" not in plain.headers["set-cookie"].lower()
        with httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as browser:
            token = csrf(browser.get("/login").text)
            signed = browser.post("/login", data={"csrf": token, "email": CLAIRE,
                                                  "password": PASSWORD})  # fmt: skip
            assert signed.status_code == 200
            token = csrf(browser.get("/account/billing/edit").text)
            saved = browser.post("/gateway/simulated/tokens", data={
                "csrf": token, "holder": "Claire Martin", "number": CARD, "exp": "12/30",
                "cvc": CVC, "address_line1": "12 rue des Lilas", "postal_code": "75011",
                "city": "Paris", "address_country": "FR"})  # fmt: skip
            assert "ending in 5556" in saved.text
            token = csrf(browser.get("/prepaid/balance").text)
            bought = browser.post("/prepaid/funds", data={"csrf": token, "amount": "25",
                                                          "idempotency": "buy-1"})  # fmt: skip
            assert bought.status_code == 200
    digits = CARD.replace(" ", "").encode()
    lone_cvc = re.compile(rb"(?<![0-9a-f])" + CVC.encode() + rb"(?![0-9a-f])")
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    stored = b"".join(
        Path(f"{database}{suffix}").read_bytes()
        for suffix in ("", "-wal")
        if Path(f"{database}{suffix}").exists()
    )
    log = server.log.read_bytes()
    app = bootstrap(Settings(database_url=sqlite_url))
    with app.uow(readonly=True) as uow:
        mails = " ".join(str(v) for row in uow.conn.execute(select(t.outbox)) for v in row)
    app.close()
    assert "25" in mails  # the receipt is there
    for where, content in (("database", stored), ("log", log), ("outbox", mails.encode())):
        assert digits not in content, where
        assert CARD.encode() not in content, where
        assert not lone_cvc.search(content), where
