"""The migrations create exactly the schema the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from callcredit.adapters.db import make_engine
from callcredit.adapters.tables import metadata

# Operator-wide tables, and the simulated gateway's own state (it stands in
# for an external payment system, keyed by its tokens and charge keys).
TENANT_EXEMPT = {
    "gateway_cards",
    "gateway_charges",
    "meta",
    "plans",
    "rate_decks",
    "rates",
    "call_routes",
    "api_tokens",
    "accounts",
    "login_failures",
    # The simulated payment gateway's own state: it stands for an outside system.
    "gateway_faults",
}


def test_migrations_match_the_declared_tables(db_url: str) -> None:
    """Upgrading to head leaves nothing for autogenerate to add or change."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_tenant_tables_lead_their_primary_key_with_account_id(db_url: str) -> None:
    """Every tenant-owned table can be distributed by account."""
    engine = make_engine(db_url)
    inspector = inspect(engine)
    for table in inspector.get_table_names():
        if table in TENANT_EXEMPT or table == "alembic_version":
            continue
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        assert pk, table
        assert pk[0] == "account_id", table
    engine.dispose()
