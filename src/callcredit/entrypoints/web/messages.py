"""Messages shown on pages for domain errors and outcomes. The texts are
gettext message ids, translated when the page is rendered."""

from __future__ import annotations

from callcredit.domain.errors import CallcreditError


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated later, on the page."""
    return message


_BY_CODE = {
    "insufficient_funds": N_("The balance is too low for this."),
    "payment_failed": N_("The card was declined. Check the card on file or use another card."),
    "card_declined": N_("The card was declined. Check the card on file or use another card."),
    "card_expired": N_("The card has expired. Enter a card that is still valid."),
    "no_card": N_("There is no card on file. Add a card under Account → Billing first."),
    "invalid_amount": N_("Choose one of the amounts in the list."),
    "invalid_card": N_("The card number, expiry date or security code is not valid."),
    "invalid_input": N_("Some of the values are not valid. Check them and try again."),
    "not_found": N_("This page does not exist or belongs to another account."),
    "gateway_unavailable": N_(
        "The payment provider has not confirmed the payment yet. It is checked again "
        "automatically, and the funds are added at most once."
    ),
    "unavailable": N_("The service is temporarily unavailable. Try again in a moment."),
    "too_many_attempts": N_("Too many failed sign-ins. Wait a few minutes and try again."),
    "wrong_credentials": N_("Wrong e-mail or password."),
    "fraud_guard": N_("Refused by the fraud guard: too many top-ups today."),
}


def explain(exc: CallcreditError) -> str:
    """The message id explaining ``exc`` to an administrator."""
    code = getattr(exc, "code", "error")
    if code in _BY_CODE:
        return _BY_CODE[code]
    for klass in type(exc).__mro__:
        code = getattr(klass, "code", None)
        if isinstance(code, str) and code in _BY_CODE:
            return _BY_CODE[code]
    return N_("That did not work. Check the values and try again.")
