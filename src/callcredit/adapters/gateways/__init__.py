"""Payment gateways: the built-in simulation and Stripe, chosen by
``CALLCREDIT_PAYMENT_GATEWAY``."""

from __future__ import annotations

from sqlalchemy import Engine

from callcredit.config import Settings
from callcredit.domain.clock import Clock
from callcredit.domain.errors import Unavailable
from callcredit.services.ports import PaymentGateway


def make_gateway(settings: Settings, engine: Engine, clock: Clock) -> PaymentGateway:
    """The gateway the settings ask for (the Stripe library is imported only
    when it is used)."""
    if settings.payment_gateway == "stripe":
        from callcredit.adapters.gateways.stripe import StripeGateway

        if not settings.stripe_api_key:
            raise Unavailable(
                "CALLCREDIT_STRIPE_API_KEY is required when CALLCREDIT_PAYMENT_GATEWAY=stripe"
            )
        return StripeGateway(settings.stripe_api_key, api_base=settings.stripe_api_base)
    from callcredit.adapters.gateways.simulated import SimulatedGateway

    return SimulatedGateway(engine, clock)
