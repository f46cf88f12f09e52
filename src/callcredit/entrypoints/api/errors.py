"""Turning errors into the contract's JSON: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from callcredit.domain.errors import (
    AlreadyExists,
    BusinessRuleViolation,
    CallcreditError,
    InvalidInput,
    NotFound,
    Unavailable,
)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every error answer: ``{"error": {"code": "...", "message": "..."}}``."""

    error: ErrorBody


MEANINGS = {
    400: "Bad request (e.g. a webhook whose signature does not check out)",
    401: "Missing or wrong token",
    404: "Not found (for this token's account)",
    409: "Refused by the business rules or an idempotency conflict; nothing moved",
    422: "Malformed request",
    503: "Storage or payment gateway unavailable; nothing was decided",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries for these error statuses."""
    return {s: {"model": ErrorOut, "description": MEANINGS[s]} for s in statuses}


class ORJSONResponse(JSONResponse):
    """JSON written with orjson. (FastAPI's own class of that name now warns
    on every use that it is deprecated, which costs more than the encoding.)"""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, code: str, message: str) -> ORJSONResponse:
    return ORJSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def status_of(exc: CallcreditError) -> int:
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, AlreadyExists | BusinessRuleViolation):
        return 409
    if isinstance(exc, Unavailable):
        return 503
    return 400


def install(api: FastAPI) -> None:
    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> ORJSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = (
            f"{where}: {first.get('msg', 'invalid request')}"
            if where
            else str(first.get("msg", "invalid request"))
        )
        return error_response(422, "invalid_request", message)

    @api.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> ORJSONResponse:
        codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot even decode: the contract
            # calls that a malformed body (422).
            return error_response(422, "invalid_request", str(exc.detail))
        response = error_response(
            exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail)
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @api.exception_handler(CallcreditError)
    async def _domain(request: Request, exc: CallcreditError) -> ORJSONResponse:
        return error_response(status_of(exc), exc.code, str(exc))

    @api.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> ORJSONResponse:
        if unavailable(exc):
            return error_response(503, "unavailable", "the database is unavailable; retry")
        raise exc

    @api.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> ORJSONResponse:
        return error_response(503, "unavailable", "the database is busy; retry")


def unavailable(exc: DBAPIError) -> bool:
    """The database could not be used (down, restarting, connection lost,
    SQLite still locked after the busy timeout). Nothing was decided, except
    when the connection dropped during the commit itself; either way the
    client retries, and every money-moving request is idempotent."""
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return True
    text = str(exc.orig).lower()
    return any(
        s in text
        for s in ("connection", "server closed", "terminating", "could not connect", "locked")
    )
