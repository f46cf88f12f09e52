"""Rating commands: ``plans import``, ``rates import`` and ``rate``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from callcredit.domain.errors import InvalidPlan, InvalidRateDeck
from callcredit.domain.rating import Reason
from callcredit.services import rating as svc

if TYPE_CHECKING:
    from callcredit.bootstrap import App


def register(app: typer.Typer) -> None:
    from callcredit.entrypoints.cli.main import console, get_app

    plans_app = typer.Typer(help="Calling plans (what is included).", no_args_is_help=True)
    rates_app = typer.Typer(help="Rate decks (prices by prefix).", no_args_is_help=True)
    app.add_typer(plans_app, name="plans")
    app.add_typer(rates_app, name="rates")

    @plans_app.command("import")
    def plans_import(
        file: Annotated[Path, typer.Argument(metavar="FILE.toml", exists=True, dir_okay=False)],
    ) -> None:
        """Load the plans of a TOML file, replacing plans with the same id
        (all plans or none)."""
        text = _read(file, InvalidPlan)
        with get_app().uow() as uow:
            plans = svc.import_plans(uow, text)
            missing = svc.unloaded_decks(uow, plans)
        for plan in plans:
            console.print(
                f"plan {plan.id} imported: {plan.name} ({plan.home_country}, {plan.currency}, "
                f"deck {plan.rate_deck}, {len(plan.included)} included rules)",
                markup=False,
                highlight=False,
            )
        for deck in sorted(missing):
            console.print(
                f"note: rate deck {deck} is not loaded yet (callcredit rates import FILE.csv "
                f"--deck {deck})",
                markup=False,
                highlight=False,
            )

    @rates_app.command("import")
    def rates_import(
        file: Annotated[Path, typer.Argument(metavar="FILE.csv", exists=True, dir_okay=False)],
        deck: Annotated[str, typer.Option("--deck", help="Name of the deck to replace.")],
        currency: Annotated[str, typer.Option(help="Currency of the prices (ISO 4217).")] = "EUR",
    ) -> None:
        """Replace a rate deck with a CSV file (header prefix,description,
        per_minute,connect_fee,increment). A bad row fails the whole import
        with its line number; calls keep the old prices until it commits."""
        started = time.perf_counter()
        try:
            with file.open(encoding="utf-8-sig", newline="") as handle, get_app().uow() as uow:
                info = svc.import_deck(uow, deck, currency, handle)
        except UnicodeDecodeError as exc:
            raise InvalidRateDeck(f"{file} is not UTF-8 text ({exc.reason})") from exc
        elapsed = time.perf_counter() - started
        console.print(
            f"rate deck {info.deck}: {info.row_count} rates in {info.currency} imported as "
            f"version {info.version} ({elapsed:.1f} s)",
            markup=False,
            highlight=False,
        )

    @app.command()
    def rate(
        account: Annotated[str, typer.Argument(metavar="ACCOUNT", help="Account id.")],
        number: Annotated[str, typer.Argument(metavar="NUMBER", help="As the PBX dials it.")],
        seconds: Annotated[
            int, typer.Option("--seconds", min=0, help="Answered seconds to price.")
        ] = 60,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    ) -> None:
        """Explain the decision and the price of a call to NUMBER: the plan
        rule or rate-deck prefix that matched, the rate, the billed seconds
        and the cost. Exit 0 when the call would be allowed, 1 when denied.
        Nothing is reserved; the fraud guard is not evaluated."""
        with get_app().uow(readonly=True) as uow:
            quote = svc.quote(uow, account, number, seconds)
        if as_json:
            print(json.dumps(quote.as_json()))
        else:
            for label, text in explain(quote):
                console.print(f"{label:<12} {text}", markup=False, highlight=False, soft_wrap=True)
        if not quote.decision.allow:
            raise typer.Exit(1)


def _read(file: Path, error: type[Exception]) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{file} is not UTF-8 text ({exc.reason})") from exc


def explain(quote: svc.Quote) -> list[tuple[str, str]]:
    """The human explanation of a quote, as (label, text) lines."""
    d = quote.decision
    n = d.number
    cur = quote.cost.currency
    lines = [("Destination", f"{n.dialled} → {n.e164}, {n.label}" if n.e164 else n.dialled)]
    verdict = "allowed" if d.allow else "denied"
    why = {
        Reason.INVALID_NUMBER: f"not a number ({n.label})",
        Reason.EMERGENCY: "always allowed, free, no time limit",
        Reason.INCLUDED: f"plan rule {d.rule}: free, no time limit",
        Reason.DESTINATION_BLOCKED: f"no prefix of rate deck {quote.deck} matches {n.e164}",
        Reason.LOW_BALANCE: (
            f"paid calls stop below the Settings threshold; available {quote.available} {cur}"
        ),
        Reason.INSUFFICIENT_FUNDS: (
            f"the first interval costs {d.first_interval} {cur}, available {quote.available} {cur}"
        ),
        Reason.PREPAID: (
            f"up to {d.granted_seconds} s on the available {quote.available} {cur} "
            f"(reserving {d.reserve} {cur})"
        ),
    }.get(d.reason, str(d.reason))
    lines.append(("Decision", f"{verdict}: {d.reason} — {why}"))
    rate = d.rate
    if rate is not None:
        lines.append(
            (
                "Rate",
                f"prefix {rate.prefix} ({rate.description}): {rate.per_minute} {cur}/min, "
                f"connect fee {rate.connect_fee}, increment {rate.increment}",
            )
        )
        if quote.seconds == 0:
            lines.append(("Price", f"0 s answered → nothing billed → 0 {cur}"))
        else:
            exact = rate.connect_fee + rate.per_minute * quote.billed_seconds / 60
            a, b = rate.increment.first, rate.increment.step
            steps = (quote.billed_seconds - a) // b
            split = f" ({a} + {steps} × {b})" if steps else ""
            lines.append(
                (
                    "Price",
                    f"{quote.seconds} s answered → billed {quote.billed_seconds} s{split} → "
                    f"{rate.connect_fee} + {rate.per_minute} × {quote.billed_seconds}/60 = "
                    f"{exact:.6f} → {quote.cost} {cur} (rounded half-up once)",
                )
            )
    return lines


def load_shipped_data(cc: App) -> None:
    """Run by ``callcredit init``: load the shipped plans and decks if absent."""
    from callcredit.entrypoints.cli.main import console

    with cc.uow() as uow:
        loaded = svc.install_shipped(uow)
    for what in loaded:
        console.print(f"loaded {what}", markup=False, highlight=False)
