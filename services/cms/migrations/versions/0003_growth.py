"""CMS growth bounds: processed_events pruned by age; purged batches remembered.

Revision ID: 0003_growth
Revises: 0002_outbox_parking
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from essayflow_runtime import outbox

revision = "0003_growth"
down_revision = "0002_outbox_parking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox.create_processed_at_index(op)
    # Batches purged (BatchPurged from BOS): their associations are deleted, and
    # suggestions arriving later (a purge during matching) are not stored. The
    # validation row itself holds no personal data (ids, deadline, state) and stays.
    op.execute(
        "CREATE TABLE purged_batches (batch_id TEXT PRIMARY KEY, purged_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS purged_batches")
    op.execute("DROP INDEX IF EXISTS processed_events_processed_at_idx")
