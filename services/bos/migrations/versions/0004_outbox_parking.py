"""Outbox rows the bus can never take are parked instead of retried forever.

Revision ID: 0004_outbox_parking
Revises: 0003_idempotency_scope
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from essayflow_runtime import outbox

revision = "0004_outbox_parking"
down_revision = "0003_idempotency_scope"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox.add_parking(op)


def downgrade() -> None:
    outbox.drop_parking(op)
