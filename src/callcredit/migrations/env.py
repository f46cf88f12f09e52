"""Alembic environment: runs on the connection callcredit hands it, or on
``CALLCREDIT_DATABASE_URL`` when invoked through the ``alembic`` command."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from callcredit.adapters.db import make_engine
from callcredit.adapters.tables import metadata
from callcredit.config import load_settings

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(load_settings().database_url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
