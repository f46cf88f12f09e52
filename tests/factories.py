"""Small builders for test data, through the real services."""

from __future__ import annotations

from callcredit.bootstrap import App
from callcredit.domain import ledger as L
from callcredit.services.accounts import create_account
from callcredit.services.extensions import add_extension
from callcredit.services.tokens import create_token


def office(
    app: App,
    account: str = "atelier",
    *,
    funds: int = 0,
    extensions: tuple[str, ...] = ("101", "102", "103", "104", "105"),
) -> None:
    """A Paris office on the shipped fr-office plan with some extensions."""
    with app.uow() as uow:
        create_account(uow, account, name="Atelier Lumière")
        for number in extensions:
            add_extension(uow, account, number)
    if funds:
        credit(app, account, funds)


def credit(app: App, account: str, amount: int, key: str | None = None) -> None:
    """Credit the prepaid balance as a funding would (card → prepaid)."""
    with app.uow() as uow:
        uow.ledger.transfer(
            account,
            key=key or f"test-credit-{amount}-{uow.clock.now().timestamp()}",
            debit=L.CARD,
            credit=L.PREPAID,
            amount=amount,
            kind=L.KIND_FUNDS_ADDED,
            reference="test",
        )


def pbx_token(app: App) -> str:
    with app.uow() as uow:
        return create_token(uow, "pbx")


def available(app: App, account: str = "atelier") -> int:
    with app.uow(readonly=True) as uow:
        return uow.ledger.balance(account).available


def verify(app: App) -> list[str]:
    with app.uow(readonly=True) as uow:
        return uow.ledger.verify()
