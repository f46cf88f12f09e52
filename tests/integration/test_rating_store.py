"""Plans and rate decks in a real database (SQLite and PostgreSQL), and the
rating commands of the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from callcredit.adapters import rating_store as store
from callcredit.adapters import tables as t
from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.domain.errors import BusinessRuleViolation, InvalidRateDeck, NotFound
from callcredit.services import accounts
from callcredit.services import rating as svc

HEADER = "prefix,description,per_minute,connect_fee,increment\n"


def deck_lines(*rows: str) -> list[str]:
    return (HEADER + "".join(row + "\n" for row in rows)).splitlines(keepends=True)


def rows_of(app: App, deck: str) -> list[tuple[int, str, str]]:
    r = t.rates.c
    with app.uow(readonly=True) as uow:
        return [
            tuple(row)
            for row in uow.conn.execute(
                select(r.version, r.prefix, r.per_minute).where(r.deck == deck).order_by(r.prefix)
            )
        ]


def fund(app: App, account_id: str, minor: int) -> None:
    with app.uow() as uow:
        uow.ledger.transfer(
            account_id,
            key=f"test-funds-{minor}",
            debit=L.CARD,
            credit=L.PREPAID,
            amount=minor,
            kind=L.KIND_FUNDS_ADDED,
        )


def test_init_loads_the_shipped_plan_and_deck_once(app: App) -> None:
    """A fresh database has fr-office and the standard deck; loading again changes nothing."""
    with app.uow() as uow:
        plan = store.load_plan(uow.conn, "fr-office")
        info = store.deck_info(uow.conn, "standard")
        again = svc.install_shipped(uow)
    assert plan.home_country == "FR"
    assert info is not None
    assert (info.version, info.currency) == (1, "EUR")
    assert info.row_count == len(store.shipped_deck("standard"))
    assert again == []


def test_deck_import_replaces_the_deck_atomically_with_a_new_version(app: App) -> None:
    """A re-import becomes version 2, old rows are gone, and Decimals keep their text."""
    with app.uow() as uow:
        first = svc.import_deck(uow, "test", "EUR", deck_lines("+44,UK,0.0450,0,60/60"))
    with app.uow() as uow:
        second = svc.import_deck(
            uow, "test", "EUR", deck_lines("+44,UK,0.0500,0,60/60", "+447,UK mobile,0.15,0,30/6")
        )
    assert (first.version, second.version, second.row_count) == (1, 2, 2)
    assert rows_of(app, "test") == [(2, "+44", "0.0500"), (2, "+447", "0.15")]


def test_a_bad_deck_changes_nothing(app: App) -> None:
    """A deck with one bad row is refused with its line; the previous version stays in force."""
    with app.uow() as uow:
        svc.import_deck(uow, "test", "EUR", deck_lines("+44,UK,0.0450,0,60/60"))
    with pytest.raises(InvalidRateDeck, match="line 3"), app.uow() as uow:
        svc.import_deck(uow, "test", "EUR", deck_lines("+44,UK,0.05,0,60/60", "+1,US,-1,0,60/60"))
    assert rows_of(app, "test") == [(1, "+44", "0.0450")]
    with app.uow(readonly=True) as uow:
        info = store.deck_info(uow.conn, "test")
    assert info is not None
    assert info.version == 1


def test_cached_deck_follows_a_reimport(app: App) -> None:
    """The in-memory deck is reused while the version holds and reloaded after an import."""
    with app.uow() as uow:
        svc.import_deck(uow, "test", "EUR", deck_lines("+44,UK,0.0450,0,60/60"))
    with app.uow(readonly=True) as uow:
        before = store.rate_tables.get(uow.conn, "test")
        same = store.rate_tables.get(uow.conn, "test")
    with app.uow() as uow:
        svc.import_deck(uow, "test", "EUR", deck_lines("+44,UK,0.0990,0,60/60"))
    with app.uow(readonly=True) as uow:
        after = store.rate_tables.get(uow.conn, "test")
    assert same is before
    rate = after.table.lookup("+442079460000")
    assert rate is not None
    assert (after.version, rate.per_minute) == (2, Decimal("0.0990"))


def test_unknown_deck_and_plan_are_not_found(app: App) -> None:
    """Asking for a deck or plan that was never imported is NotFound, not an empty deck."""
    with app.uow(readonly=True) as uow:
        with pytest.raises(NotFound, match="nope"):
            store.rate_tables.get(uow.conn, "nope")
        with pytest.raises(NotFound, match="nope"):
            store.load_plan(uow.conn, "nope")


def test_plan_import_replaces_a_plan(app: App) -> None:
    """Importing a plan id again replaces its rules."""
    text = """
    [fr-office]
    name = "France office (mobiles only)"
    home_country = "FR"
    currency = "EUR"
    rate_deck = "standard"
    included = ["FR:mobile"]
    """
    with app.uow() as uow:
        svc.import_plans(uow, text)
    with app.uow(readonly=True) as uow:
        plan = store.load_plan(uow.conn, "fr-office")
        count = uow.conn.execute(select(func.count()).select_from(t.plans)).scalar_one()
    assert (plan.name, plan.included, count) == ("France office (mobiles only)", ("FR:mobile",), 1)


def test_quote_prices_a_paid_call_with_funds(app: App) -> None:
    """With 11.55 EUR, 125 s to a UK mobile is billed 180 s for 0.45 and 10 minutes are granted."""
    with app.uow() as uow:
        accounts.create_account(uow, "atelier", name="Atelier")
    fund(app, "atelier", 1155)
    with app.uow(readonly=True) as uow:
        quote = svc.quote(uow, "atelier", "+44 7400 123456", 125)
    assert quote.as_json() == {
        "allow": True,
        "reason": "prepaid",
        "e164": "+447400123456",
        "country": "GB",
        "kind": "mobile",
        "matched": "+447",
        "per_minute": "0.1500",
        "connect_fee": "0.0000",
        "increment": "60/60",
        "billed_seconds": 180,
        "cost": "0.45",
        "currency": "EUR",
    }


def test_quote_refuses_a_deck_in_another_currency(app: App) -> None:
    """A plan whose deck is priced in another currency is refused rather than mis-charged."""
    with app.uow() as uow:
        store.save_deck(
            uow.conn, "standard", "USD", store.shipped_deck("standard"), app.clock.now()
        )
        accounts.create_account(uow, "atelier", name="Atelier")
    with app.uow(readonly=True) as uow, pytest.raises(BusinessRuleViolation, match="USD"):
        svc.quote(uow, "atelier", "+44 7400 123456")


# The command line, run as a user runs it.


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLCREDIT_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-c", "from callcredit.entrypoints.cli.main import run; run()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def office(sqlite_url: str) -> str:
    """A SQLite database with account atelier on fr-office and no money."""
    assert cli(sqlite_url, "accounts", "create", "atelier", "--name", "Atelier").returncode == 0
    return sqlite_url


def test_cli_rate_json_has_exactly_the_contract_fields(office: str) -> None:
    """`rate --json` prints the twelve documented fields; a denial exits 1."""
    out = cli(office, "rate", "atelier", "0044 20 7946 0000", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "allow": True,
        "reason": "included",
        "e164": "+442079460000",
        "country": "GB",
        "kind": "fixed_line",
        "matched": "GB:fixed_line",
        "per_minute": None,
        "connect_fee": None,
        "increment": None,
        "billed_seconds": 0,
        "cost": "0.00",
        "currency": "EUR",
    }
    denied = cli(office, "rate", "atelier", "118218", "--seconds", "30", "--json")
    assert denied.returncode == 1
    body = json.loads(denied.stdout)
    assert (body["reason"], body["matched"], body["billed_seconds"], body["cost"]) == (
        "insufficient_funds",
        "+33118",
        60,
        "3.98",
    )


def test_cli_rate_explains_the_price(office: str) -> None:
    """The human output names the prefix, the rate, the billed seconds and the rounding."""
    out = cli(office, "rate", "atelier", "0892681234", "--seconds", "61")
    assert "prefix +3389" in out.stdout
    assert "0.8000 EUR/min, connect fee 0.1500, increment 1/1" in out.stdout
    assert "billed 61 s" in out.stdout
    assert "→ 0.96 EUR" in out.stdout


def test_cli_rates_import_and_bad_file_exit_codes(office: str, tmp_path: Path) -> None:
    """A good deck imports as a new version; a bad one exits 2 naming the line, no traceback."""
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "+44,UK,0.0300,0,60/60\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "+44,UK,0.0300,0,60/60\n+33,FR,0.01,0,0/0\n", encoding="utf-8")
    ok = cli(office, "rates", "import", str(good), "--deck", "standard")
    assert ok.returncode == 0, ok.stderr
    assert "1 rates in EUR imported as version 2" in ok.stdout
    refused = cli(office, "rates", "import", str(bad), "--deck", "standard")
    assert refused.returncode == 2
    assert "line 3" in refused.stderr
    assert "Traceback" not in refused.stderr
    missing = cli(office, "rates", "import", str(tmp_path / "nope.csv"), "--deck", "standard")
    assert missing.returncode == 2


def test_cli_plans_import(office: str, tmp_path: Path) -> None:
    """`plans import` loads a plan and warns when its deck is not loaded; bad plans exit 2."""
    plan = tmp_path / "plan.toml"
    plan.write_text(
        '[be-office]\nname = "Belgium office"\nhome_country = "BE"\ncurrency = "EUR"\n'
        'rate_deck = "belgium"\nincluded = ["BE:*"]\n',
        encoding="utf-8",
    )
    out = cli(office, "plans", "import", str(plan))
    assert out.returncode == 0, out.stderr
    assert "plan be-office imported" in out.stdout
    assert "rate deck belgium is not loaded yet" in out.stdout
    plan.write_text(plan.read_text().replace('"BE:*"', '"BE:landline"'), encoding="utf-8")
    refused = cli(office, "plans", "import", str(plan))
    assert refused.returncode == 2
    assert "unknown kind 'landline'" in refused.stderr
