"""Extensions (French: Postes): each extension's rights to paid calls and
its spend this month; the rights can be changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response

from callcredit.domain.errors import CallcreditError, InvalidAmount, NotFound
from callcredit.domain.money import Money
from callcredit.entrypoints.web.messages import N_
from callcredit.entrypoints.web.page import PageProblem, Posted, SignedIn
from callcredit.services import extensions as svc
from callcredit.services.accounts import get_account

router = APIRouter()


@router.get("/extensions")
def extension_list(page: SignedIn) -> Response:
    with page.cc.uow(readonly=True) as uow:
        currency = get_account(uow, page.account_id).currency
        views = svc.list_extensions(uow, page.account_id)
        month_start = svc.month_start(uow.clock.now()).date().isoformat()
    return page.render("extensions.html", views=views, currency=currency, Money=Money,
                       month_start=month_start)  # fmt: skip


@router.get("/extensions/{number}")
def extension_form(page: SignedIn, number: str) -> Response:
    with page.cc.uow(readonly=True) as uow:
        currency = get_account(uow, page.account_id).currency
        try:
            ext = svc.get_extension(uow, page.account_id, number)
        except NotFound:
            raise PageProblem(404, "not_found") from None
    cap = "" if ext.monthly_cap is None else str(Money(ext.monthly_cap, currency))
    return page.render("extension_edit.html", ext=ext, cap=cap, currency=currency)


@router.post("/extensions/{number}")
def extension_save(
    page: Posted,
    number: str,
    name: Annotated[str, Form(max_length=200)] = "",
    paid_allowed: Annotated[str | None, Form()] = None,
    premium_allowed: Annotated[str | None, Form()] = None,
    monthly_cap: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Save the rights; an empty cap means no monthly cap."""
    back = f"/extensions/{number}"
    try:
        with page.cc.uow() as uow:
            currency = get_account(uow, page.account_id).currency
            svc.get_extension(uow, page.account_id, number)
            cap_text = monthly_cap.strip().replace(",", ".")
            cap = Money.parse(cap_text, currency) if cap_text else None
            if cap is not None and cap.minor < 0:
                raise InvalidAmount("negative cap")
            svc.set_rights(
                uow, page.account_id, number, name=name, paid_allowed=paid_allowed is not None,
                premium_allowed=premium_allowed is not None,
                monthly_cap=None if cap is None else cap.minor, clear_cap=cap is None,
            )  # fmt: skip
    except NotFound:
        raise PageProblem(404, "not_found") from None
    except InvalidAmount:
        page.session.say("error", N_("The monthly cap must be an amount such as 20 or 12.50."))
        return page.redirect(back)
    except CallcreditError as exc:
        return page.fail(exc, to=back)
    page.session.say("ok", N_("Extension %(number)s saved."), number=number)
    return page.redirect("/extensions")
