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


class InvalidCard(InvalidInput):
    """Raised when a card number, expiry date or security code is refused
    before anything reaches the payment gateway. The message never repeats
    the number or the code."""

    code = "invalid_card"


class CardDeclined(PaymentFailed):
    """Raised when the payment gateway declines a card, when it is saved or
    charged; ``decline_code`` is the gateway's reason (``generic_decline``,
    ``insufficient_funds`` ...). Nothing was charged or credited."""

    code = "card_declined"

    def __init__(self, message: str, decline_code: str = "generic_decline") -> None:
        super().__init__(message)
        self.decline_code = decline_code


class GatewayUnavailable(Unavailable):
    """Raised when the payment gateway cannot be reached or does not answer
    in time: the operation may or may not have happened, so a charge is then
    looked up by its idempotency key, never simply repeated."""

    code = "gateway_unavailable"


class MailUnavailable(Unavailable):
    """Raised when the mail server cannot be reached or refuses a message;
    the message stays in the outbox and is retried."""

    code = "mail_unavailable"


class CardExpired(InvalidCard):
    """Raised when a card's expiry month is already over."""

    code = "card_expired"


class NoCardOnFile(BusinessRuleViolation):
    """Raised when money should come from the card on file and there is
    none. Nothing was charged."""

    code = "no_card"
