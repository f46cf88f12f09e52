"""Add-ons → Prepaid Account → Prepaid Activity: newest first, paginated,
filtered by dates, extension and type, with totals per extension, a chart of
spend per day and the contract's CSV."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_date
from fastapi import APIRouter
from starlette.responses import Response

from callcredit.domain.errors import InvalidInput
from callcredit.entrypoints.web import chart
from callcredit.entrypoints.web.messages import N_
from callcredit.entrypoints.web.page import Page, SignedIn
from callcredit.services import activity as svc
from callcredit.services.accounts import get_account
from callcredit.services.extensions import list_extensions

router = APIRouter()
PER_PAGE = 25
TYPE_LABELS = {
    "call": N_("Call"),
    "funds_added": N_("Funds added"),
    "auto_topoff": N_("Automatic top-off"),
    "adjustment": N_("Adjustment"),
    "refund": N_("Refund"),
}
KIND_LABELS = {
    "fixed_line": N_("landline"),
    "mobile": N_("mobile"),
    "fixed_line_or_mobile": N_("landline or mobile"),
    "premium_rate": N_("premium-rate"),
    "toll_free": N_("toll-free"),
    "shared_cost": N_("shared-cost"),
    "voip": N_("VoIP"),
    "short_code": N_("short number"),
}
FILTER_LABELS = (("", N_("All")), ("call", N_("Calls")), ("funds", N_("Funding")))


def _filters(
    start: str | None, end: str | None, extension: str | None, type_: str | None
) -> svc.Filters:
    return svc.Filters(svc.parse_day(start or None), svc.parse_day(end or None),
                       extension or None, type_ or None)  # fmt: skip


@router.get("/prepaid/activity")
def activity(
    page: SignedIn,
    start: str | None = None,
    end: str | None = None,
    extension: str | None = None,
    type: str | None = None,
    p: int = 1,
) -> Response:
    error = None
    try:
        filters = _filters(start, end, extension, type)
    except InvalidInput:
        filters, error = svc.Filters(), N_("Some of the values are not valid.")
    with page.cc.uow(readonly=True) as uow:
        account = get_account(uow, page.account_id)
        total = svc.count(uow, page.account_id, filters)
        p = min(max(1, p), max(1, -(-total // PER_PAGE)))
        shown = svc.entries(uow, page.account_id, filters, limit=PER_PAGE,
                            offset=(p - 1) * PER_PAGE)  # fmt: skip
        period = svc.entries(uow, page.account_id, filters)
        numbers = [view.extension.extension for view in list_extensions(uow, page.account_id)]
    pages = max(1, -(-total // PER_PAGE))
    query = {"start": start or "", "end": end or "", "extension": extension or "",
             "type": type or ""}  # fmt: skip
    drawn = chart.build(period, account.currency, filters.start, filters.end, page.money,
                        lambda d: _short(d, page.language))  # fmt: skip
    return page.render(
        "prepaid_activity.html", entries=shown, total=total, p=p, pages=pages, query=query,
        totals=svc.totals_per_extension(period), chart=drawn, numbers=numbers,
        type_labels=TYPE_LABELS, filter_labels=FILTER_LABELS, error=error,
        csv_url="/prepaid/activity.csv?" + urlencode(query),
        place=lambda e: place(e, page),
        page_url=lambda n: "/prepaid/activity?" + urlencode({**query, "p": n}),
    )  # fmt: skip


@router.get("/prepaid/activity.csv")
def activity_csv(
    page: SignedIn,
    start: str | None = None,
    end: str | None = None,
    extension: str | None = None,
    type: str | None = None,
) -> Response:
    """The filtered activity in the contract's CSV, oldest first."""
    filters = _filters(start, end, extension, type)
    with page.cc.uow(readonly=True) as uow:
        rows = svc.entries(uow, page.account_id, filters, newest_first=False)
    name = f"prepaid-activity-{page.account_id}.csv"
    return Response(svc.to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


def _short(d: date, language: str) -> str:
    return str(format_date(d, "d MMM", locale="fr_FR" if language == "fr" else "en_GB"))


def place(entry: svc.Entry, page: Page) -> str:
    """``Royaume-Uni · mobile``: the country in the page's language and the kind."""
    parts = []
    if entry.country:
        locale = Locale.parse("fr" if page.language == "fr" else "en")
        parts.append(str(locale.territories.get(entry.country, entry.country)))
    if entry.kind and entry.kind != "unknown":
        parts.append(page._(KIND_LABELS.get(entry.kind, entry.kind.replace("_", " "))))
    return " · ".join(parts)
