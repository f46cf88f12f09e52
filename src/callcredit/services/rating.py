"""Rating use cases: import plans and rate decks, find what a destination
is and what it costs for an account, and explain the decision for a number."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from callcredit.adapters import rating_store as store
from callcredit.adapters.numbering import classify
from callcredit.adapters.uow import UnitOfWork
from callcredit.domain.errors import BusinessRuleViolation, InvalidInput, NotFound
from callcredit.domain.money import Money
from callcredit.domain.rating import (
    Decision,
    ExtensionRights,
    LowBalancePolicy,
    NumberInfo,
    Plan,
    Rate,
    billed_seconds,
    call_cost,
    decide,
    decimal_text,
    parse_deck,
    parse_plans,
)
from callcredit.services.accounts import Account, get_account


def import_plans(uow: UnitOfWork, text: str) -> list[Plan]:
    """Validate every plan of a TOML file, then insert or replace them all."""
    plans = parse_plans(text)
    store.save_plans(uow.conn, plans, uow.clock.now())
    return plans


def unloaded_decks(uow: UnitOfWork, plans: Iterable[Plan]) -> set[str]:
    """The decks named by ``plans`` that were never imported."""
    return {p.rate_deck for p in plans if store.deck_info(uow.conn, p.rate_deck) is None}


def import_deck(uow: UnitOfWork, deck: str, currency: str, lines: Iterable[str]) -> store.DeckInfo:
    """Replace a rate deck with the rows of a CSV file: all rows or nothing."""
    return store.save_deck(uow.conn, deck, currency.upper(), parse_deck(lines), uow.clock.now())


def install_shipped(uow: UnitOfWork) -> list[str]:
    """Load the shipped plans and decks that are not in the database yet."""
    return store.install_shipped_data(uow.conn, uow.clock.now())


@dataclass(frozen=True, slots=True)
class Destination:
    """A dialled number as one account sees it: its plan, what the number
    is, and the deck's rate for it (None when no prefix matches or the
    number is invalid)."""

    plan: Plan
    deck: str
    number: NumberInfo
    rate: Rate | None


def destination(uow: UnitOfWork, account: Account, dialled: str) -> Destination:
    """Classify ``dialled`` from the account's home country and look up its
    rate in the plan's deck (kept in memory between calls)."""
    return rater(uow, account)(dialled)


def rater(uow: UnitOfWork, account: Account) -> Callable[[str], Destination]:
    """A function that rates destinations for ``account``: the plan and the
    deck are read once, then each number is classified and looked up in memory."""
    plan, info = store.load_plan_with_deck(uow.conn, account.plan)
    if plan.currency != account.currency:
        raise BusinessRuleViolation(
            f"plan {plan.id} is in {plan.currency} but account {account.account_id} is in "
            f"{account.currency}"
        )
    if info is None:
        raise NotFound(
            f"rate deck {plan.rate_deck!r} is not loaded (use `callcredit rates import`)"
        )
    deck = store.rate_tables.current(uow.conn, info)
    if deck.currency != plan.currency:
        raise BusinessRuleViolation(
            f"rate deck {plan.rate_deck} is in {deck.currency} but plan {plan.id} is in "
            f"{plan.currency}"
        )

    def rate(dialled: str) -> Destination:
        number = classify(dialled, account.country)
        found = deck.table.lookup(number.e164) if number.e164 is not None else None
        return Destination(plan, plan.rate_deck, number, found)

    return rate


@dataclass(frozen=True, slots=True)
class Quote:
    """What a call of ``seconds`` to a number would do on an account now.

    ``billed_seconds`` and ``cost`` are what the deck's rate charges for
    ``seconds`` (also when the call is denied, e.g. for lack of funds); they
    are 0 for free calls (emergency, included) and unpriced destinations.
    """

    account_id: str
    deck: str
    decision: Decision
    seconds: int
    billed_seconds: int
    cost: Money
    available: Money

    def as_json(self) -> dict[str, Any]:
        """The ``callcredit rate --json`` shape."""
        d, rate = self.decision, self.decision.rate
        return {
            "allow": d.allow,
            "reason": str(d.reason),
            "e164": d.number.e164,
            "country": d.number.country,
            "kind": d.number.kind,
            "matched": d.matched,
            "per_minute": decimal_text(rate.per_minute) if rate else None,
            "connect_fee": decimal_text(rate.connect_fee) if rate else None,
            "increment": str(rate.increment) if rate else None,
            "billed_seconds": self.billed_seconds,
            "cost": str(self.cost),
            "currency": self.cost.currency,
        }


def quote(uow: UnitOfWork, account_id: str, dialled: str, seconds: int = 60) -> Quote:
    """Decide a call of ``seconds`` from no particular extension (full
    rights) as ``authorize`` would, and price it; the fraud guard is not
    evaluated here. Nothing is reserved."""
    if seconds < 0:
        raise InvalidInput(f"seconds cannot be negative ({seconds})")
    account = get_account(uow, account_id)
    dest = destination(uow, account, dialled)
    available = uow.ledger.balance(account_id).available
    decision = decide(
        dest.number,
        dest.plan,
        dest.rate,
        ExtensionRights(),
        LowBalancePolicy(account.low_balance_mode, account.low_balance_below),
        available,
        False,
        max(seconds, 1),
    )
    billed, cost = 0, Money.zero(account.currency)
    if decision.rate is not None:
        billed = billed_seconds(seconds, decision.rate.increment)
        cost = call_cost(seconds, decision.rate, account.currency)
    return Quote(
        account_id, dest.deck, decision, seconds, billed, cost, Money(available, account.currency)
    )
