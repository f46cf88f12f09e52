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

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, Response

from callcredit.domain.errors import CallcreditError
from callcredit.entrypoints.web import billing
from callcredit.entrypoints.web.messages import N_, explain
from callcredit.entrypoints.web.page import Page, PageProblem, SignInRequired, visitor
from callcredit.services import cards

router = APIRouter()
FIELDS = {"holder": 200, "address_line1": 200, "address_line2": 200, "postal_code": 20,
          "city": 100, "address_country": 2, "number": 30, "exp": 7, "cvc": 4}  # fmt: skip


@router.post(billing.TOKENIZER)
async def save_card(request: Request) -> Response:
    page = visitor(request)
    if page.admin is None:
        raise SignInRequired("/account/billing/edit")
    form = await request.form()
    if not page.session.csrf_matches(_text(form, "csrf")):
        raise PageProblem(403, "csrf")
    wants_json = "application/json" in request.headers.get("accept", "")
    values = {name: _text(form, name) for name in FIELDS}
    address = cards.BillingAddress(values["address_line1"], values["address_line2"],
                                   values["postal_code"], values["city"],
                                   values["address_country"])  # fmt: skip
    try:
        if values["number"].strip():
            cards.set_card(page.cc, page.account_id, number=values["number"], exp=values["exp"],
                           cvc=values["cvc"], holder=values["holder"], address=address)  # fmt: skip
        else:
            with page.cc.uow() as uow:
                cards.set_billing_address(uow, page.account_id, holder=values["holder"],
                                          address=address)  # fmt: skip
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


def _text(form: FormData, name: str) -> str:
    """The field's text; an over-long value counts as missing (and is refused)."""
    value = form.get(name)
    if not isinstance(value, str) or len(value) > FIELDS.get(name, 200):
        return ""
    return value
