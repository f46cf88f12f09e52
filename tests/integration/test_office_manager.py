"""The office manager's pages without a browser (and without JavaScript):
card, Add Funds, Settings, activity, extensions, languages, help, banners."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from callcredit.adapters import tables as t
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.entrypoints.api.app import create_app
from callcredit.services import accounts, charging
from callcredit.services.extensions import get_extension
from tests.clocks import FakeClock
from tests.officemanager import BRUNO, DECLINED_CARD, GOOD_CARD, form_token, offices, sign_in

CARD_FORM = {"holder": "Claire Martin", "number": GOOD_CARD, "exp": "12/29", "cvc": "123",
             "address_line1": "12 rue des Lilas", "postal_code": "75011", "city": "Paris",
             "address_country": "FR"}  # fmt: skip


@pytest.fixture
def cc(sqlite_url: str) -> Iterator[App]:
    settings = Settings(database_url=sqlite_url, public_url="https://office.example.fr")
    app = bootstrap(settings, clock=FakeClock())
    offices(app)
    yield app
    app.close()


@pytest.fixture
def client(cc: App) -> Iterator[TestClient]:
    with TestClient(create_app(cc, run_background=False)) as c:
        yield c


def _save_card(client: TestClient, **changes: str) -> str:
    token = form_token(client, "/account/billing/edit")
    response = client.post("/gateway/simulated/tokens", data={**CARD_FORM, **changes,
                                                              "csrf": token})  # fmt: skip
    assert response.status_code == 200
    return response.text


def test_card_form_without_javascript_saves_the_card_but_never_the_number(
    cc: App, client: TestClient
) -> None:
    """The card form posted to the gateway's endpoint saves the card; its number is kept nowhere."""
    sign_in(client)
    page = _save_card(client)
    assert "Payment information saved" in page
    assert "Visa ending in 4242" in page
    assert "75011 Paris" in page
    with cc.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                assert "4242424242424242" not in str(tuple(row)), table.name
                assert "4242 4242 4242 4242" not in str(tuple(row)), table.name


def test_leaving_the_number_empty_changes_only_the_address(client: TestClient) -> None:
    """With a card on file, an empty number keeps the card and saves the new address."""
    sign_in(client)
    _save_card(client)
    page = _save_card(client, number="", exp="", cvc="", city="Lyon", postal_code="69001")
    assert "Visa ending in 4242" in page
    assert "69001 Lyon" in page


def test_declined_card_is_explained_and_nothing_is_saved(client: TestClient) -> None:
    """A declined test card sends the administrator back to the form with the reason."""
    sign_in(client)
    page = _save_card(client, number=DECLINED_CARD)
    assert "The card was declined" in page
    assert "Card number" in page
    assert "ending in" not in client.get("/account/billing").text


def test_card_form_asking_for_json_gets_a_json_answer(client: TestClient) -> None:
    """The enhanced form gets JSON: where to go on success, the reason on failure."""
    sign_in(client)
    token = form_token(client, "/account/billing/edit")
    headers = {"Accept": "application/json"}
    wrong = {**CARD_FORM, "number": "4242 4242 4242 4241", "csrf": token}
    bad = client.post("/gateway/simulated/tokens", headers=headers, data=wrong)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_card"
    good = client.post("/gateway/simulated/tokens", headers=headers,
                       data={**CARD_FORM, "csrf": token})  # fmt: skip
    assert good.json() == {"saved": True, "next": "/account/billing"}


def test_buy_adds_the_chosen_preset_and_shows_the_result(cc: App, client: TestClient) -> None:
    """Add Funds → Buy charges the card and the balance page shows the new balance."""
    sign_in(client)
    _save_card(client)
    token = form_token(client, "/prepaid/balance")
    page = client.post("/prepaid/funds", data={"csrf": token, "amount": "25.00",
                                                "idempotency": "form-1"}).text  # fmt: skip
    assert "Thank you: €25.00 added to the Prepaid Account." in page
    with cc.uow(readonly=True) as uow:
        assert str(accounts.balance(uow, "atelier").available) == "25.00"
    # The same form submitted twice (a double click) pays once.
    client.post("/prepaid/funds", data={"csrf": token, "amount": "25.00", "idempotency": "form-1"})
    with cc.uow(readonly=True) as uow:
        assert str(accounts.balance(uow, "atelier").available) == "25.00"


def test_buy_without_a_card_or_with_an_odd_amount_is_refused(client: TestClient) -> None:
    """Add Funds needs a card on file and one of the preset amounts."""
    sign_in(client)
    token = form_token(client, "/prepaid/balance")
    page = client.post("/prepaid/funds", data={"csrf": token, "amount": "25.00"}).text
    assert "There is no card on file" in page
    _save_card(client)
    page = client.post("/prepaid/funds", data={"csrf": token, "amount": "13.00"}).text
    assert "Choose one of the amounts in the list." in page


def test_settings_drop_down_saves_each_choice(cc: App, client: TestClient) -> None:
    """Each Settings option is saved and shown selected afterwards."""
    sign_in(client)
    for choice, mode in (("auto-topoff:1000:2500", "auto-topoff"),
                         ("stop-below:500", "stop-below"), ("off", "off")):  # fmt: skip
        token = form_token(client, "/prepaid/settings")
        page = client.post("/prepaid/settings", data={"csrf": token, "choice": choice}).text
        assert "Settings saved." in page
        assert f'value="{choice}" selected' in page
        with cc.uow(readonly=True) as uow:
            assert accounts.get_account(uow, "atelier").low_balance_mode == mode
    token = form_token(client, "/prepaid/settings")
    page = client.post("/prepaid/settings", data={"csrf": token, "choice": "auto-topoff:1"}).text
    assert "Some of the values are not valid" in page


def test_activity_filters_paginates_and_downloads_csv(cc: App, client: TestClient) -> None:
    """The activity shows the account's calls newest first, filtered, with totals, chart and CSV."""
    sign_in(client)
    _save_card(client)
    token = form_token(client, "/prepaid/balance")
    client.post("/prepaid/funds", data={"csrf": token, "amount": "100.00"})
    clock = cc.clock
    assert isinstance(clock, FakeClock)
    for i in range(30):
        clock.advance(3600)
        extension = "101" if i % 3 else "104"
        allowed = charging.authorize(cc, charging.AuthorizeCall(
            f"call-{i}", "atelier", extension, "+44 7400 123456"))  # fmt: skip
        assert allowed["allow"]
        charging.end(cc, charging.EndCall(f"call-{i}", 90))
    page = client.get("/prepaid/activity").text
    assert "Page 1 of 2" in page
    assert "<svg" in page
    assert "United Kingdom" in page
    only = client.get("/prepaid/activity", params={"extension": "104", "type": "call"}).text
    assert "Page 1 of 1" in only
    assert "(10)" in only
    csv = client.get("/prepaid/activity.csv", params={"extension": "104"})
    assert csv.headers["content-disposition"].startswith("attachment")
    rows = csv.text.strip().splitlines()
    assert len(rows) == 11
    assert all(",104," in row for row in rows[1:])
    funds = client.get("/prepaid/activity.csv", params={"type": "funds"}).text.splitlines()
    assert len(funds) == 2
    assert funds[1].split(",")[1] == "funds_added"


def test_extension_rights_are_listed_and_changed(cc: App, client: TestClient) -> None:
    """Editing an extension blocks premium numbers and sets a cap; an empty cap removes it."""
    csrf = sign_in(client)
    form = {"csrf": csrf, "name": "Accueil", "paid_allowed": "1", "monthly_cap": "20,50"}
    page = client.post("/extensions/103", data=form).text
    assert "Extension 103 saved." in page
    with cc.uow(readonly=True) as uow:
        ext = get_extension(uow, "atelier", "103")
    assert (ext.name, ext.paid_allowed, ext.premium_allowed, ext.monthly_cap) == (
        "Accueil",
        True,
        False,
        2050,
    )
    assert "€20.50" in page
    client.post("/extensions/103", data={"csrf": csrf, "name": "Accueil", "monthly_cap": ""})
    with cc.uow(readonly=True) as uow:
        ext = get_extension(uow, "atelier", "103")
    assert (ext.paid_allowed, ext.monthly_cap) == (False, None)
    bad = client.post("/extensions/103", data={"csrf": csrf, "monthly_cap": "lots"}).text
    assert "The monthly cap must be an amount" in bad


def test_language_follows_the_browser_then_the_choice(cc: App, client: TestClient) -> None:
    """French browsers get French pages; the switch is remembered in a cookie and the profile."""
    french = client.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).text
    assert "Se connecter" in french
    csrf = sign_in(client)
    assert "Solde" not in client.get("/prepaid/balance").text
    client.post("/language", data={"csrf": csrf, "lang": "fr", "next": "/prepaid/balance"})
    page = client.get("/prepaid/balance").text
    for label in ("Compte", "Extensions", "Postes", "Compte Prépayé", "Solde",
                  "Ajouter des Fonds", "Paramètres", "Activité Prépayé"):  # fmt: skip
        assert label in page, label
    assert "0,00\u00a0€" in page
    with cc.uow(readonly=True) as uow:
        locale = uow.conn.execute(text("SELECT locale FROM users WHERE account_id = 'atelier'"))
        assert locale.scalar_one() == "fr"
    assert client.cookies["cc_lang"] == "fr"


def test_french_administrator_sees_french_amounts_and_labels(cc: App, client: TestClient) -> None:
    """An administrator whose profile says French gets French labels after signing in."""
    sign_in(client, BRUNO)
    billing = client.get("/account/billing").text
    assert "Informations Paiement" in billing
    assert "Editer" in billing
    assert "Facturation" in billing


def test_help_pages_link_to_this_deployment(client: TestClient) -> None:
    """Help pages exist in both languages, without signing in, and link to CALLCREDIT_PUBLIC_URL."""
    english = client.get("/help/prepaid-account").text
    assert 'href="https://office.example.fr/account/billing"' in english
    assert "How do I add funds to my Prepaid Account?" in english
    client.cookies.set("cc_lang", "fr")
    french = client.get("/help/prepaid-account").text
    assert "Comment puis-je ajouter des fonds sur mon Compte Prépayé ?" in french
    assert 'href="https://office.example.fr/prepaid/activity"' in french
    assert client.get("/help/no-such-page").status_code == 404
    assert client.get("/help").status_code == 200


def test_banners_warn_about_card_topoff_and_balance(cc: App, client: TestClient) -> None:
    """Pages warn of a missing or expired card, a suspended top-off and a low balance."""
    sign_in(client)
    page = client.get("/extensions").text
    assert "There is no card on file" in page
    assert "The prepaid balance is low." in page
    _save_card(client)
    with cc.uow() as uow:
        uow.conn.execute(update(t.cards).values(exp_year=2025))
        uow.conn.execute(update(t.accounts).where(t.accounts.c.account_id == "atelier")
                         .values(topoff_suspended=True))  # fmt: skip
    page = client.get("/extensions").text
    assert "The card on file has expired." in page
    assert "Automatic top-off is suspended" in page
