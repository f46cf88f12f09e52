"""Stripe (``CALLCREDIT_PAYMENT_GATEWAY=stripe``), through the official
library.

- Card on file: a Customer per account, a card PaymentMethod and a
  SetupIntent confirmed for ``off_session`` use. The token is
  ``cus_…/pm_…``. (Sending card numbers from the server needs Stripe's raw
  card data access or test mode; the web pages may collect the card with
  Stripe.js instead and hand over the PaymentMethod.)
- Charges: PaymentIntents created with ``off_session=True, confirm=True``,
  our idempotency key as Stripe's ``Idempotency-Key`` and in the metadata.
- Lookup: a PaymentIntent search on that metadata. Stripe's search index
  lags by up to about a minute, so "not found" is followed by a charge with
  the same idempotency key, which Stripe answers with the first charge if
  there was one (keys live 24 hours; callers resolve sooner than that).
- Webhooks: :func:`verify_webhook` checks the ``Stripe-Signature`` header.

``CALLCREDIT_STRIPE_API_BASE`` points the library at another base URL (the
tests run a small local server that answers like the Stripe API).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

import stripe

from callcredit.domain.cards import CardDetails
from callcredit.domain.errors import (
    CardDeclined,
    GatewayUnavailable,
    IdempotencyConflict,
    InvalidInput,
    Unavailable,
)
from callcredit.domain.money import Money
from callcredit.services.ports import UNKNOWN, ChargeResult, SavedCard

KEY_FIELD = "callcredit_key"
NAME = "stripe"
T = TypeVar("T")
BRANDS = {
    "visa": "Visa", "mastercard": "Mastercard", "amex": "American Express",
    "discover": "Discover", "diners": "Diners Club", "jcb": "JCB", "unionpay": "UnionPay",
    "cartes_bancaires": "Cartes Bancaires",
}  # fmt: skip


class _RedactCards(logging.Filter):
    """The library logs request bodies at DEBUG level; card numbers and
    security codes are cut out of them before any handler sees them."""

    PATTERN = re.compile(r"(card(?:%5B|\[)(?:number|cvc)(?:%5D|\])=)[^&\s\"']*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "card" in record.msg:
            record.msg = self.PATTERN.sub(r"\1[redacted]", record.msg)
        return True


def _redact_library_logs() -> None:
    logger = logging.getLogger("stripe")
    if not any(isinstance(f, _RedactCards) for f in logger.filters):
        logger.addFilter(_RedactCards())


class StripeGateway:
    """The Stripe API behind the :class:`~callcredit.services.ports.PaymentGateway` port."""

    name = NAME

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = 30.0,
        max_network_retries: int = 2,
    ) -> None:
        _redact_library_logs()
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def save_card(
        self, card: CardDetails, *, account_id: str, replaces: str | None = None
    ) -> SavedCard:
        v1 = self.client.v1
        customer = replaces.split("/", 1)[0] if replaces and "/" in replaces else None
        if customer is None:
            customer = _call(
                lambda: v1.customers.create(
                    {"name": card.holder, "metadata": {"callcredit_account": account_id}}
                )
            ).id
        method = _call(
            lambda: v1.payment_methods.create(
                {
                    "type": "card",
                    "card": {
                        "number": card.number, "exp_month": card.exp_month,
                        "exp_year": card.exp_year, "cvc": card.cvc,
                    },
                    "billing_details": {"name": card.holder},
                }
            )
        )  # fmt: skip
        try:
            setup = _call(
                lambda: v1.setup_intents.create(
                    {
                        "customer": customer, "payment_method": method.id, "confirm": True,
                        "usage": "off_session",
                        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    }
                )
            )  # fmt: skip
        except stripe.CardError as exc:
            code, message = _decline(exc)
            raise CardDeclined(message, code) from None
        if setup.status != "succeeded":
            raise CardDeclined(
                "the card could not be set up for payments without the cardholder",
                f"setup_{setup.status}",
            )
        details = method.card
        if details is None:  # pragma: no cover - Stripe always answers a card method with it
            raise GatewayUnavailable("Stripe did not describe the saved card")
        return SavedCard(
            f"{customer}/{method.id}", BRANDS.get(details.brand, details.brand.title()),
            details.last4, details.exp_month, details.exp_year,
        )  # fmt: skip

    def charge(self, token: str, amount: Money, *, key: str, description: str) -> ChargeResult:
        customer, _, method = token.partition("/")
        try:
            intent = _call(
                lambda: self.client.v1.payment_intents.create(
                    {
                        "amount": amount.minor, "currency": amount.currency.lower(),
                        "customer": customer, "payment_method": method,
                        "off_session": True, "confirm": True, "description": description,
                        "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                        "metadata": {KEY_FIELD: key},
                    },
                    {"idempotency_key": key},
                )
            )  # fmt: skip
        except stripe.CardError as exc:
            code, message = _decline(exc)
            declined = getattr(exc.error, "payment_intent", None) if exc.error else None
            reference = getattr(declined, "id", None)
            return ChargeResult("failed", None if reference is None else str(reference), code,
                                message)  # fmt: skip
        return _intent_result(intent)

    def lookup(self, key: str) -> ChargeResult | None:
        quoted = key.replace("\\", "\\\\").replace("'", "\\'")
        found = _call(
            lambda: self.client.v1.payment_intents.search(
                {"query": f"metadata['{KEY_FIELD}']:'{quoted}'", "limit": 1}
            )
        )
        if not found.data:
            return None
        return _intent_result(found.data[0])

    def refund(self, reference: str, amount: Money, *, key: str) -> str:
        try:
            refund = _call(
                lambda: self.client.v1.refunds.create(
                    {"payment_intent": reference, "amount": amount.minor},
                    {"idempotency_key": key},
                )
            )
        except stripe.InvalidRequestError as exc:
            raise InvalidInput(f"Stripe refused the refund: {exc.user_message}") from None
        return str(refund.id)


def _call(work: Callable[[], T]) -> T:
    """Run one API request, turning transport trouble into the port's errors."""
    try:
        return work()
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise GatewayUnavailable(f"Stripe cannot be reached: {exc.user_message}") from None
    except stripe.IdempotencyError as exc:
        if exc.http_status == 409:  # the same key is still being processed
            raise GatewayUnavailable(f"Stripe is still busy: {exc.user_message}") from None
        raise IdempotencyConflict(f"Stripe: {exc.user_message}") from None
    except stripe.AuthenticationError:
        raise Unavailable("Stripe refused the API key (CALLCREDIT_STRIPE_API_KEY)") from None
    except stripe.APIError as exc:
        raise GatewayUnavailable(f"Stripe answered with an error: {exc.user_message}") from None


def _decline(exc: stripe.CardError) -> tuple[str, str]:
    error = exc.error
    code = (error.decline_code if error else None) or exc.code or "card_declined"
    return str(code), str(exc.user_message or "The card was declined.")


def _intent_result(intent: Any) -> ChargeResult:
    data: dict[str, Any] = intent.to_dict()
    status, reference = data.get("status"), str(data.get("id"))
    if status == "succeeded":
        return ChargeResult("succeeded", reference)
    if status in ("processing", "requires_capture"):
        return UNKNOWN
    error = data.get("last_payment_error") or {}
    if status in ("requires_action", "requires_confirmation"):
        code, message = "authentication_required", "The bank asks the cardholder to authenticate."
    else:
        code = error.get("decline_code") or error.get("code") or "card_declined"
        message = error.get("message") or "The card was declined."
    return ChargeResult("failed", reference, str(code), str(message))


def verify_webhook(payload: bytes, signature: str | None, secret: str) -> tuple[str, str | None]:
    """Check a webhook's ``Stripe-Signature`` and return the event type and
    the idempotency key of the PaymentIntent it is about (if any). Raises
    :class:`~callcredit.domain.errors.InvalidInput` when the signature does
    not match or the body is not an event."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError):
        raise InvalidInput("the Stripe-Signature header does not match the body") from None
    data: dict[str, Any] = event.to_dict()
    obj = (data.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") or {}
    key = metadata.get(KEY_FIELD) if obj.get("object") == "payment_intent" else None
    return str(data.get("type", "")), None if key is None else str(key)
