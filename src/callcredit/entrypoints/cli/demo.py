"""``callcredit demo``: a fresh demo database — a Paris office with five
extensions, a test card, funds, Settings and a month of calls posted through
the real charging service (so the ledger, the top-offs and the Prepaid
Activity are real) — then the server."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from callcredit.adapters import schema
from callcredit.bootstrap import App, bootstrap
from callcredit.config import load_settings
from callcredit.domain.errors import InvalidInput
from callcredit.domain.money import Money
from callcredit.services import cards, charging, funds, topoff
from callcredit.services import settings as low_balance
from callcredit.services.accounts import create_account
from callcredit.services.extensions import add_extension, set_rights

DEFAULT_URL = "sqlite:///callcredit-demo.db"
ACCOUNT = "atelier-lumiere"
EMAIL = "admin@atelier-lumiere.fr"
PASSWORD = "lumiere-demo"  # noqa: S105 - the published login of the demo office
EXTENSIONS = (("101", "Accueil — Camille"), ("102", "Direction — Sophie"),
              ("103", "Studio — Hugo"), ("104", "Comptabilité — Léa"),
              ("105", "Salle de réunion"))  # fmt: skip
# (weight, dialled number) — paid destinations and premium-rate numbers;
# calls inside the plan (French numbers, UK landlines ...) are free and do
# not show in the Prepaid Activity.
DESTINATIONS = (
    (6, "+44 7400 123456"),  # United Kingdom mobile
    (6, "+1 212 555 0142"),  # New York
    (3, "+1 514 555 0199"),  # Montréal
    (3, "+81 3 1234 5678"),  # Tokyo
    (3, "+212 5 22 12 34 56"),  # Casablanca
    (2, "+216 71 123 456"),  # Tunis
    (2, "+86 10 1234 5678"),  # Beijing
    (2, "+41 79 123 45 67"),  # Swiss mobile
    (1, "0891 70 50 50"),  # premium-rate
    (1, "118 218"),  # directory enquiries
)


class DemoClock:
    """A clock the demo moves through the past month, then lets run."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed or datetime.now(UTC)


@dataclass
class Demo:
    url: str
    calls: int
    balance: str


def database_url(given: str | None) -> str:
    """The demo database: ``given`` or ``callcredit-demo.db`` here; SQLite only,
    since it is deleted and recreated."""
    url = given or DEFAULT_URL
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise InvalidInput("the demo recreates its database, so it only runs on a SQLite file")
    path = Path(parsed.database)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return url


def build(url: str, *, days: int = 30, seed: int = 2026) -> Demo:
    """Create and fill the demo database at ``url`` (which must be empty)."""
    from callcredit.entrypoints.cli.commands import INIT_HOOKS

    clock = DemoClock()
    cc = bootstrap(load_settings(database_url=url), clock=clock)
    try:
        schema.upgrade(cc.engine)
        for hook in INIT_HOOKS:
            hook(cc)
        start = (datetime.now(UTC) - timedelta(days=days)).replace(hour=8, minute=0, second=0,
                                                                    microsecond=0)  # fmt: skip
        clock.fixed = start
        _office(cc)
        calls = _month_of_calls(cc, clock, start, days, random.Random(seed))
        clock.fixed = None
        with cc.uow(readonly=True) as uow:
            balance = Money(uow.ledger.balance(ACCOUNT).available, "EUR")
        return Demo(url, calls, str(balance))
    finally:
        cc.close()


def _office(cc: App) -> None:
    with cc.uow() as uow:
        create_account(uow, ACCOUNT, name="Atelier Lumière", country="FR", currency="EUR",
                       plan="fr-office", locale="fr", admin_email=EMAIL,
                       admin_password=PASSWORD)  # fmt: skip
        for number, name in EXTENSIONS:
            add_extension(uow, ACCOUNT, number, name)
        set_rights(uow, ACCOUNT, "105", paid_allowed=False)
        set_rights(uow, ACCOUNT, "101", premium_allowed=False)
        set_rights(uow, ACCOUNT, "103", monthly_cap=4000)
    address = cards.BillingAddress("12 rue de la Roquette", "", "75011", "Paris", "FR")
    cards.set_card(cc, ACCOUNT, number="4242 4242 4242 4242", exp="12/29", cvc="123",
                   holder="Atelier Lumière SARL", address=address)  # fmt: skip
    funds.add_funds(cc, ACCOUNT, Money(5000, "EUR"), idempotency_key="demo-first-funds")
    with cc.uow() as uow:
        low_balance.set_low_balance(uow, ACCOUNT, "auto-topoff", below=Money(1000, "EUR"),
                                    amount=Money(2500, "EUR"))  # fmt: skip


def _month_of_calls(cc: App, clock: DemoClock, start: datetime, days: int,
                    rng: random.Random) -> int:  # fmt: skip
    weights = [w for w, _ in DESTINATIONS]
    numbers = [n for _, n in DESTINATIONS]
    made = 0
    for day in range(days):
        morning = start + timedelta(days=day)
        if morning.weekday() >= 5:
            continue
        starts = sorted(rng.randint(30, 600) for _ in range(rng.randint(2, 6)))
        for n, minutes in enumerate(starts):
            clock.fixed = max(clock.now(), morning + timedelta(minutes=minutes))
            extension = rng.choice(EXTENSIONS)[0]
            call_id = f"demo-{day:02d}-{n}"
            destination = rng.choices(numbers, weights)[0]
            answer = charging.authorize(cc, charging.AuthorizeCall(
                call_id, ACCOUNT, extension, destination, quota_seconds=3600))  # fmt: skip
            if not answer["allow"]:
                continue
            seconds = 0 if rng.random() < 0.1 else int(rng.triangular(20, 1500, 180))
            limit = answer["granted_seconds"]
            if limit is not None:
                seconds = min(seconds, limit)
            clock.fixed += timedelta(seconds=seconds + 15)
            charging.end(cc, charging.EndCall(call_id, seconds))
            made += 1
            while topoff.run_round(cc):
                pass
    return made


def register(app: typer.Typer) -> None:
    from callcredit.entrypoints.cli.main import _state, console

    @app.command()
    def demo(
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        serve: Annotated[bool, typer.Option(help="Serve once the data is ready.")] = True,
    ) -> None:
        """Recreate a demo database (a Paris office with a month of calls) and serve it."""
        from callcredit.entrypoints.cli.serving import run_server

        given = _state.get("database_url")
        url = database_url(given if isinstance(given, str) else None)
        # Links in e-mails and help pages point at this demo server.
        os.environ.setdefault("CALLCREDIT_PUBLIC_URL", f"http://{host}:{port}")
        console.print(f"building the demo office in {url} …", markup=False)
        built = build(url)
        console.print(f"{built.calls} calls over the past month; available balance "
                      f"{built.balance} EUR", markup=False)  # fmt: skip
        console.print(f"\n  office manager: http://{host}:{port}/\n  e-mail:   {EMAIL}\n"
                      f"  password: {PASSWORD}\n  (pages in French; English at the top right)\n",
                      markup=False)  # fmt: skip
        if serve:
            run_server(host, port, 1, url)
