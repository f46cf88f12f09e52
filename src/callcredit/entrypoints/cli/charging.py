"""Commands for charging: extensions, tokens, activity and CDR import."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from callcredit.domain.errors import InvalidInput
from callcredit.domain.money import Money
from callcredit.services import activity as act
from callcredit.services import cdr as cdrs
from callcredit.services import extensions as ext_svc
from callcredit.services.accounts import get_account
from callcredit.services.tokens import create_token


def _yes_no(value: str | None, what: str) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("yes", "true", "allow", "allowed", "on"):
        return True
    if lowered in ("no", "false", "block", "blocked", "off"):
        return False
    raise InvalidInput(f"{what} must be allow or block, not {value!r}")


def register(app: typer.Typer) -> None:
    from callcredit.entrypoints.cli.main import console, get_app

    ext_app = typer.Typer(help="Telephone extensions and their rights.", no_args_is_help=True)
    app.add_typer(ext_app, name="extensions")
    tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
    app.add_typer(tokens_app, name="tokens")
    cdr_app = typer.Typer(help="Call detail records.", no_args_is_help=True)
    app.add_typer(cdr_app, name="cdr")

    @ext_app.command("add")
    def extensions_add(
        account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
        number: Annotated[str, typer.Argument(metavar="NUMBER")],
        name: Annotated[str, typer.Option(help="Who uses it.")] = "",
    ) -> None:
        """Add an extension (paid and premium calls allowed, no cap)."""
        with get_app().uow() as uow:
            ext_svc.add_extension(uow, account, number, name)
        console.print(f"extension {number} added to {account}", markup=False)

    @ext_app.command("set")
    def extensions_set(
        account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
        number: Annotated[str, typer.Argument(metavar="NUMBER")],
        paid: Annotated[str | None, typer.Option(help="allow or block paid calls.")] = None,
        premium: Annotated[str | None, typer.Option(help="allow or block premium-rate.")] = None,
        cap: Annotated[
            str | None, typer.Option(help="Monthly cap in major units, or 'none'.")
        ] = None,
        name: Annotated[str | None, typer.Option(help="Who uses it.")] = None,
    ) -> None:
        """Change an extension's rights."""
        with get_app().uow() as uow:
            currency = get_account(uow, account).currency
            clear = cap is not None and cap.lower() == "none"
            minor = Money.parse(cap, currency).minor if cap is not None and not clear else None
            ext = ext_svc.set_rights(
                uow,
                account,
                number,
                paid_allowed=_yes_no(paid, "--paid"),
                premium_allowed=_yes_no(premium, "--premium"),
                monthly_cap=minor,
                clear_cap=clear,
                name=name,
            )
        cap_text = (
            "no cap" if ext.monthly_cap is None else f"cap {Money(ext.monthly_cap, currency)}"
        )
        console.print(
            f"extension {number}: paid {'allowed' if ext.paid_allowed else 'blocked'}, premium "
            f"{'allowed' if ext.premium_allowed else 'blocked'}, {cap_text}",
            markup=False,
        )

    @ext_app.command("list")
    def extensions_list(account: Annotated[str, typer.Argument(metavar="ACCOUNT")]) -> None:
        """List extensions with their rights and month-to-date spend."""
        with get_app().uow(readonly=True) as uow:
            currency = get_account(uow, account).currency
            views = ext_svc.list_extensions(uow, account)
        table = Table(title=f"Extensions of {account}")
        for col in ("extension", "name", "paid", "premium", "monthly cap", "this month"):
            table.add_column(col)
        for v in views:
            e = v.extension
            table.add_row(
                e.extension,
                e.name,
                "allowed" if e.paid_allowed else "blocked",
                "allowed" if e.premium_allowed else "blocked",
                "—" if e.monthly_cap is None else str(Money(e.monthly_cap, currency)),
                str(Money(v.month_spent, currency)),
            )
        console.print(table)

    @tokens_app.command("create")
    def tokens_create(
        role: Annotated[str, typer.Option(help="pbx or admin.")],
        account: Annotated[str | None, typer.Option(help="Account (admin tokens).")] = None,
        label: Annotated[str, typer.Option(help="A note on where it is used.")] = "",
    ) -> None:
        """Create an API token; it is printed once and stored hashed."""
        with get_app().uow() as uow:
            secret = create_token(uow, role, account_id=account, label=label)
        print(secret)

    @app.command()
    def activity(
        account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
        fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
        start: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
        extension: Annotated[str | None, typer.Option(help="Only this extension.")] = None,
        kind: Annotated[str | None, typer.Option("--type", help="call or funds.")] = None,
    ) -> None:
        """The Prepaid Activity: calls that drew on the balance and funding."""
        if fmt not in ("table", "csv", "json"):
            raise InvalidInput("--format must be table, csv or json")
        filters = act.Filters(act.parse_day(start), act.parse_day(end), extension, kind)
        with get_app().uow(readonly=True) as uow:
            get_account(uow, account)
            lines = act.entries(uow, account, filters, newest_first=fmt == "table")
        if fmt == "csv":
            print(act.to_csv(lines), end="")
            return
        if fmt == "json":
            print(json.dumps([act.as_json(e) for e in lines]))
            return
        table = Table(title=f"Prepaid Activity of {account}")
        for col in (
            "time (UTC)",
            "type",
            "ext.",
            "destination",
            "country",
            "seconds",
            "amount",
            "balance",
        ):
            table.add_column(col)
        for e in lines:
            table.add_row(
                e.time.strftime("%Y-%m-%d %H:%M"),
                e.type,
                e.extension or "",
                e.destination or e.reference,
                e.country or "",
                "" if e.billed_seconds is None else str(e.billed_seconds),
                str(e.amount),
                str(e.balance_after),
            )
        console.print(table)

    @cdr_app.command("import")
    def cdr_import(
        file: Annotated[Path, typer.Argument(metavar="FILE", exists=True, dir_okay=False)],
        fmt: Annotated[str, typer.Option("--format", help="asterisk-csv")] = "asterisk-csv",
    ) -> None:
        """Rate and post finished calls (idempotent on the call id)."""
        if fmt not in cdrs.FORMATS:
            raise InvalidInput(f"--format must be one of {', '.join(cdrs.FORMATS)}")
        total = sum(1 for _ in file.open(encoding="utf-8", errors="replace"))
        columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with (
            Progress(*columns, console=console, transient=True) as progress,
            file.open(encoding="utf-8", errors="replace", newline="") as handle,
        ):
            task = progress.add_task("cdr", total=total)
            report = cdrs.import_file(
                get_app(), handle, fmt=fmt, progress=lambda n: progress.advance(task, n)
            )
        charged = ", ".join(f"{Money(v, c)} {c}" for c, v in report.charged.items()) or "nothing"
        console.print(
            f"{report.imported} paid call(s) imported ({charged}), {report.free} free, "
            f"{report.settled_live} settled open live session(s), {report.duplicates} already "
            f"settled, {len(report.errors)} rejected",
            markup=False,
        )
        for line, reason in report.errors[:50]:
            console.print(f"line {line}: {reason}", markup=False, highlight=False)
        if len(report.errors) > 50:
            console.print(f"… and {len(report.errors) - 50} more rejected line(s)")
        if report.errors:
            raise typer.Exit(1)
