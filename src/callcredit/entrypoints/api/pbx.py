"""The PBX API (contract "PBX API"): authorize, reauthorize, end.

The charging service builds each answer in the contract's shape; it is
written out with orjson as it is (the ``response_model`` classes document
the shape in the OpenAPI document without validating every answer again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path
from pydantic import BaseModel, ConfigDict, Field

from callcredit.bootstrap import App
from callcredit.entrypoints.api.deps import CC, PbxToken
from callcredit.entrypoints.api.errors import ErrorOut, ORJSONResponse
from callcredit.services import charging

MAX = charging.MAX_SECONDS
CallId = Annotated[str, Path(min_length=1, max_length=128)]


class AuthorizeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    call_id: str = Field(min_length=1, max_length=128)
    account: str = Field(min_length=1, max_length=64)
    extension: str = Field(min_length=1, max_length=32)
    destination: str = Field(min_length=1, max_length=64)
    quota_seconds: int | None = Field(default=None, ge=1, le=MAX)


class ReauthorizeBody(BaseModel):
    used_seconds: int = Field(ge=0, le=MAX)


class EndBody(BaseModel):
    answered_seconds: int = Field(ge=0, le=MAX)
    hangup_cause: str = Field(default="normal", max_length=64)


class Destination(BaseModel):
    e164: str | None
    country: str | None
    kind: str
    label: str


class RateOut(BaseModel):
    per_minute: str
    connect_fee: str
    increment: str
    currency: str
    matched: str


class BalanceOut(BaseModel):
    currency: str
    available: str


class Authorization(BaseModel):
    call_id: str
    allow: bool
    reason: str
    granted_seconds: int | None = Field(
        description="Seconds allowed from now; null when nothing limits the call."
    )
    destination: Destination | None
    rate: RateOut | None
    balance: BalanceOut | None


class EndAnswer(BaseModel):
    call_id: str
    billed_seconds: int
    charged: str
    balance: BalanceOut


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong token"},
    409: {"model": ErrorOut, "description": "call_id reused for a different call"},
    422: {"model": ErrorOut, "description": "Malformed body"},
    503: {"model": ErrorOut, "description": "Storage unavailable; nothing was decided"},
}


async def _charge(cc: App, operation: Callable[[App, Any], dict[str, Any]], cmd: Any) -> Any:
    """Run a charging operation on the event loop's thread.

    An operation is one short transaction (a millisecond or two here). A
    hop to the thread pool cost more than the operation itself and, worse,
    made the thread holding the customer's lock compete with the event
    loop for the interpreter, which stretched every lock holding (measured
    with ``python -m bench``: on SQLite with 2 workers, 185 -> 252 paid-call
    cycles/s together with the smaller changes of that round; on
    PostgreSQL within the noise). A worker thus charges one request at
    a time; concurrency comes from ``serve --workers``."""
    return operation(cc, cmd)


router = APIRouter(prefix="/pbx/v1", tags=["pbx"], responses=ERRORS)


@router.post("/authorize", response_model=Authorization, summary="May this call go ahead?")
async def authorize(body: AuthorizeBody, cc: CC, _: PbxToken) -> Any:
    """Decide a call and reserve its first quota (idempotent on ``call_id``)."""
    cmd = charging.AuthorizeCall(
        body.call_id, body.account, body.extension, body.destination, body.quota_seconds
    )
    return ORJSONResponse(await _charge(cc, charging.authorize, cmd))


@router.post(
    "/calls/{call_id}/reauthorize",
    response_model=Authorization,
    responses={404: {"model": ErrorOut, "description": "Unknown call"}},
    summary="Extend a running call's quota",
)
async def reauthorize(call_id: CallId, body: ReauthorizeBody, cc: CC, _: PbxToken) -> Any:
    """Grow the reservation for another quota, or say how many seconds are left."""
    cmd = charging.ReauthorizeCall(call_id, body.used_seconds)
    return ORJSONResponse(await _charge(cc, charging.reauthorize, cmd))


@router.post(
    "/calls/{call_id}/end",
    response_model=EndAnswer,
    responses={404: {"model": ErrorOut, "description": "Unknown call"}},
    summary="Report the end of a call",
)
async def end(call_id: CallId, body: EndBody, cc: CC, _: PbxToken) -> Any:
    """Post the real cost and release the rest of the reservation, once."""
    cmd = charging.EndCall(call_id, body.answered_seconds, body.hangup_cause)
    return ORJSONResponse(await _charge(cc, charging.end, cmd))


def install(api: FastAPI) -> None:
    api.include_router(router)
