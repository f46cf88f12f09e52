"""The simulated gateway's card endpoint: the only page endpoint that ever
receives a card number. It hands the card to the billing service, which
saves it at the gateway and keeps only the token, brand, last four digits
and expiry; the number is neither logged nor stored.

The card form posts here directly (works without JavaScript; the answer is a
redirect to Payment Information). With JavaScript, the same form is sent
with ``Accept: application/json`` and the answer is JSON, so a refused card
is explained without leaving the form. Leaving the number empty keeps the
card on file and changes only the holder and the billing address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import JSONResponse, Response

from callcredit.domain.errors import CallcreditError
from callcredit.entrypoints.web import billing
from callcredit.entrypoints.web.messages import N_, explain
from callcredit.entrypoints.web.page import Page, Posted
from callcredit.services import cards

router = APIRouter()


@router.post(billing.TOKENIZER)
def save_card(
    page: Posted,
    holder: Annotated[str, Form(max_length=200)] = "",
    number: Annotated[str, Form(max_length=30)] = "",
    exp: Annotated[str, Form(max_length=7)] = "",
    cvc: Annotated[str, Form(max_length=4)] = "",
    address_line1: Annotated[str, Form(max_length=200)] = "",
    address_line2: Annotated[str, Form(max_length=200)] = "",
    postal_code: Annotated[str, Form(max_length=20)] = "",
    city: Annotated[str, Form(max_length=100)] = "",
    address_country: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    wants_json = "application/json" in page.request.headers.get("accept", "")
    address = cards.BillingAddress(address_line1, address_line2, postal_code, city,
                                   address_country)  # fmt: skip
    try:
        if number.strip():
            cards.set_card(page.cc, page.account_id, number=number, exp=exp, cvc=cvc,
                           holder=holder, address=address)  # fmt: skip
        else:
            with page.cc.uow() as uow:
                cards.set_billing_address(uow, page.account_id, holder=holder, address=address)
    except CallcreditError as exc:
        if wants_json:
            return _json_error(page, exc)
        return page.fail(exc, to="/account/billing/edit")
    page.session.say("ok", N_("Payment information saved."))
    if wants_json:
        response: Response = JSONResponse({"saved": True, "next": "/account/billing"})
        page.finish(response)
        return response
    return page.redirect("/account/billing")


def _json_error(page: Page, exc: CallcreditError) -> Response:
    body = {"error": {"code": exc.code, "message": page._(explain(exc))}}
    return JSONResponse(body, status_code=422)
