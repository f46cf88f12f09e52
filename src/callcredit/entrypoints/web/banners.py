"""Banners shown on every page: automatic top-off suspended, card expired or
missing, balance low."""

from __future__ import annotations

from callcredit.entrypoints.web.messages import N_
from callcredit.entrypoints.web.page import Page
from callcredit.services import accounts


def banners(page: Page) -> list[dict[str, str]]:
    """The banners for the signed-in administrator's account, most urgent first."""
    from callcredit.services import cards

    out: list[dict[str, str]] = []
    with page.cc.uow(readonly=True) as uow:
        account = accounts.get_account(uow, page.account_id)
        view = accounts.balance(uow, page.account_id)
        card = cards.get_card(uow, page.account_id)
        now = uow.clock.now()
    if account.topoff_suspended:
        text = N_("Automatic top-off is suspended: the card was declined.")
        out.append(_banner(page, "bad", text, N_("Check the card"), "/account/billing"))
    if card is None:
        out.append(_banner(page, "warn", N_("There is no card on file for the Prepaid Account."),
                           N_("Add a card"), "/account/billing/edit"))  # fmt: skip
    elif card.expired(now.date()):
        out.append(_banner(page, "bad", N_("The card on file has expired."),
                           N_("Update the card"), "/account/billing/edit"))  # fmt: skip
    threshold = account.low_balance_below if account.low_balance_mode != "off" else 0
    if view.available.minor < threshold or view.available.minor <= 0:
        out.append(_banner(page, "warn", N_("The prepaid balance is low."), N_("Add Funds"),
                           "/prepaid/balance"))  # fmt: skip
    return out


def _banner(page: Page, kind: str, text: str, action: str, link: str) -> dict[str, str]:
    return {"kind": kind, "text": page._(text), "action": page._(action), "link": link}
