"""Builders and probes for the billing tests, through the real services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from callcredit.adapters import tables as t
from callcredit.bootstrap import App, bootstrap
from callcredit.config import Settings
from callcredit.domain import ledger as L
from callcredit.domain.clock import new_id
from callcredit.domain.money import Money
from callcredit.services import cards, funds
from callcredit.services import settings as low_balance
from callcredit.services.accounts import add_admin, open_account
from tests.clocks import FakeClock

VISA = "4242424242424242"
DECLINED = "4000000000000002"
INSUFFICIENT = "4000000000009995"
FAILS_AFTER_SAVE = "4000000000000341"
TIMEOUT = "4000000000008880"


def billing_app(db_url: str, clock: FakeClock | None = None, **settings: Any) -> App:
    """An application over ``db_url`` with a hand-moved clock."""
    return bootstrap(Settings(database_url=db_url, **settings), clock=clock or FakeClock())


def office(app: App, account: str = "atelier", *, language: str = "en") -> None:
    """A customer account with one administrator (admin@atelier.test)."""
    with app.uow() as uow:
        open_account(uow, account, name="Atelier Lumière", locale=language)
        add_admin(uow, account, f"admin@{account}.test", "correct horse", locale=language)


def put_card(app: App, number: str = VISA, account: str = "atelier") -> cards.CardOnFile:
    return cards.set_card(app, account, number=number, exp="12/30", cvc="123",
                          holder="Camille Martin")  # fmt: skip


def eur(major: str) -> Money:
    return Money.parse(major, "EUR")


def buy(app: App, major: str, account: str = "atelier", key: str | None = None) -> Any:
    return funds.add_funds(app, account, eur(major), idempotency_key=key)


def auto_topoff(app: App, below: str, amount: str, account: str = "atelier") -> None:
    with app.uow() as uow:
        low_balance.set_low_balance(uow, account, "auto-topoff", below=eur(below),
                                    amount=eur(amount))  # fmt: skip


def spend(app: App, minor: int, account: str = "atelier", key: str | None = None) -> None:
    """Debit the prepaid balance as a call would."""
    with app.uow() as uow:
        uow.ledger.transfer(
            account, key=key or f"spend-{new_id()}", debit=L.PREPAID,
            credit=L.REVENUE, amount=minor, kind=L.KIND_CALL, reference="call",
        )  # fmt: skip


def available(app: App, account: str = "atelier") -> int:
    with app.uow(readonly=True) as uow:
        return uow.ledger.balance(account).available


def verify(app: App) -> list[str]:
    with app.uow(readonly=True) as uow:
        return uow.ledger.verify()


def transfers(app: App, kind: str, account: str = "atelier") -> list[Any]:
    """The account's transfers of one kind, oldest first."""
    tr = t.transfers.c
    with app.uow(readonly=True) as uow:
        stmt = select(t.transfers).where(tr.account_id == account, tr.kind == kind)
        return list(uow.conn.execute(stmt.order_by(tr.seq)).all())


def gateway_charges(app: App) -> list[Any]:
    """Every charge the simulated gateway made (one row per idempotency key)."""
    c = t.gateway_charges.c
    with app.uow(readonly=True) as uow:
        return list(
            uow.conn.execute(
                select(t.gateway_charges).where(c.kind == "charge").order_by(c.created_at)
            ).all()
        )


def rows(app: App, table: Any, **where: Any) -> list[Any]:
    with app.uow(readonly=True) as uow:
        stmt = select(table)
        for name, value in where.items():
            stmt = stmt.where(table.c[name] == value)
        return list(uow.conn.execute(stmt).all())


def count(app: App, table: Any, **where: Any) -> int:
    with app.uow(readonly=True) as uow:
        stmt = select(func.count()).select_from(table)
        for name, value in where.items():
            stmt = stmt.where(table.c[name] == value)
        return int(uow.conn.execute(stmt).scalar_one())


def account_row(app: App, account: str = "atelier") -> Any:
    with app.uow(readonly=True) as uow:
        return uow.conn.execute(select(t.accounts).where(t.accounts.c.account_id == account)).one()
