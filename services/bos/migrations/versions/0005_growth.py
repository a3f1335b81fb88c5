"""BOS growth bounds: the purge record on batches; processed_events pruned by age.

Revision ID: 0005_growth
Revises: 0004_outbox_parking
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from essayflow_runtime import outbox

revision = "0005_growth"
down_revision = "0004_outbox_parking"
branch_labels = None
depends_on = None


def upgrade() -> None:
    outbox.create_processed_at_index(op)
    # A purged batch keeps its row and history; these say when and by whom its texts
    # and personal data were deleted.
    op.execute("ALTER TABLE batches ADD COLUMN purged_at TIMESTAMPTZ")
    op.execute("ALTER TABLE batches ADD COLUMN purged_by TEXT")
    op.execute("ALTER TABLE batches ADD COLUMN purge_reason TEXT NOT NULL DEFAULT ''")
    # The retention sweep looks only at batches not yet purged.
    op.execute("CREATE INDEX batches_unpurged_status_idx ON batches (status) WHERE purged_at IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS batches_unpurged_status_idx")
    op.execute("ALTER TABLE batches DROP COLUMN IF EXISTS purge_reason")
    op.execute("ALTER TABLE batches DROP COLUMN IF EXISTS purged_by")
    op.execute("ALTER TABLE batches DROP COLUMN IF EXISTS purged_at")
    op.execute("DROP INDEX IF EXISTS processed_events_processed_at_idx")
