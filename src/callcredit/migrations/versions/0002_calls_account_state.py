"""calls: index on (account_id, state) for the fraud guard's running-call count

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_account_state", "calls", ["account_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calls_account_state", table_name="calls")
