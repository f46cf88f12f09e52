"""The one place that wires settings, engine, clock and adapters into the
services. Tests pass their own clock or settings here instead of patching."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from callcredit.adapters.db import make_engine
from callcredit.adapters.uow import UnitOfWork
from callcredit.config import Settings, load_settings
from callcredit.domain.clock import Clock, SystemClock
from callcredit.services.ports import Mailer, PaymentGateway


@dataclass
class App:
    """What every entry point needs: settings, storage and a clock."""

    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)
    # Built from the settings on first use (see payment_gateway()).
    gateway: PaymentGateway | None = None
    # None: no SMTP server configured; e-mails stay in the outbox, logged.
    mailer: Mailer | None = None

    def payment_gateway(self) -> PaymentGateway:
        """The configured payment gateway (simulated or Stripe)."""
        if self.gateway is None:
            from callcredit.adapters.gateways import make_gateway

            self.gateway = make_gateway(self.settings, self.engine, self.clock)
        return self.gateway

    def uow(self, *, readonly: bool = False) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        return UnitOfWork(self.engine, self.clock, readonly=readonly)

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    pool_size: int = 5,
    gateway: PaymentGateway | None = None,
    mailer: Mailer | None = None,
) -> App:
    """Build the application object from settings (the environment by default)."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url, pool_size=pool_size)
    if mailer is None and settings.smtp_url:
        from callcredit.adapters.mailer import SmtpMailer

        mailer = SmtpMailer(settings.smtp_url, settings.mail_from)
    return App(
        settings=settings, engine=engine, clock=clock or SystemClock(), gateway=gateway,
        mailer=mailer,
    )  # fmt: skip
