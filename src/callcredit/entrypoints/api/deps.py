"""Dependencies shared by the API routes (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from callcredit.bootstrap import App
from callcredit.services.tokens import TokenOwner, check_token

bearer = HTTPBearer(auto_error=False, description="A token from `callcredit tokens create`.")


def get_cc(request: Request) -> App:
    cc: App = request.app.state.cc
    return cc


CC = Annotated[App, Depends(get_cc)]


def _owner(cc: App, credentials: HTTPAuthorizationCredentials | None, role: str) -> TokenOwner:
    unauthorized = HTTPException(
        status_code=401,
        detail="missing or wrong bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized
    with cc.uow(readonly=True) as uow:
        owner = check_token(uow, credentials.credentials)
    if owner is None or owner.role != role:
        raise unauthorized
    return owner


def pbx_token(
    cc: CC, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenOwner:
    return _owner(cc, credentials, "pbx")


def admin_token(
    cc: CC, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenOwner:
    return _owner(cc, credentials, "admin")


PbxToken = Annotated[TokenOwner, Depends(pbx_token)]
AdminToken = Annotated[TokenOwner, Depends(admin_token)]
