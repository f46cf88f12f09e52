"""The card on file (Account → Billing → Payment Information).

The card is checked here, saved at the payment gateway, and only the
gateway's token, the brand, the last four digits, the expiry date, the
holder and the billing address are kept. The full number and the security
code never reach the database or a log line.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, select, update

from callcredit.adapters import tables as t
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain.cards import card_label, validate_card
from callcredit.domain.errors import InvalidInput, NoCardOnFile
from callcredit.services.accounts import get_account

if TYPE_CHECKING:
    from callcredit.bootstrap import App

log = logging.getLogger("callcredit.cards")
COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class BillingAddress:
    """The billing address printed with the card (every part optional)."""

    line1: str = ""
    line2: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = ""

    def checked(self) -> BillingAddress:
        parts = {f.name: " ".join(getattr(self, f.name).split()) for f in fields(self)}
        limits = {"line1": 200, "line2": 200, "postal_code": 20, "city": 100, "country": 2}
        for name, limit in limits.items():
            if len(parts[name]) > limit:
                raise InvalidInput(f"the billing address {name} is longer than {limit}")
        parts["country"] = parts["country"].upper()
        if parts["country"] and not COUNTRY.match(parts["country"]):
            raise InvalidInput("the billing country is a two-letter ISO code such as FR")
        return BillingAddress(**parts)

    def lines(self) -> list[str]:
        """The non-empty lines, as printed on an envelope."""
        town = " ".join(p for p in (self.postal_code, self.city) if p)
        return [p for p in (self.line1, self.line2, town, self.country) if p]


@dataclass(frozen=True, slots=True)
class CardOnFile:
    """The card on file as it may be shown: never its number."""

    account_id: str
    gateway: str
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder: str
    address: BillingAddress
    updated_at: datetime

    @property
    def label(self) -> str:
        """``Visa •••• 4242``"""
        return card_label(self.brand, self.last4)

    @property
    def expiry(self) -> str:
        """``04/2029``"""
        return f"{self.exp_month:02d}/{self.exp_year}"

    def expired(self, today: date) -> bool:
        return (self.exp_year, self.exp_month) < (today.year, today.month)


def get_card(uow: UnitOfWork, account_id: str) -> CardOnFile | None:
    """The account's card on file, if any."""
    c = t.cards.c
    row = uow.conn.execute(select(t.cards).where(c.account_id == account_id)).one_or_none()
    if row is None:
        return None
    address = BillingAddress(
        row.address_line1, row.address_line2, row.postal_code, row.city, row.address_country
    )
    return CardOnFile(
        row.account_id, row.gateway, row.token, row.brand, row.last4, row.exp_month,
        row.exp_year, row.holder, address, row.updated_at,
    )  # fmt: skip


def set_card(
    app: App,
    account_id: str,
    *,
    number: str,
    exp: str,
    cvc: str,
    holder: str,
    address: BillingAddress | None = None,
) -> CardOnFile:
    """Check the card, save it at the gateway and keep it on file in place
    of the previous one. A new card lifts a suspended automatic top-off
    (the administrator has dealt with the card that failed)."""
    details = validate_card(number, exp, cvc, holder, today=app.clock.now().date())
    checked = (address or BillingAddress()).checked()
    with app.uow(readonly=True) as uow:
        get_account(uow, account_id)
        current = get_card(uow, account_id)
    gateway = app.payment_gateway()
    replaces = current.token if current is not None and current.gateway == gateway.name else None
    saved = gateway.save_card(details, account_id=account_id, replaces=replaces)
    with app.uow() as uow:
        uow.ledger.lock(account_id)
        uow.conn.execute(delete(t.cards).where(t.cards.c.account_id == account_id))
        uow.conn.execute(
            insert(t.cards).values(
                account_id=account_id, gateway=gateway.name, token=saved.token,
                brand=saved.brand, last4=saved.last4, exp_month=saved.exp_month,
                exp_year=saved.exp_year, holder=details.holder, address_line1=checked.line1,
                address_line2=checked.line2, postal_code=checked.postal_code,
                city=checked.city, address_country=checked.country,
                updated_at=uow.clock.now(),
            )
        )  # fmt: skip
        _lift_suspension(uow, account_id)
        card = get_card(uow, account_id)
    assert card is not None
    log.info("account %s: card on file is now %s, expiring %s", account_id, card.label,
             card.expiry)  # fmt: skip
    return card


def set_billing_address(
    uow: UnitOfWork, account_id: str, *, holder: str, address: BillingAddress
) -> CardOnFile:
    """Change the holder's name and billing address of the card on file."""
    card = get_card(uow, account_id)
    if card is None:
        raise NoCardOnFile("there is no card on file to change")
    name = " ".join(holder.split())
    if not name or len(name) > 200:
        raise InvalidInput("the cardholder's name must have 1 to 200 characters")
    checked = address.checked()
    uow.conn.execute(
        update(t.cards)
        .where(t.cards.c.account_id == account_id)
        .values(
            holder=name, address_line1=checked.line1, address_line2=checked.line2,
            postal_code=checked.postal_code, city=checked.city,
            address_country=checked.country, updated_at=uow.clock.now(),
        )
    )  # fmt: skip
    changed = get_card(uow, account_id)
    assert changed is not None
    return changed


def _lift_suspension(uow: UnitOfWork, account_id: str) -> None:
    a = t.accounts.c
    suspended = uow.conn.execute(
        select(a.topoff_suspended).where(a.account_id == account_id)
    ).scalar_one()
    uow.conn.execute(update(t.accounts).where(a.account_id == account_id).values(topoff_failures=0))
    if suspended:
        uow.conn.execute(
            update(t.accounts)
            .where(a.account_id == account_id)
            .values(topoff_suspended=False, topoff_armed=True)
        )
        uow.ledger.check_low_balance(account_id)
