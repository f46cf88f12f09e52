"""The office manager: server-rendered pages in English and French.

Each area of the office manager has its own module with a ``router``; this
module mounts them, the static files, and the handlers that turn "not signed
in" into the sign-in page and problems into error pages.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from callcredit.entrypoints.web import activity, auth, billing, extensions, gateway, help, prepaid
from callcredit.entrypoints.web.page import PageProblem, SignInRequired, login_url, visitor

STATIC = Path(__file__).resolve().parent / "static"


def install(api: FastAPI) -> None:
    """Add the pages to ``api``."""
    api.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (auth, billing, prepaid, activity, extensions, help, gateway):
        api.include_router(module.router, include_in_schema=False)

    @api.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        page = await run_in_threadpool(visitor, request)
        return page.redirect(login_url(exc.next_url))

    @api.exception_handler(PageProblem)
    async def _problem(request: Request, exc: PageProblem) -> Response:
        page = await run_in_threadpool(visitor, request)
        return await run_in_threadpool(page.render, "error.html", exc.status, problem=exc.message)
