"""``POST /webhooks/stripe``: Stripe tells us a PaymentIntent changed.

The signature (``Stripe-Signature``, with ``CALLCREDIT_STRIPE_WEBHOOK_SECRET``)
is checked first. An event about one of our charges only brings forward
the next look at that charge: the worker's lookup by idempotency key stays
the one source of truth, so a replayed or reordered event changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from callcredit.bootstrap import App
from callcredit.domain.errors import InvalidInput
from callcredit.entrypoints.api.errors import documented, error_response
from callcredit.services import charges

router = APIRouter(tags=["webhooks"])

EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.processing",
    }
)


@router.post(
    "/webhooks/stripe",
    summary="Stripe events about our charges",
    responses=documented(400, 404, 503),
)
async def stripe_webhook(request: Request) -> JSONResponse:
    cc: App = request.app.state.cc
    secret = cc.settings.stripe_webhook_secret
    if not secret:
        return error_response(404, "not_found", "Stripe webhooks are not configured")
    from callcredit.adapters.gateways.stripe import verify_webhook

    payload = await request.body()
    try:
        event_type, key = verify_webhook(payload, request.headers.get("stripe-signature"), secret)
    except InvalidInput as exc:
        return error_response(400, "invalid_signature", str(exc))
    nudged = False
    if key is not None and event_type in EVENTS:
        nudged = await run_in_threadpool(charges.nudge, cc, key)
    return JSONResponse({"received": True, "type": event_type, "matched": nudged})


def install(api: FastAPI) -> None:
    api.include_router(router)
