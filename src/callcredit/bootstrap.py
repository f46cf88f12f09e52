"""The one place that wires settings, engine, clock and adapters into the
services. Tests pass their own clock or settings here instead of patching."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from callcredit.adapters.db import make_engine
from callcredit.adapters.uow import UnitOfWork
from callcredit.config import Settings, load_settings
from callcredit.domain.clock import Clock, SystemClock


@dataclass
class App:
    """What every entry point needs: settings, storage and a clock."""

    settings: Settings
    engine: Engine
    clock: Clock = field(default_factory=SystemClock)

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
) -> App:
    """Build the application object from settings (the environment by default)."""
    settings = settings or load_settings()
    engine = engine or make_engine(settings.database_url, pool_size=pool_size)
    return App(settings=settings, engine=engine, clock=clock or SystemClock())
