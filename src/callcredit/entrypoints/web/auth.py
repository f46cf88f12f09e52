"""Signing in and out, and choosing the language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.responses import Response

from callcredit import i18n
from callcredit.entrypoints.web import session as sessions
from callcredit.entrypoints.web.messages import N_, explain
from callcredit.entrypoints.web.page import PostedAnonymous, Visitor, safe_next
from callcredit.services import signin

router = APIRouter()
HOME = "/prepaid/balance"


@router.get("/")
def home(page: Visitor) -> Response:
    return page.redirect(HOME if page.admin else "/login")


@router.get("/login")
def login_form(page: Visitor, next: str | None = None) -> Response:
    if page.admin is not None:
        return page.redirect(safe_next(next, HOME))
    return page.render("login.html", next=safe_next(next, HOME), email="", error=None)


@router.post("/login")
def login(
    page: PostedAnonymous,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form()] = HOME,
) -> Response:
    address = page.request.client.host if page.request.client else "unknown"
    try:
        with page.cc.uow() as uow:
            admin = signin.authenticate(uow, email, password, address)
    except signin.TooManyAttempts as exc:
        return page.render("login.html", status=429, next=safe_next(next, HOME), email=email,
                           error=explain(exc))  # fmt: skip
    if admin is None:
        return page.render("login.html", status=401, next=safe_next(next, HOME), email=email,
                           error=N_("Wrong e-mail or password."))  # fmt: skip
    chosen = page.request.cookies.get(sessions.LANGUAGE_COOKIE)
    if chosen in i18n.LANGUAGES and chosen != admin.locale:
        with page.cc.uow() as uow:
            signin.set_language(uow, admin.account_id, admin.email, str(chosen))
    page.session.sign_in(admin.account_id, admin.email, admin.fingerprint)
    return page.redirect(safe_next(next, HOME))


@router.post("/logout")
def logout(page: PostedAnonymous) -> Response:
    page.session.sign_out()
    return page.redirect("/login")


@router.post("/language")
def language(
    page: PostedAnonymous,
    lang: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Switch the language of the pages, remembered in a cookie and, for a
    signed-in administrator, in their profile."""
    if lang not in i18n.LANGUAGES:
        lang = i18n.DEFAULT_LANGUAGE
    if page.admin is not None:
        with page.cc.uow() as uow:
            signin.set_language(uow, page.admin.account_id, page.admin.email, lang)
    response = page.redirect(safe_next(next))
    response.set_cookie(sessions.LANGUAGE_COOKIE, lang, max_age=365 * 86400, path="/",
                        samesite="lax", httponly=True,
                        secure=page.request.url.scheme == "https")  # fmt: skip
    return response
