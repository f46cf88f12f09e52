"""The office manager in a real browser (headless Chromium driven by
Playwright) against a real ``callcredit serve`` process: an administrator
changes the card, adds funds, changes Settings, filters the activity and
downloads its CSV, and changes an extension's rights — once in English and
once in French. Screenshots of every page land in
``test-artifacts/screenshots/``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from callcredit.bootstrap import bootstrap
from callcredit.config import Settings
from tests import support
from tests.e2e.server import Server, serve
from tests.factories import pbx_token
from tests.officemanager import BRUNO, CLAIRE, PASSWORD, offices

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

# What each run types and expects to read, per language.
RUNS: dict[str, dict[str, Any]] = {
    "en": {
        "browser_locale": "en-GB", "email": CLAIRE, "account": "atelier", "ext": "101",
        "edit": "Edit", "card": "Visa ending in 4242", "saved_card": "Payment information saved.",
        "buy": "Buy", "bought": "Thank you: €50.00 added to the Prepaid Account.",
        "available": "€50.00", "settings": "Settings", "saved": "Settings saved.",
        "activity": "Prepaid Activity", "filter": "Filter", "csv": "Download CSV",
        "country": "United Kingdom", "extensions": "Extensions",
        "ext_saved": "Extension 102 saved.", "cap": "€15.00", "account_tab": "Account",
        "addons_tab": "Add-ons",
    },
    "fr": {
        "browser_locale": "fr-FR", "email": BRUNO, "account": "boulangerie", "ext": "201",
        "edit": "Editer", "card": "Visa se terminant par 4242",
        "saved_card": "Informations de paiement enregistrées.", "buy": "Acheter",
        "bought": "Merci : 50,00\u00a0€ ajoutés au Compte Prépayé.", "available": "50,00\u00a0€",
        "settings": "Paramètres", "saved": "Paramètres enregistrés.",
        "activity": "Activité Prépayé", "filter": "Filtrer", "csv": "Télécharger le CSV",
        "country": "Royaume-Uni", "extensions": "Postes", "ext_saved": "Poste 202 enregistré.",
        "cap": "15,00\u00a0€", "account_tab": "Compte", "addons_tab": "Extensions",
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """A real server on a fresh SQLite database with two offices; yields the
    server, the database URL and a PBX token."""
    support.require(CHROMIUM.exists(), "Chromium is not installed at /usr/bin/chromium")
    folder = tmp_path_factory.mktemp("office")
    url = support.new_sqlite_database(str(folder))
    app = bootstrap(Settings(database_url=url))
    offices(app)
    with app.uow() as uow:
        # Both start in English: the French administrator switches on the sign-in page.
        uow.conn.execute(text("UPDATE users SET locale = 'en'"))
    token = pbx_token(app)
    app.close()
    with serve(url, folder, workers=1) as running:
        yield running, url, token


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    support.require(CHROMIUM.exists(), "Chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield launched
        launched.close()


def _calls(server: Server, token: str, account: str, extension: str) -> None:
    """Three paid calls to a UK mobile through the real PBX API."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for n in range(3):
            call_id = f"{account}-call-{n}"
            answer = client.post("/pbx/v1/authorize", json={
                "call_id": call_id, "account": account, "extension": extension,
                "destination": f"+44 7400 12345{n}"}).json()  # fmt: skip
            assert answer["allow"], answer
            ended = client.post(f"/pbx/v1/calls/{call_id}/end", json={"answered_seconds": 95})
            assert ended.status_code == 200, ended.text


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "fr"])
def test_administrator_runs_the_prepaid_account_in_the_browser(
    server: tuple[Server, str, str], browser: Any, language: str
) -> None:
    """Card, Add Funds, Settings, activity with CSV and extension rights all work in a browser."""
    running, database_url, token = server
    run = RUNS[language]
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale=run["browser_locale"], accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})  # fmt: skip
    page = context.new_page()
    base = running.url

    def shot(name: str) -> None:
        page.screenshot(path=str(SHOTS / f"{language}-{name}.png"), full_page=True)

    # Sign in; the French administrator picks French on the sign-in page.
    page.goto(f"{base}/login")
    if language == "fr":
        page.click("button[value=fr]")
    shot("login")
    page.fill("input[name=email]", run["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("main button.primary")
    page.wait_for_url("**/prepaid/balance")

    # Account → Billing → Payment Information → Edit.
    page.click(f"nav.tabs >> text={run['account_tab']}")
    shot("billing-empty")
    page.click(f"a.button >> text={run['edit']}")
    page.fill("input[name=holder]", "Claire Martin" if language == "en" else "Bruno Lefèvre")
    page.fill("input[name=number]", "4242 4242 4242 4242")
    page.fill("input[name=exp]", "12/29")
    page.fill("input[name=cvc]", "123")
    page.fill("input[name=address_line1]", "12 rue des Lilas")
    page.fill("input[name=postal_code]", "75011")
    page.fill("input[name=city]", "Paris")
    shot("card-form")
    page.click("main button.primary")
    page.wait_for_url("**/account/billing")
    assert run["saved_card"] in page.inner_text(".flash")
    assert run["card"] in page.inner_text("[data-testid=card-summary]")
    shot("billing")

    # Add-ons → Prepaid Account → Balance → Add Funds → Buy.
    page.click(f"nav.tabs >> text={run['addons_tab']}")
    page.select_option("select[name=amount]", "50.00")
    page.click(f"button >> text={run['buy']}")
    page.wait_for_selector(".flash.ok")
    assert page.inner_text(".flash.ok") == run["bought"]
    assert page.inner_text("[data-testid=available]") == run["available"]
    shot("balance")

    # Settings: top off 25 below 10.
    page.click(f"nav.subtabs >> text={run['settings']}")
    page.select_option("select[name=choice]", "auto-topoff:1000:2500")
    page.click("main button.primary")
    page.wait_for_selector(".flash.ok")
    assert page.inner_text(".flash.ok") == run["saved"]
    assert page.eval_on_selector("select[name=choice]", "s => s.value") == "auto-topoff:1000:2500"
    shot("settings")

    # Calls through the real PBX API, then the Prepaid Activity.
    _calls(running, token, run["account"], run["ext"])
    page.click(f"nav.subtabs >> text={run['activity']}")
    page.select_option("select[name=extension]", run["ext"])
    page.select_option("select[name=type]", "call")
    page.click(f"button >> text={run['filter']}")
    page.wait_for_url("**extension=*")
    rows = page.locator("table.activity tbody tr")
    assert rows.count() == 3
    assert run["country"] in rows.first.inner_text()
    assert page.locator(".chart svg rect").count() >= 1
    shot("activity")
    with page.expect_download() as download:
        page.click(f"a >> text={run['csv']}")
    content = Path(download.value.path()).read_text("utf-8")
    table = list(csv.DictReader(io.StringIO(content)))
    assert len(table) == 3
    assert {row["extension"] for row in table} == {run["ext"]}
    assert {row["type"] for row in table} == {"call"}
    assert all(row["amount"].startswith("-") for row in table)

    # Extensions: block premium numbers and cap the second extension.
    second = str(int(run["ext"]) + 1)
    page.click(f"nav.tabs >> text={run['extensions']}")
    shot("extensions")
    page.click(f"a[href='/extensions/{second}']")
    page.uncheck("input[name=premium_allowed]")
    page.fill("input[name=monthly_cap]", "15")
    shot("extension-edit")
    page.click("main button.primary")
    page.wait_for_selector(".flash.ok")
    assert page.inner_text(".flash.ok") == run["ext_saved"]
    assert run["cap"] in page.inner_text("table.extensions")

    # Help, reachable from every page, in the same language.
    page.click("header a.help-link")
    page.click("ul.help-list li:first-child a")
    shot("help")
    assert page.locator("article h2").count() >= 4
    context.close()

    if language == "fr":
        app = bootstrap(Settings(database_url=database_url))
        with app.uow(readonly=True) as uow:
            chosen = uow.conn.execute(
                text("SELECT locale FROM users WHERE email = :e"), {"e": BRUNO}
            ).scalar_one()
        app.close()
        assert chosen == "fr"
