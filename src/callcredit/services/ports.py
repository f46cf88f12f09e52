"""Ports: what the services need from systems outside callcredit. Each has
a real adapter and a simulated one, chosen in :mod:`callcredit.bootstrap`;
both follow the contract written on each method (a conformance test runs
the same checks against both)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from callcredit.domain.cards import CardDetails
from callcredit.domain.money import Money

ChargeStatus = Literal["succeeded", "failed", "unknown"]


@dataclass(frozen=True, slots=True)
class SavedCard:
    """What the gateway gives back for a saved card: an opaque token to
    charge later and what may be shown to people."""

    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The gateway's final word on a charge, or ``unknown`` when it has none
    yet (the payment is still processing)."""

    status: ChargeStatus
    reference: str | None = None
    decline_code: str | None = None
    message: str | None = None


UNKNOWN = ChargeResult("unknown")


class PaymentGateway(Protocol):
    """A card payment processor (Stripe, or the built-in simulation)."""

    @property
    def name(self) -> str:
        """Stored next to each token: ``simulated`` or ``stripe``."""
        ...

    def save_card(
        self, card: CardDetails, *, account_id: str, replaces: str | None = None
    ) -> SavedCard:
        """Keep ``card`` at the gateway for later off-session charges and
        return its token. ``replaces`` is the token of the card it succeeds
        (a gateway may reuse the customer it belongs to).

        Raises :class:`~callcredit.domain.errors.CardDeclined` when the card
        is refused and :class:`~callcredit.domain.errors.GatewayUnavailable`
        when the gateway cannot be reached. The number and security code go
        to the gateway only; never to a log line or the database."""
        ...

    def charge(self, token: str, amount: Money, *, key: str, description: str) -> ChargeResult:
        """Charge ``amount`` to the saved card, the cardholder not present.

        ``key`` is the idempotency key: calling again with the same key never
        charges twice, it answers for the first charge. A decline is a
        ``failed`` result (with ``decline_code`` and ``message``), not an
        exception. Raises
        :class:`~callcredit.domain.errors.GatewayUnavailable` when no answer
        came back: the card may or may not have been charged, so the caller
        must resolve it with :meth:`lookup` before doing anything else."""
        ...

    def lookup(self, key: str) -> ChargeResult | None:
        """The outcome of the charge made with idempotency key ``key``, or
        ``None`` when the gateway has no charge with that key (nothing was
        charged). Raises
        :class:`~callcredit.domain.errors.GatewayUnavailable` when the
        gateway cannot be asked."""
        ...

    def refund(self, reference: str, amount: Money, *, key: str) -> str:
        """Give back ``amount`` of the succeeded charge ``reference`` (at
        most what is left of it) and return the refund's reference; the same
        ``key`` refunds once. Raises
        :class:`~callcredit.domain.errors.InvalidInput` for an unknown charge
        or too large an amount and
        :class:`~callcredit.domain.errors.GatewayUnavailable` as above."""
        ...


@dataclass(frozen=True, slots=True)
class Mail:
    """A plain-text e-mail to one recipient."""

    message_id: str
    recipient: str
    subject: str
    body: str


class Mailer(Protocol):
    """Hands e-mails to a mail server."""

    def send(self, mail: Mail) -> None:
        """Deliver ``mail`` to the mail server, or raise
        :class:`~callcredit.domain.errors.MailUnavailable` (server down,
        refused, timed out); the caller keeps the message and retries.
        ``message_id`` becomes the ``Message-ID`` header, so a retried
        delivery can be recognised by the receiving side."""
        ...
