"""How long each batch has waited in its status: ``batches.status_changed_at``.

A column, not a query over the history: "which batches have waited longer than X, in these
statuses" and "the oldest wait per status" are then one index range scan on
``(status, status_changed_at)``, where deriving it would take the newest history row of every
batch first. The one door (``store.record_transition``) sets it in the statement that changes
the status, so it cannot drift from the history. Existing batches get the time of their newest
history row, or their creation when they never changed.

Revision ID: 0002_stalled
Revises: 0001_initial
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0002_stalled"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE batches ADD COLUMN status_changed_at TIMESTAMPTZ")
    op.execute(
        "UPDATE batches b SET status_changed_at = coalesce("
        "(SELECT t.occurred_at FROM batch_transitions t WHERE t.batch_id = b.batch_id "
        "ORDER BY t.version DESC LIMIT 1), b.created_at)"
    )
    op.execute("ALTER TABLE batches ALTER COLUMN status_changed_at SET DEFAULT clock_timestamp()")
    op.execute("ALTER TABLE batches ALTER COLUMN status_changed_at SET NOT NULL")
    op.execute("CREATE INDEX batches_status_since_idx ON batches (status, status_changed_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS batches_status_since_idx")
    op.execute("ALTER TABLE batches DROP COLUMN IF EXISTS status_changed_at")
