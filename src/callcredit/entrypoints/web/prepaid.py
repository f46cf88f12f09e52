"""Add-ons → Prepaid Account: the Balance tab (with Add Funds) and the
Settings tab (what happens when the balance runs low)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response

from callcredit.domain.errors import CallcreditError, InvalidInput
from callcredit.domain.money import Money
from callcredit.entrypoints.web.messages import N_
from callcredit.entrypoints.web.page import Page, Posted, SignedIn
from callcredit.services import accounts, cards, funds
from callcredit.services import settings as low_balance

router = APIRouter()
THRESHOLDS = (500, 1000, 2500)  # minor units offered as "below X"


@router.get("/prepaid")
def prepaid(page: SignedIn) -> Response:
    return page.redirect("/prepaid/balance")


@router.get("/prepaid/balance")
def balance(page: SignedIn) -> Response:
    with page.cc.uow(readonly=True) as uow:
        account = accounts.get_account(uow, page.account_id)
        view = accounts.balance(uow, page.account_id)
        card = cards.get_card(uow, page.account_id)
    presets = funds.preset_amounts(page.cc.settings, account.currency)
    current = current_choice(account)
    setting = next(o["label"] for o in options(page, account.currency, current)
                   if o["value"] == current)  # fmt: skip
    return page.render("prepaid_balance.html", view=view, card=card, presets=presets,
                       idempotency=secrets.token_urlsafe(16), setting=setting,
                       suspended=account.topoff_suspended)  # fmt: skip


@router.post("/prepaid/funds")
def buy(
    page: Posted,
    amount: Annotated[str, Form(max_length=20)],
    idempotency: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Add Funds: charge the card on file one of the preset amounts."""
    key = f"web:{idempotency}" if idempotency else f"web:{secrets.token_urlsafe(16)}"
    try:
        with page.cc.uow(readonly=True) as uow:
            currency = accounts.get_account(uow, page.account_id).currency
        chosen = Money.parse(amount, currency)
        funds.add_funds(page.cc, page.account_id, chosen, idempotency_key=key)
    except CallcreditError as exc:
        return page.fail(exc, to="/prepaid/balance")
    page.session.say("ok", N_("Thank you: %(amount)s added to the Prepaid Account."),
                     amount=page.money(chosen))  # fmt: skip
    return page.redirect("/prepaid/balance")


def options(page: Page, currency: str, current: str) -> list[dict[str, str]]:
    """The entries of the Settings drop-down; the saved one is always there."""
    presets = funds.preset_amounts(page.cc.settings, currency)
    out = []
    for below in THRESHOLDS:
        for amount in presets:
            out.append(_option(page, "auto-topoff", Money(below, currency), amount))
    for below in THRESHOLDS:
        out.append(_option(page, "stop-below", Money(below, currency), None))
    neither = page._("Neither: paid calls run until the funds are used up")
    out.append({"value": "off", "label": neither})
    if current not in {o["value"] for o in out}:
        mode, saved_below, saved_amount = _parse_choice(current)
        extra = None if saved_amount is None else Money(saved_amount, currency)
        out.insert(0, _option(page, mode, Money(saved_below or 0, currency), extra))
    return out


def _option(page: Page, mode: str, below: Money, amount: Money | None) -> dict[str, str]:
    if mode == "auto-topoff" and amount is not None:
        label = page._("Top off automatically: add %(amount)s when the balance is below %(below)s")
        values = {"amount": page.money(amount), "below": page.money(below)}
        return {"value": f"auto-topoff:{below.minor}:{amount.minor}", "label": label % values}
    label = page._("Stop paid calls when the balance is below %(below)s")
    return {"value": f"stop-below:{below.minor}", "label": label % {"below": page.money(below)}}


def current_choice(account: accounts.Account) -> str:
    if account.low_balance_mode == "auto-topoff":
        return f"auto-topoff:{account.low_balance_below}:{account.topoff_amount}"
    if account.low_balance_mode == "stop-below":
        return f"stop-below:{account.low_balance_below}"
    return "off"


@router.get("/prepaid/settings")
def settings_form(page: SignedIn) -> Response:
    with page.cc.uow(readonly=True) as uow:
        account = accounts.get_account(uow, page.account_id)
    current = current_choice(account)
    return page.render("prepaid_settings.html", options=options(page, account.currency, current),
                       current=current, suspended=account.topoff_suspended)  # fmt: skip


@router.post("/prepaid/settings")
def settings_save(page: Posted, choice: Annotated[str, Form(max_length=64)]) -> Response:
    try:
        mode, below, amount = _parse_choice(choice)
        with page.cc.uow() as uow:
            currency = accounts.get_account(uow, page.account_id).currency
            low_balance.set_low_balance(
                uow, page.account_id, mode,
                below=None if below is None else Money(below, currency),
                amount=None if amount is None else Money(amount, currency),
                presets=funds.preset_amounts(page.cc.settings, currency),
            )  # fmt: skip
    except CallcreditError as exc:
        return page.fail(exc, to="/prepaid/settings")
    page.session.say("ok", N_("Settings saved."))
    return page.redirect("/prepaid/settings")


def _parse_choice(choice: str) -> tuple[str, int | None, int | None]:
    parts = choice.split(":")
    try:
        if parts[0] == "off" and len(parts) == 1:
            return "off", None, None
        if parts[0] == "stop-below" and len(parts) == 2:
            return "stop-below", int(parts[1]), None
        if parts[0] == "auto-topoff" and len(parts) == 3:
            return "auto-topoff", int(parts[1]), int(parts[2])
    except ValueError:
        pass
    raise InvalidInput(f"unknown setting {choice!r}")
