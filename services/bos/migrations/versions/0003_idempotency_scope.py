"""BOS: idempotency keys are scoped to the caller and remember what was asked.

A key is now one caller's (role and subject): two callers who happen to pick the same key
never see each other's answers. Next to each answer sits the fingerprint of the request
that produced it, so the same key sent with a different request is refused instead of
replaying an answer to a question that was not asked.

Rows written before this revision have no caller (empty role and subject) and an empty
fingerprint: no caller matches them, so a retry that straddles the upgrade runs again
(and meets the status its original left behind) rather than replaying.

Revision ID: 0003_idempotency_scope
Revises: 0002_stalled
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003_idempotency_scope"
down_revision = "0002_stalled"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # TransitionBatch and RequestPipeline answers.
    op.execute(
        "ALTER TABLE idempotency_keys "
        "ADD COLUMN caller_role TEXT NOT NULL DEFAULT '', "
        "ADD COLUMN caller_subject TEXT NOT NULL DEFAULT '', "
        "ADD COLUMN fingerprint BYTEA NOT NULL DEFAULT ''::bytea"
    )
    # The defaults only fill the rows already there: every new answer names its caller.
    op.execute(
        "ALTER TABLE idempotency_keys ALTER COLUMN caller_role DROP DEFAULT, "
        "ALTER COLUMN caller_subject DROP DEFAULT, ALTER COLUMN fingerprint DROP DEFAULT"
    )
    op.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey")
    op.execute(
        "ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey "
        "PRIMARY KEY (operation, batch_id, caller_role, caller_subject, idempotency_key)"
    )
    # RegisterBatch: the key lives on the batch it created (owner_id is the caller's subject).
    op.execute("ALTER TABLE batches ADD COLUMN registration_role TEXT, ADD COLUMN registration_fingerprint BYTEA")
    op.execute("DROP INDEX batches_registration_key_idx")
    op.execute(
        "CREATE UNIQUE INDEX batches_registration_key_idx ON batches (owner_id, registration_role, registration_key) "
        "WHERE registration_key IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX batches_registration_key_idx")
    op.execute("ALTER TABLE batches DROP COLUMN registration_fingerprint, DROP COLUMN registration_role")
    op.execute(
        "CREATE UNIQUE INDEX batches_registration_key_idx ON batches (owner_id, registration_key) "
        "WHERE registration_key IS NOT NULL"
    )
    # Two callers' answers under one key cannot both survive the narrower key: keep the oldest.
    op.execute(
        "DELETE FROM idempotency_keys k USING idempotency_keys o "
        "WHERE k.operation = o.operation AND k.batch_id = o.batch_id AND k.idempotency_key = o.idempotency_key "
        "AND (k.created_at, k.caller_role, k.caller_subject) > (o.created_at, o.caller_role, o.caller_subject)"
    )
    op.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey")
    op.execute(
        "ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey "
        "PRIMARY KEY (operation, batch_id, idempotency_key)"
    )
    op.execute(
        "ALTER TABLE idempotency_keys DROP COLUMN fingerprint, DROP COLUMN caller_subject, DROP COLUMN caller_role"
    )
