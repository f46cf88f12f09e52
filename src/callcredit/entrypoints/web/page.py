"""What every page handler gets: the application, the session, the signed-in
administrator and the language, plus rendering with Jinja2 and gettext.

Handlers declare ``page: Visitor`` (anyone), ``page: SignedIn`` (redirects to
the sign-in page otherwise) or ``page: Posted`` (signed in and the form's CSRF
token checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import IntegrityError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from callcredit import i18n
from callcredit.bootstrap import App
from callcredit.domain.errors import CallcreditError, NotFound
from callcredit.domain.money import Money
from callcredit.entrypoints.web import session as sessions
from callcredit.entrypoints.web.messages import explain
from callcredit.services import signin

TEMPLATES = Path(__file__).resolve().parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInRequired(Exception):
    """Raised by :data:`SignedIn` when nobody is signed in."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageProblem(Exception):
    """Raised to answer with an error page (CSRF failure, unknown id, ...)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


@dataclass
class Page:
    """One request to the office manager."""

    request: Request
    cc: App
    session: sessions.Session
    secret: str
    language: str
    admin: signin.Admin | None

    @property
    def account_id(self) -> str:
        assert self.admin is not None
        return self.admin.account_id

    def _(self, message: str) -> str:
        return i18n.gettext(self.language, message)

    def money(self, amount: Money) -> str:
        return i18n.format_money(amount, self.language)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """The page ``template`` with the layout's shared values."""
        flash = self.session.take_flash()
        context = {
            "page": self,
            "_": self._,
            "gettext": self._,
            "ngettext": lambda s, p, n: i18n.ngettext(self.language, s, p, n),
            "money": self.money,
            "day": lambda d: _day(d, self.language),
            "moment": lambda m: i18n.format_moment(m, self.language),
            "language": self.language,
            "csrf": self.session.csrf,
            "path": self.request.url.path,
            "here": _here(self.request),
            "flash": _flash_text(self, flash) if flash else None,
            "banners": _banners(self) if self.admin else [],
            "account_name": _account_name(self) if self.admin else "",
        }
        context.update(values)
        html = _env.get_template(template).render(context)
        response = HTMLResponse(html, status_code=status)
        self.finish(response)
        return response

    def redirect(self, url: str) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        self.finish(response)
        return response

    def fail(self, exc: CallcreditError, *, to: str) -> RedirectResponse:
        """Redirect to ``to`` with the error explained in the page's language."""
        self.session.say("error", explain(exc))
        return self.redirect(to)

    def finish(self, response: Response) -> None:
        sessions.save(response, self.request, self.session, self.secret)


def app_of(request: Request) -> App:
    cc = request.app.state.cc
    assert isinstance(cc, App)
    return cc


def secret_of(request: Request) -> str:
    """The session-signing key, read once per application."""
    state = request.app.state
    key = getattr(state, "web_secret", None)
    if key is None:
        cc = app_of(request)
        try:
            with cc.uow() as uow:
                key = signin.secret_key(uow, cc.settings.secret_key)
        except IntegrityError:  # another worker stored its key first: use that one
            with cc.uow() as uow:
                key = signin.secret_key(uow, cc.settings.secret_key)
        state.web_secret = key
    return str(key)


def visitor(request: Request) -> Page:
    cc = app_of(request)
    secret = secret_of(request)
    session = sessions.load(request, secret)
    admin = None
    if session.account_id and session.email:
        with cc.uow(readonly=True) as uow:
            try:
                admin = signin.find_admin(uow, session.account_id, session.email)
            except NotFound:
                admin = None
        if admin is None or admin.fingerprint != session.fingerprint:
            admin = None
            session.sign_out()
    language = _language(request, admin)
    return Page(request, cc, session, secret, language, admin)


def signed_in(page: Annotated[Page, Depends(visitor)]) -> Page:
    if page.admin is None:
        raise SignInRequired(_here(page.request))
    return page


async def posted(request: Request, page: Annotated[Page, Depends(visitor)]) -> Page:
    """A form post with a valid CSRF token (signed in or not)."""
    form = await request.form()
    token = form.get("csrf")
    if not page.session.csrf_matches(token if isinstance(token, str) else None):
        raise PageProblem(403, "csrf")
    return page


def posted_signed_in(page: Annotated[Page, Depends(posted)]) -> Page:
    if page.admin is None:
        raise SignInRequired("/")
    return page


Visitor = Annotated[Page, Depends(visitor)]
SignedIn = Annotated[Page, Depends(signed_in)]
Posted = Annotated[Page, Depends(posted_signed_in)]
PostedAnonymous = Annotated[Page, Depends(posted)]


def safe_next(url: str | None, default: str = "/") -> str:
    """``url`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='')}"


def _language(request: Request, admin: signin.Admin | None) -> str:
    if admin is not None and admin.locale in i18n.LANGUAGES:
        return admin.locale
    cookie = request.cookies.get(sessions.LANGUAGE_COOKIE)
    if cookie in i18n.LANGUAGES:
        return str(cookie)
    return i18n.negotiate(request.headers.get("accept-language"))


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _day(value: date | datetime, language: str) -> str:
    return i18n.format_day(value, language)


def _flash_text(page: Page, flash: tuple[str, str, dict[str, str]]) -> dict[str, str]:
    kind, message, values = flash
    text = page._(message)
    if values:
        text = text % values
    return {"kind": kind, "text": text}


def _banners(page: Page) -> list[dict[str, str]]:
    from callcredit.entrypoints.web.banners import banners

    return banners(page)


def _account_name(page: Page) -> str:
    from callcredit.services.accounts import get_account

    with page.cc.uow(readonly=True) as uow:
        return get_account(uow, page.account_id).name
