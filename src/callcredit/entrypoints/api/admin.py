"""The admin REST API (``/api/v1``): what the office manager's pages do, for
scripts. Authenticated by an account's admin token
(``callcredit tokens create --role admin --account ID``); every route sees
that account only, so another account's extension is simply not found.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query
from starlette.responses import Response

from callcredit.domain.errors import InvalidInput, NotFound
from callcredit.domain.money import Money
from callcredit.entrypoints.api.admin_models import (
    ActivityEntry,
    ActivityOut,
    AddFundsIn,
    AddressOut,
    CardOut,
    ExtensionOut,
    ExtensionPatch,
    PrepaidBalance,
    PresetsOut,
    SettingsBody,
    SettingsOut,
)
from callcredit.entrypoints.api.deps import CC, AdminToken
from callcredit.entrypoints.api.errors import documented
from callcredit.services import accounts, cards, funds
from callcredit.services import activity as activity_svc
from callcredit.services import extensions as ext_svc
from callcredit.services import settings as low_balance

router = APIRouter(prefix="/api/v1", tags=["admin"], responses=documented(401, 404, 409, 422, 503))


def _currency(cc: CC, account_id: str) -> str:
    with cc.uow(readonly=True) as uow:
        return accounts.get_account(uow, account_id).currency


@router.get("/balance", summary="The prepaid balance")
def get_balance(cc: CC, owner: AdminToken) -> PrepaidBalance:
    account_id = _account(owner)
    with cc.uow(readonly=True) as uow:
        view = accounts.balance(uow, account_id)
    return PrepaidBalance(**view.as_json())


@router.get("/funds/presets", summary="The amounts Add Funds accepts")
def get_presets(cc: CC, owner: AdminToken) -> PresetsOut:
    currency = _currency(cc, _account(owner))
    presets = funds.preset_amounts(cc.settings, currency)
    return PresetsOut(currency=currency, amounts=[str(m) for m in presets])


@router.post("/funds", summary="Add Funds from the card on file", status_code=201)
def add_funds(
    cc: CC,
    owner: AdminToken,
    body: AddFundsIn,
    idempotency_key: Annotated[str | None, Header(max_length=60)] = None,
) -> PrepaidBalance:
    account_id = _account(owner)
    key = body.idempotency_key or idempotency_key
    if not key:
        raise InvalidInput("give an idempotency_key (or an Idempotency-Key header)")
    amount = Money.parse(body.amount, _currency(cc, account_id))
    funds.add_funds(cc, account_id, amount, idempotency_key=f"api:{key}")
    return get_balance(cc, owner)


@router.get("/settings", summary="What happens when the balance runs low")
def get_settings(cc: CC, owner: AdminToken) -> SettingsOut:
    with cc.uow(readonly=True) as uow:
        a = accounts.get_account(uow, _account(owner))
    below = str(Money(a.low_balance_below, a.currency))
    amount = str(Money(a.topoff_amount, a.currency))
    return SettingsOut.model_validate({
        "mode": a.low_balance_mode, "currency": a.currency,
        "below": below if a.low_balance_mode != "off" else None,
        "amount": amount if a.low_balance_mode == "auto-topoff" else None,
        "topoff_suspended": a.topoff_suspended,
    })  # fmt: skip


@router.put("/settings", summary="Change the Settings drop-down")
def put_settings(cc: CC, owner: AdminToken, body: SettingsBody) -> SettingsOut:
    account_id = _account(owner)
    currency = _currency(cc, account_id)
    below = Money.parse(body.below, currency) if body.below is not None else None
    amount = Money.parse(body.amount, currency) if body.amount is not None else None
    presets = funds.preset_amounts(cc.settings, currency)
    with cc.uow() as uow:
        low_balance.set_low_balance(uow, account_id, body.mode, below=below, amount=amount,
                                    presets=presets)  # fmt: skip
    return get_settings(cc, owner)


@router.get("/card", summary="The card on file (Payment Information)")
def get_card(cc: CC, owner: AdminToken) -> CardOut:
    with cc.uow(readonly=True) as uow:
        card = cards.get_card(uow, _account(owner))
        today = uow.clock.now().date()
    if card is None:
        raise NotFound("there is no card on file")
    a = card.address
    return CardOut(
        brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year,
        expired=card.expired(today), holder=card.holder,
        address=AddressOut(line1=a.line1, line2=a.line2, postal_code=a.postal_code, city=a.city,
                           country=a.country),
    )  # fmt: skip


def _filters(
    start: date | None, end: date | None, extension: str | None, type_: str | None
) -> activity_svc.Filters:
    return activity_svc.Filters(start, end, extension or None, type_ or None)


FromQ = Annotated[date | None, Query(alias="from", description="First day (UTC), inclusive.")]
ToQ = Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive.")]
TypeQ = Annotated[
    str | None,
    Query(alias="type", description="call, funds, funds_added, auto_topoff, adjustment, refund"),
]


@router.get("/activity", summary="The Prepaid Activity, newest first")
def get_activity(
    cc: CC,
    owner: AdminToken,
    start: FromQ = None,
    end: ToQ = None,
    extension: str | None = None,
    type_: TypeQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ActivityOut:
    account_id = _account(owner)
    filters = _filters(start, end, extension, type_)
    with cc.uow(readonly=True) as uow:
        total = activity_svc.count(uow, account_id, filters)
        shown = activity_svc.entries(uow, account_id, filters, limit=limit, offset=offset)
        everything = activity_svc.entries(uow, account_id, filters)
    totals = activity_svc.totals_per_extension(everything)
    return ActivityOut(
        total=total,
        entries=[ActivityEntry.model_validate(activity_svc.as_json(e)) for e in shown],
        totals_per_extension={k: str(v) for k, v in totals.items()},
    )


@router.get(
    "/activity.csv",
    summary="The Prepaid Activity as the contract's CSV, oldest first",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def get_activity_csv(
    cc: CC,
    owner: AdminToken,
    start: FromQ = None,
    end: ToQ = None,
    extension: str | None = None,
    type_: TypeQ = None,
) -> Response:
    account_id = _account(owner)
    filters = _filters(start, end, extension, type_)
    with cc.uow(readonly=True) as uow:
        rows = activity_svc.entries(uow, account_id, filters, newest_first=False)
    return Response(activity_svc.to_csv(rows), media_type="text/csv; charset=utf-8")


def _extension_out(view: ext_svc.ExtensionView, currency: str) -> ExtensionOut:
    e = view.extension
    cap = None if e.monthly_cap is None else str(Money(e.monthly_cap, currency))
    return ExtensionOut(
        extension=e.extension, name=e.name, paid_allowed=e.paid_allowed,
        premium_allowed=e.premium_allowed, monthly_cap=cap,
        month_spent=str(Money(view.month_spent, currency)), currency=currency,
    )  # fmt: skip


@router.get("/extensions", summary="Extensions with their rights and spend this month")
def list_extensions(cc: CC, owner: AdminToken) -> list[ExtensionOut]:
    account_id = _account(owner)
    with cc.uow(readonly=True) as uow:
        currency = accounts.get_account(uow, account_id).currency
        views = ext_svc.list_extensions(uow, account_id)
    return [_extension_out(v, currency) for v in views]


@router.get("/extensions/{number}", summary="One extension")
def get_extension(cc: CC, owner: AdminToken, number: str) -> ExtensionOut:
    for view in _views(cc, _account(owner)):
        if view.extension.extension == number:
            return _extension_out(view, _currency(cc, _account(owner)))
    raise NotFound(f"unknown extension {number!r}")


def _views(cc: CC, account_id: str) -> list[ext_svc.ExtensionView]:
    with cc.uow(readonly=True) as uow:
        return ext_svc.list_extensions(uow, account_id)


@router.patch("/extensions/{number}", summary="Change an extension's rights")
def patch_extension(cc: CC, owner: AdminToken, number: str, body: ExtensionPatch) -> ExtensionOut:
    account_id = _account(owner)
    sent: dict[str, Any] = body.model_dump(exclude_unset=True)
    with cc.uow() as uow:
        currency = accounts.get_account(uow, account_id).currency
        cap = sent.get("monthly_cap")
        ext_svc.set_rights(
            uow, account_id, number, name=sent.get("name"),
            paid_allowed=sent.get("paid_allowed"), premium_allowed=sent.get("premium_allowed"),
            monthly_cap=None if cap is None else Money.parse(cap, currency).minor,
            clear_cap="monthly_cap" in sent and cap is None,
        )  # fmt: skip
    return get_extension(cc, owner, number)


def _account(owner: AdminToken) -> str:
    assert owner.account_id is not None  # admin tokens always belong to an account
    return owner.account_id


def install(api: FastAPI) -> None:
    """Add the admin REST API to ``api``."""
    api.include_router(router)
