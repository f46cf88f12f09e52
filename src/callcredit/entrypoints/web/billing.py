"""Account → Billing → Payment Information: the card on file and the billing
address, and the form that replaces them.

The card number never reaches these handlers: the form sends it to the
gateway's tokenizer (``/gateway/simulated/tokens`` for the simulated
gateway), which saves it through the billing service.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from callcredit.entrypoints.web.page import SignedIn
from callcredit.services import cards

router = APIRouter()
TOKENIZER = "/gateway/simulated/tokens"


@router.get("/account")
def account(page: SignedIn) -> Response:
    return page.redirect("/account/billing")


@router.get("/account/billing")
def payment_information(page: SignedIn) -> Response:
    with page.cc.uow(readonly=True) as uow:
        card = cards.get_card(uow, page.account_id)
        now = uow.clock.now()
    expired = card is not None and card.expired(now.date())
    return page.render("billing.html", card=card, expired=expired)


@router.get("/account/billing/edit")
def card_form(page: SignedIn) -> Response:
    with page.cc.uow(readonly=True) as uow:
        card = cards.get_card(uow, page.account_id)
    return page.render("card_form.html", card=card, tokenizer=TOKENIZER)
