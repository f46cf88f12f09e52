"""Schema, ledger and account commands: init, verify, accounts, balance."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from callcredit.bootstrap import App
from callcredit.entrypoints.cli.rating import load_shipped_data
from callcredit.services import accounts as svc


def register(app: typer.Typer) -> None:
    from callcredit.entrypoints.cli.main import console, fail, get_app

    accounts_app = typer.Typer(help="Customer accounts.", no_args_is_help=True)
    app.add_typer(accounts_app, name="accounts")

    @app.command()
    def init() -> None:
        """Create or upgrade the database schema (safe to run again)."""
        from callcredit.adapters import schema  # alembic loads slowly: only here

        cc = get_app()
        before, after = schema.upgrade(cc.engine)
        for hook in INIT_HOOKS:
            hook(cc)
        if before == after:
            console.print(f"schema is up to date (revision {after})")
        else:
            console.print(f"schema upgraded from {before or 'empty'} to revision {after}")

    @app.command()
    def verify() -> None:
        """Check every ledger invariant; exit 1 naming each violation."""
        with get_app().uow(readonly=True) as uow:
            problems = uow.ledger.verify()
        if problems:
            for problem in problems:
                console.print(f"violation: {problem}", markup=False, highlight=False)
            raise fail(f"{len(problems)} ledger invariant(s) violated")
        console.print("ledger verified: every invariant holds")

    @accounts_app.command("create")
    def accounts_create(
        account_id: Annotated[str, typer.Argument(metavar="ID", help="Account id.")],
        name: Annotated[str, typer.Option("--name", help="Business name.")],
        country: Annotated[str, typer.Option(help="Home country (ISO code).")] = "FR",
        currency: Annotated[str, typer.Option(help="Currency (ISO 4217).")] = "EUR",
        plan: Annotated[str, typer.Option(help="Calling plan id.")] = "fr-office",
        language: Annotated[str, typer.Option("--language", help="en or fr.")] = "en",
        admin_email: Annotated[str | None, typer.Option(help="First administrator.")] = None,
        admin_password: Annotated[str | None, typer.Option(help="Their password.")] = None,
    ) -> None:
        """Create a customer account."""
        with get_app().uow() as uow:
            account = svc.create_account(
                uow,
                account_id,
                name=name,
                country=country.upper(),
                currency=currency.upper(),
                plan=plan,
                locale=language,
                admin_email=admin_email,
                admin_password=admin_password,
            )
        console.print(
            f"account {account.account_id} created ({account.country}, {account.currency}, "
            f"plan {account.plan})",
            markup=False,
        )

    @app.command()
    def balance(
        account_id: Annotated[str, typer.Argument(metavar="ACCOUNT")],
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Show the prepaid balance: posted, reserved and available."""
        with get_app().uow(readonly=True) as uow:
            view = svc.balance(uow, account_id)
        if as_json:
            print(json.dumps(view.as_json()))
            return
        table = Table(title=f"Prepaid balance of {account_id}")
        for column in ("balance", "reserved", "available"):
            table.add_column(column, justify="right")
        data = view.as_json()
        table.add_row(
            *(f"{data[c]} {data['currency']}" for c in ("balance", "reserved", "available"))
        )
        console.print(table)


# Functions run by `callcredit init` after the schema upgrade (shipped data).
INIT_HOOKS: list[Callable[[App], None]] = [load_shipped_data]
