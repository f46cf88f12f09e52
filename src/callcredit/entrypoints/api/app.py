"""The ASGI application served by ``callcredit serve``: PBX API, admin REST
API, web pages, health check and OpenAPI document.

Routers live in their own modules and are included here; background loops
(sweeper, top-off worker, outbox) start with the application.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from callcredit import __version__
from callcredit.bootstrap import App, bootstrap
from callcredit.entrypoints import background
from callcredit.entrypoints.api import errors
from callcredit.entrypoints.api.errors import ORJSONResponse
from callcredit.entrypoints.web.headers import SecurityHeaders

ROUTER_MODULES = (
    "callcredit.entrypoints.api.pbx",
    "callcredit.entrypoints.api.admin",
    "callcredit.entrypoints.api.webhooks",
    "callcredit.entrypoints.web.routes",
)


def create_app(
    app: App | None = None,
    *,
    run_background: bool | None = None,
    routers: tuple[str, ...] = ROUTER_MODULES,
) -> FastAPI:
    """Build the ASGI app around ``app`` (bootstrapped from the environment
    when omitted, as ``uvicorn --factory`` does in each worker). ``routers``
    narrows what is served, e.g. the PBX API alone."""
    cc = app or bootstrap(pool_size=10)
    if run_background is None:
        run_background = cc.settings.run_workers_in_serve

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        threads = background.start_all(cc, stop) if run_background else []
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            if app is None:
                cc.close()

    api = FastAPI(
        title="callcredit",
        version=__version__,
        description="Prepaid calling credit: PBX API, admin REST API and office manager.",
        default_response_class=ORJSONResponse,
        lifespan=lifespan,
    )
    api.state.cc = cc
    errors.install(api)
    api.add_middleware(SecurityHeaders)

    @api.get("/healthz", tags=["health"], summary="Liveness and database check")
    def healthz() -> dict[str, str]:
        with cc.uow(readonly=True) as uow:
            uow.conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    for name in routers:
        try:
            module = __import__(name, fromlist=["router"])
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.install(api)
    return api
