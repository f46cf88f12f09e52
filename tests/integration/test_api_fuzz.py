"""Schema-driven fuzzing of every route in the OpenAPI document (PBX API,
admin REST API, webhooks, health) with schemathesis, in process over the
real storage (SQLite and PostgreSQL).

For valid and invalid requests alike: never a 500, every status code is one
the document declares, and every JSON answer matches its declared schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from callcredit.bootstrap import App
from callcredit.entrypoints.api.app import create_app
from tests import factories as f
from tests.billing import billing_app, office, put_card
from tests.officemanager import admin_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 25  # per operation and generation mode


@pytest.fixture
def cc(db_url: str) -> Iterator[App]:
    app = billing_app(db_url)
    office(app)
    put_card(app)
    f.credit(app, "atelier", 5000)
    with app.uow() as uow:
        from callcredit.services.extensions import add_extension

        for number in ("101", "104"):
            add_extension(uow, "atelier", number)
    yield app
    app.close()


def operations(schema: Any) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        found.append(result.ok())
    return found


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_route_answers_per_its_schema_and_never_500(cc: App, mode: GenerationMode) -> None:
    """Generated requests to every documented route get a declared status
    and a body matching the schema; none gets a 500."""
    api = create_app(cc, run_background=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    tokens = {"pbx": f.pbx_token(cc), "admin": admin_token(cc, "atelier")}
    ops = operations(schema)
    paths = {op.path for op in ops}
    assert {"/pbx/v1/authorize", "/api/v1/balance", "/api/v1/funds"} <= paths
    tried = 0
    failures: list[str] = []
    for op in ops:
        token = tokens["pbx"] if op.path.startswith("/pbx/") else tokens["admin"]
        try:
            fuzz(op, mode, token)
        except Unsatisfiable:
            pass  # nothing to make invalid (no parameters, no body)
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failure is reported
            failures.append(f"{op.method.upper()} {op.path}: {_summary(exc)}")
        tried += 1
    assert not failures, "\n\n".join(failures)
    assert tried == len(ops)


def fuzz(op: Any, mode: GenerationMode, token: str) -> None:
    """Send EXAMPLES generated requests to ``op``, with and without the token."""

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=op.as_strategy(generation_mode=mode), authorised=st.booleans())
    def run(case: Any, authorised: bool) -> None:
        headers = {"Authorization": f"Bearer {token}"} if authorised else {}
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def _summary(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, BaseExceptionGroup):
        text += "".join(f"\n  {type(e).__name__}: {e}" for e in exc.exceptions)
    return text
