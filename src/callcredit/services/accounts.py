"""Customer accounts: creation, lookup and the prepaid balance."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select

from callcredit.adapters import tables as t
from callcredit.adapters.passwords import hash_password
from callcredit.adapters.prepared import Prepared
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain.errors import AlreadyExists, InvalidInput, NotFound
from callcredit.domain.ledger import Balance
from callcredit.domain.money import Money, check_currency

ACCOUNT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
LOCALES = ("en", "fr")


@dataclass(frozen=True, slots=True)
class Account:
    """A customer account as the services see it."""

    account_id: str
    name: str
    country: str
    currency: str
    plan: str
    locale: str
    low_balance_mode: str
    low_balance_below: int
    topoff_amount: int
    topoff_suspended: bool
    topoff_failures: int
    fraud_spend_per_hour: int | None
    fraud_concurrent_calls: int | None


def open_account(
    uow: UnitOfWork,
    account_id: str,
    *,
    name: str,
    country: str = "FR",
    currency: str = "EUR",
    plan: str = "fr-office",
    locale: str = "en",
) -> Account:
    """Insert the account row and open its ledger (no plan check)."""
    if not ACCOUNT_ID.match(account_id):
        raise InvalidInput(
            "account id must be 1-64 lower-case letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit: {account_id!r}"
        )
    if not name.strip():
        raise InvalidInput("account name must not be empty")
    if not COUNTRY.match(country):
        raise InvalidInput(f"country must be a two-letter ISO code such as FR, not {country!r}")
    check_currency(currency)
    if locale not in LOCALES:
        raise InvalidInput(f"language must be one of {', '.join(LOCALES)}")
    exists = uow.conn.execute(
        select(t.accounts.c.account_id).where(t.accounts.c.account_id == account_id)
    ).first()
    if exists:
        raise AlreadyExists(f"account {account_id!r} already exists")
    uow.conn.execute(
        insert(t.accounts).values(
            account_id=account_id,
            name=name.strip(),
            country=country,
            currency=currency,
            plan=plan,
            locale=locale,
            created_at=uow.clock.now(),
        )
    )
    uow.ledger.open(account_id, currency)
    return get_account(uow, account_id)


def create_account(
    uow: UnitOfWork,
    account_id: str,
    *,
    name: str,
    country: str = "FR",
    currency: str = "EUR",
    plan: str = "fr-office",
    locale: str = "en",
    admin_email: str | None = None,
    admin_password: str | None = None,
) -> Account:
    """Create a customer account on an existing calling plan, optionally
    with its first administrator."""
    row = uow.conn.execute(
        select(t.plans.c.currency).where(t.plans.c.plan_id == plan)
    ).one_or_none()
    if row is None:
        raise InvalidInput(
            f"unknown calling plan {plan!r} (load it with `callcredit plans import`)"
        )
    if (admin_email is None) != (admin_password is None):
        raise InvalidInput("--admin-email and --admin-password go together")
    account = open_account(
        uow, account_id, name=name, country=country, currency=currency, plan=plan, locale=locale
    )
    if admin_email is not None and admin_password is not None:
        add_admin(uow, account_id, admin_email, admin_password, locale=locale)
    return account


def add_admin(
    uow: UnitOfWork, account_id: str, email: str, password: str, *, locale: str = "en"
) -> None:
    """Add an office administrator who signs in with e-mail and password."""
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise InvalidInput(f"not an e-mail address: {email!r}")
    if len(password) < 8:
        raise InvalidInput("the password must have at least 8 characters")
    taken = uow.conn.execute(select(t.users.c.email).where(t.users.c.email == email)).first()
    if taken:
        raise AlreadyExists(f"an administrator with e-mail {email} already exists")
    uow.conn.execute(
        insert(t.users).values(
            account_id=account_id,
            email=email,
            password_hash=hash_password(password),
            locale=locale,
            created_at=uow.clock.now(),
        )
    )


_a = t.accounts.c
# Built once: constructing a statement costs more than running it.
_ACCOUNT = select(
    _a.account_id,
    _a.name,
    _a.country,
    _a.currency,
    _a.plan,
    _a.locale,
    _a.low_balance_mode,
    _a.low_balance_below,
    _a.topoff_amount,
    _a.topoff_suspended,
    _a.topoff_failures,
    _a.fraud_spend_per_hour,
    _a.fraud_concurrent_calls,
).where(_a.account_id == bindparam("account_id"))
_P_ACCOUNT = Prepared(_ACCOUNT)


def get_account(uow: UnitOfWork, account_id: str) -> Account:
    """The account, or :class:`NotFound`."""
    row = _P_ACCOUNT.first(uow.conn, {"account_id": account_id})
    if row is None:
        raise NotFound(f"unknown account {account_id!r}")
    return account_from_row(row)


def account_from_row(row: Any) -> Account:
    """The account of an ``accounts`` row (e.g. the one the ledger's lock
    read)."""
    return Account(
        row.account_id,
        row.name,
        row.country,
        row.currency,
        row.plan,
        row.locale,
        row.low_balance_mode,
        row.low_balance_below,
        row.topoff_amount,
        bool(row.topoff_suspended),
        row.topoff_failures,
        row.fraud_spend_per_hour,
        row.fraud_concurrent_calls,
    )


@dataclass(frozen=True, slots=True)
class BalanceView:
    """The balance as shown to people: posted, reserved, available."""

    account_id: str
    balance: Money
    reserved: Money
    available: Money

    @classmethod
    def of(cls, balance: Balance) -> BalanceView:
        cur = balance.currency
        return cls(
            balance.account_id,
            Money(balance.posted, cur),
            Money(balance.reserved, cur),
            Money(balance.available, cur),
        )

    def as_json(self) -> dict[str, str]:
        """The contract's ``callcredit balance --json`` shape."""
        return {
            "account": self.account_id,
            "currency": self.balance.currency,
            "balance": str(self.balance),
            "reserved": str(self.reserved),
            "available": str(self.available),
        }


def balance(uow: UnitOfWork, account_id: str) -> BalanceView:
    return BalanceView.of(uow.ledger.balance(account_id))
