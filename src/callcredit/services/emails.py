"""The e-mails sent to administrators, written in their language.

Texts are gettext message ids marked with ``N_`` (so ``pybabel extract``
finds them) and translated when a message is written into the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callcredit.domain.money import Money
from callcredit.i18n import format_moment, format_money, gettext


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated when the e-mail is written."""
    return message


@dataclass(frozen=True, slots=True)
class Letter:
    """An e-mail's subject and plain-text body, in one language."""

    subject: str
    body: str


HELLO = N_("Hello,")
FOOTER = N_(
    "Office manager: %(link)s\n\nThis message was sent automatically by callcredit; "
    "replies are not read."
)
DETAILS = N_("Date: %(date)s\nPayment reference: %(reference)s\nBalance after: %(balance)s")

FUNDS_SUBJECT = N_("Receipt: %(amount)s added to your Prepaid Account")
FUNDS_BODY = N_(
    "We charged %(amount)s to your card %(card)s and added it to the Prepaid Account "
    "of %(account)s."
)
TOPOFF_SUBJECT = N_("Receipt: automatic top-off of %(amount)s")
TOPOFF_BODY = N_(
    "The available balance of %(account)s fell below %(below)s, so we charged "
    "%(amount)s to your card %(card)s and added it to the Prepaid Account."
)
LOW_SUBJECT = N_("Low prepaid balance: %(available)s available")
LOW_STOP_BODY = N_(
    "The available balance of %(account)s is %(available)s, below your threshold of "
    "%(below)s. Paid calls are refused until you add funds; included and emergency "
    "calls still work."
)
LOW_SUSPENDED_BODY = N_(
    "The available balance of %(account)s is %(available)s, below your threshold of "
    "%(below)s, and automatic top-off is suspended. Add funds, or check the card on "
    "file and choose Top off automatically again in Settings."
)
FAILED_SUBJECT = N_("Automatic top-off failed")
FAILED_BODY = N_(
    "We could not charge %(amount)s to your card %(card)s for the Prepaid Account of "
    "%(account)s: %(reason)s\n\nWe will try again after %(retry)s."
)
SUSPENDED_SUBJECT = N_("Automatic top-off suspended")
SUSPENDED_BODY = N_(
    "We could not charge %(amount)s to your card %(card)s for the Prepaid Account of "
    "%(account)s: %(reason)s\n\nFailed attempts in a row: %(count)s. Automatic top-off "
    "is suspended. Check the card on file under Account › Billing › Payment "
    "Information, then choose Top off automatically again in Settings."
)
CAPPED_SUBJECT = N_("Automatic top-off limit reached")
CAPPED_BODY = N_(
    "The available balance of %(account)s fell below %(below)s, but the most automatic "
    "top-offs allowed in 24 hours (%(count)s) were already made, so nothing was "
    "charged. Add funds yourself if you need more credit now."
)

REASONS = {
    "generic_decline": N_("the card was declined."),
    "card_declined": N_("the card was declined."),
    "insufficient_funds": N_("the card has insufficient funds."),
    "expired_card": N_("the card has expired."),
    "no_card": N_("there is no card on file."),
    "authentication_required": N_("the bank asks the cardholder to approve this payment."),
}
OTHER_REASON = N_("the payment was refused (%(code)s).")


def reason(language: str, decline_code: str | None) -> str:
    """Why a charge failed, in ``language``."""
    code = decline_code or "card_declined"
    if code in REASONS:
        return gettext(language, REASONS[code])
    return gettext(language, OTHER_REASON) % {"code": code}


class Writer:
    """Writes the e-mails of one account in one language."""

    def __init__(self, language: str, account_name: str, link: str) -> None:
        self.language = language
        self.account = account_name
        self.link = link

    def tr(self, message: str, **values: object) -> str:
        return gettext(self.language, message) % values

    def money(self, amount: Money) -> str:
        return format_money(amount, self.language)

    def moment(self, when: datetime) -> str:
        return f"{format_moment(when, self.language)} UTC"

    def _letter(self, subject: str, *paragraphs: str) -> Letter:
        parts = [self.tr(HELLO), *paragraphs, self.tr(FOOTER, link=self.link)]
        return Letter(subject, "\n\n".join(parts) + "\n")

    def receipt(
        self,
        *,
        amount: Money,
        card: str,
        reference: str,
        balance: Money,
        when: datetime,
        below: Money | None = None,
    ) -> Letter:
        """A purchase receipt; an automatic top-off one when ``below`` is given."""
        values = {"amount": self.money(amount), "card": card, "account": self.account}
        if below is None:
            subject, body = self.tr(FUNDS_SUBJECT, **values), self.tr(FUNDS_BODY, **values)
        else:
            values["below"] = self.money(below)
            subject, body = self.tr(TOPOFF_SUBJECT, **values), self.tr(TOPOFF_BODY, **values)
        details = self.tr(
            DETAILS, date=self.moment(when), reference=reference, balance=self.money(balance)
        )
        return self._letter(subject, body, details)

    def low_balance(self, *, available: Money, below: Money, suspended: bool) -> Letter:
        values = {"account": self.account, "available": self.money(available),
                  "below": self.money(below)}  # fmt: skip
        body = LOW_SUSPENDED_BODY if suspended else LOW_STOP_BODY
        return self._letter(self.tr(LOW_SUBJECT, **values), self.tr(body, **values))

    def topoff_failed(
        self, *, amount: Money, card: str, decline_code: str | None, retry: datetime
    ) -> Letter:
        values = {"amount": self.money(amount), "card": card, "account": self.account,
                  "reason": reason(self.language, decline_code),
                  "retry": self.moment(retry)}  # fmt: skip
        return self._letter(self.tr(FAILED_SUBJECT), self.tr(FAILED_BODY, **values))

    def topoff_suspended(
        self, *, amount: Money, card: str, decline_code: str | None, failures: int
    ) -> Letter:
        values = {"amount": self.money(amount), "card": card, "account": self.account,
                  "reason": reason(self.language, decline_code), "count": failures}  # fmt: skip
        return self._letter(self.tr(SUSPENDED_SUBJECT), self.tr(SUSPENDED_BODY, **values))

    def topoff_capped(self, *, below: Money, cap: int) -> Letter:
        values = {"account": self.account, "below": self.money(below), "count": cap}
        return self._letter(self.tr(CAPPED_SUBJECT), self.tr(CAPPED_BODY, **values))
