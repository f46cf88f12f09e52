"""Ledger vocabulary and rules, independent of storage.

Each customer account has four ledger accounts. The prepaid balance is
credit-normal (money the business holds with us): funding credits it, calls
debit it. Every transfer moves a positive amount from one ledger account to
another, so debits equal credits by construction.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

PREPAID = "prepaid"  # the customer's balance
CARD = "card"  # card settlement: money received from the card on file
REVENUE = "revenue"  # what calls earned
ADJUSTMENT = "adjustment"  # operator corrections
LEDGERS = (PREPAID, CARD, REVENUE, ADJUSTMENT)

# Closed, namespaced transfer kinds.
KIND_FUNDS_ADDED = "funds.added"
KIND_AUTO_TOPOFF = "funds.auto_topoff"
KIND_REFUND = "funds.refund"
KIND_ADJUSTMENT = "funds.adjustment"
KIND_CALL = "call.charge"
KIND_SETTLE = "reservation.settle"
TRANSFER_KINDS = frozenset(
    {KIND_FUNDS_ADDED, KIND_AUTO_TOPOFF, KIND_REFUND, KIND_ADJUSTMENT, KIND_CALL, KIND_SETTLE}
)

PENDING, SETTLED, VOIDED, EXPIRED = "pending", "settled", "voided", "expired"


@dataclass(frozen=True, slots=True)
class Balance:
    """The prepaid balance of one customer, in minor units."""

    account_id: str
    currency: str
    posted: int
    reserved: int
    floor: int

    @property
    def available(self) -> int:
        return self.posted - self.reserved

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "currency": self.currency,
            "posted": self.posted,
            "reserved": self.reserved,
            "available": self.available,
        }


@dataclass(frozen=True, slots=True)
class Posting:
    """A transfer to post: ``amount`` from ``debit`` to ``credit``."""

    key: str
    debit: str
    credit: str
    amount: int
    kind: str
    reference: str | None = None

    def request(self) -> dict[str, Any]:
        """What the idempotency key stands for."""
        return {
            "debit": self.debit,
            "credit": self.credit,
            "amount": self.amount,
            "kind": self.kind,
            "reference": self.reference,
        }


@dataclass(frozen=True, slots=True)
class TransferResult:
    """The answer to a posted transfer (also replayed for a repeated key)."""

    transfer_id: str
    amount: int
    balance_after: int
    available_after: int
    overrun: bool = False


@dataclass(frozen=True, slots=True)
class ReservationResult:
    """The state of a reservation after an operation on it."""

    reservation_id: str
    state: str
    amount: int
    settled_amount: int | None
    available_after: int
    overrun: bool = False
    transfer_id: str | None = None


def request_hash(operation: str, request: dict[str, Any]) -> str:
    """A stable fingerprint of an operation and its arguments."""
    body = json.dumps([operation, request], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()
