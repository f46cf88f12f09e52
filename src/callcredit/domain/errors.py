"""The error hierarchy. Entry points turn these into HTTP statuses, CLI exit
codes and page messages; nothing below them knows about those."""

from __future__ import annotations


class CallcreditError(Exception):
    """Base of every error callcredit raises on purpose."""

    code = "error"


class InvalidInput(CallcreditError):
    """Raised when a request is malformed: bad amount, bad file, bad option.
    Nothing has moved (CLI exit 2, HTTP 422)."""

    code = "invalid_input"


class InvalidAmount(InvalidInput):
    """Raised when an amount or currency cannot be understood."""

    code = "invalid_amount"


class NotFound(CallcreditError):
    """Raised when an account, extension, call or reservation does not exist
    for the caller (HTTP 404, CLI exit 1)."""

    code = "not_found"


class AlreadyExists(CallcreditError):
    """Raised when creating something whose id is taken (HTTP 409, exit 1)."""

    code = "already_exists"


class BusinessRuleViolation(CallcreditError):
    """Raised when a well-formed request is refused by the rules (HTTP 409,
    CLI exit 1). Nothing has moved."""

    code = "refused"


class InsufficientFunds(BusinessRuleViolation):
    """Raised when a reservation or debit would take the available balance
    below the account's floor."""

    code = "insufficient_funds"


class IdempotencyConflict(BusinessRuleViolation):
    """Raised when an idempotency key is reused with a different request."""

    code = "idempotency_conflict"


class ReservationResolved(BusinessRuleViolation):
    """Raised when a reservation that was already settled or voided is asked
    to change again."""

    code = "reservation_resolved"


class OverrunNotAllowed(BusinessRuleViolation):
    """Raised when a settlement exceeds the held amount without the caller
    explicitly allowing an overrun."""

    code = "overrun_not_allowed"


class PaymentFailed(BusinessRuleViolation):
    """Raised when the payment gateway refuses a charge."""

    code = "payment_failed"


class Unavailable(CallcreditError):
    """Raised when a dependency (database, gateway) cannot be reached; the
    outcome is unknown or nothing happened, never a wrong decision (HTTP 503)."""

    code = "unavailable"


class InvalidRate(InvalidInput):
    """Raised when a rate, increment, prefix or duration cannot be understood
    (negative, more than six decimals, increment not ``a/b`` with a, b ≥ 1)."""

    code = "invalid_rate"


class InvalidRateDeck(InvalidInput):
    """Raised when a rate-deck file is refused; the message names the line.
    Nothing is imported."""

    code = "invalid_rate_deck"


class InvalidPlan(InvalidInput):
    """Raised when a plan file is refused; the message names the plan and the
    field. Nothing is imported."""

    code = "invalid_plan"
