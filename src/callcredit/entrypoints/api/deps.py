"""Dependencies shared by the API routes (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from callcredit.bootstrap import App
from callcredit.services.tokens import TokenOwner, check_token, token_cache

bearer = HTTPBearer(auto_error=False, description="A token from `callcredit tokens create`.")


async def get_cc(request: Request) -> App:
    # async: a plain function would be run in the thread pool on every request
    cc: App = request.app.state.cc
    return cc


CC = Annotated[App, Depends(get_cc)]


def _lookup(cc: App, token: str) -> TokenOwner | None:
    with cc.uow(readonly=True) as uow:
        return check_token(uow, token)


async def _owner(
    cc: App, credentials: HTTPAuthorizationCredentials | None, role: str
) -> TokenOwner:
    """The token's owner: from the token cache when it was checked moments
    ago (see :mod:`callcredit.services.tokens`), else from the database."""
    unauthorized = HTTPException(
        status_code=401,
        detail="missing or wrong bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized
    owner = token_cache.get(cc.engine.url, credentials.credentials)
    if owner is None:
        owner = await run_in_threadpool(_lookup, cc, credentials.credentials)
    if owner is None or owner.role != role:
        raise unauthorized
    return owner


async def pbx_token(
    cc: CC, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenOwner:
    return await _owner(cc, credentials, "pbx")


async def admin_token(
    cc: CC, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenOwner:
    return await _owner(cc, credentials, "admin")


PbxToken = Annotated[TokenOwner, Depends(pbx_token)]
AdminToken = Annotated[TokenOwner, Depends(admin_token)]
