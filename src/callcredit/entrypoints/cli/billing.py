"""Billing commands: the card on file, Add Funds and the low-balance Settings."""

from __future__ import annotations

from typing import Annotated

import typer

from callcredit.domain.money import Money
from callcredit.services import cards as card_svc
from callcredit.services import funds as funds_svc
from callcredit.services import settings as settings_svc
from callcredit.services.accounts import Account, get_account


def register(app: typer.Typer) -> None:
    from callcredit.entrypoints.cli.main import console, get_app

    cards_app = typer.Typer(help="The card on file (Billing).", no_args_is_help=True)
    app.add_typer(cards_app, name="cards")
    funds_app = typer.Typer(help="Add Funds to the Prepaid Account.", no_args_is_help=True)
    app.add_typer(funds_app, name="funds")
    settings_app = typer.Typer(
        help="What happens when the balance runs low (Settings).", no_args_is_help=True
    )
    app.add_typer(settings_app, name="settings")

    @cards_app.command("set")
    def cards_set(
        account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
        number: Annotated[
            str, typer.Option(prompt="Card number", hide_input=True, help="Card number.")
        ],
        exp: Annotated[str, typer.Option(help="Expiry date, MM/YY.")],
        cvc: Annotated[
            str, typer.Option(prompt="Security code", hide_input=True, help="3 or 4 digits.")
        ],
        name: Annotated[str, typer.Option("--name", help="Cardholder's name.")],
        address: Annotated[str, typer.Option(help="Billing address, first line.")] = "",
        address2: Annotated[str, typer.Option(help="Billing address, second line.")] = "",
        postal_code: Annotated[str, typer.Option(help="Postal code.")] = "",
        city: Annotated[str, typer.Option(help="City.")] = "",
        country: Annotated[str, typer.Option(help="Billing country (ISO code).")] = "",
    ) -> None:
        """Put a card on file (replaces the previous one). Only a gateway
        token, the brand, the last four digits and the expiry are kept."""
        billing = card_svc.BillingAddress(address, address2, postal_code, city, country)
        card = card_svc.set_card(get_app(), account, number=number, exp=exp, cvc=cvc,
                                 holder=name, address=billing)  # fmt: skip
        console.print(
            f"card on file for {account}: {card.label}, expires {card.expiry}, {card.holder}",
            markup=False,
        )

    @cards_app.command("show")
    def cards_show(account: Annotated[str, typer.Argument(metavar="ACCOUNT")]) -> None:
        """Show the card on file and the billing address."""
        with get_app().uow(readonly=True) as uow:
            get_account(uow, account)
            card = card_svc.get_card(uow, account)
        if card is None:
            console.print(f"{account} has no card on file", markup=False)
            return
        console.print(f"{card.label}, expires {card.expiry}, {card.holder}", markup=False)
        for line in card.address.lines():
            console.print(f"  {line}", markup=False)

    @funds_app.command("add")
    def funds_add(
        account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
        amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="A preset amount.")],
        key: Annotated[
            str | None,
            typer.Option(help="Idempotency key: repeating it never charges twice."),
        ] = None,
    ) -> None:
        """Charge the card on file one of the preset amounts and add it to
        the prepaid balance."""
        cc = get_app()
        with cc.uow(readonly=True) as uow:
            currency = get_account(uow, account).currency
        purchase = funds_svc.add_funds(cc, account, Money.parse(amount, currency),
                                       idempotency_key=key)  # fmt: skip
        after = purchase.balance_after
        console.print(
            f"added {purchase.amount} {currency} from {purchase.card_label}"
            + (f"; balance {after} {currency}" if after is not None else ""),
            markup=False,
        )

    @settings_app.command("set")
    def settings_set(
        account: Annotated[str, typer.Argument(metavar="ACCOUNT")],
        mode: Annotated[str, typer.Option(help="auto-topoff, stop-below or off.")],
        below: Annotated[
            str | None, typer.Option(help="Threshold X, in major units (e.g. 5).")
        ] = None,
        amount: Annotated[
            str | None, typer.Option(help="Top-off amount Y: one of the preset amounts.")
        ] = None,
    ) -> None:
        """Choose what happens when the available balance falls below X.
        Choosing auto-topoff while already below X tops off at once."""
        cc = get_app()
        with cc.uow() as uow:
            currency = get_account(uow, account).currency
            chosen = settings_svc.set_low_balance(
                uow, account, mode,
                below=None if below is None else Money.parse(below, currency),
                amount=None if amount is None else Money.parse(amount, currency),
                presets=funds_svc.preset_amounts(cc.settings, currency),
            )  # fmt: skip
        console.print(f"{account}: {_describe(chosen)}", markup=False)

    @settings_app.command("show")
    def settings_show(account: Annotated[str, typer.Argument(metavar="ACCOUNT")]) -> None:
        """Show the low-balance Settings."""
        with get_app().uow(readonly=True) as uow:
            chosen = get_account(uow, account)
        console.print(f"{account}: {_describe(chosen)}", markup=False)


def _describe(account: Account) -> str:
    cur = account.currency
    below = f"{Money(account.low_balance_below, cur)} {cur}"
    if account.low_balance_mode == "auto-topoff":
        text = f"top off {Money(account.topoff_amount, cur)} {cur} when below {below}"
        return text + (" (suspended after failed charges)" if account.topoff_suspended else "")
    if account.low_balance_mode == "stop-below":
        return f"stop paid calls below {below}"
    return "neither: paid calls run until the funds are used up"
