"""fraud guard in constant time: calls (account_id, state) index, spend_minutes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:40:00
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_account_state", "calls", ["account_id", "state"], unique=False)
    spend = op.create_table(
        "spend_minutes",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"]),
        sa.PrimaryKeyConstraint("account_id", "minute"),
    )
    # The last hour's paid calls, so that the guard sees them from the start.
    calls = sa.table(
        "calls",
        sa.column("account_id", sa.String),
        sa.column("reason", sa.String),
        sa.column("cost", sa.BigInteger),
        sa.column("reserved", sa.BigInteger),
        sa.column("started_at", sa.DateTime(timezone=True)),
    )
    since = datetime.now(UTC) - timedelta(hours=1)
    rows = op.get_bind().execute(
        sa.select(calls.c.account_id, calls.c.started_at, calls.c.cost, calls.c.reserved).where(
            calls.c.reason == "prepaid", calls.c.started_at >= since
        )
    )
    totals: Counter[tuple[str, int]] = Counter()
    for row in rows:
        started = (
            row.started_at.replace(tzinfo=UTC) if row.started_at.tzinfo is None else row.started_at
        )
        minute = int(started.timestamp()) // 60
        totals[(row.account_id, minute)] += row.cost if row.cost is not None else row.reserved
    if totals:
        op.bulk_insert(
            spend,
            [{"account_id": a, "minute": m, "amount": n} for (a, m), n in totals.items()],
        )


def downgrade() -> None:
    op.drop_table("spend_minutes")
    op.drop_index("ix_calls_account_state", table_name="calls")
