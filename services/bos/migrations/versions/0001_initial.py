"""BOS schema: batches, their stored essays, the transition history, idempotency keys, outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from essayflow.common.v1 import common_pb2
from essayflow_runtime import outbox
from essayflow_runtime.enums import check_constraint_sql, to_db

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration must not change when application code does.
CHANGES_CHANNEL = "essayflow_bos_batch_changes"

STATUS = common_pb2.BatchStatus
ASSOCIATION = common_pb2.StudentAssociationStatus
METHOD = common_pb2.AssociationValidationMethod
GUEST = to_db(common_pb2.BatchType, common_pb2.BatchType.BATCH_TYPE_GUEST)


def upgrade() -> None:
    outbox.create_tables(op, "bos")
    op.execute(
        f"""
        CREATE TABLE batches (
            batch_id UUID PRIMARY KEY,
            owner_id TEXT NOT NULL,
            class_id UUID,
            batch_type TEXT NOT NULL CHECK ({check_constraint_sql("batch_type", common_pb2.BatchType)}),
            course_code TEXT NOT NULL CHECK ({check_constraint_sql("course_code", common_pb2.CourseCode)}),
            title TEXT NOT NULL DEFAULT '' CHECK (char_length(title) <= 200),
            expected_essay_count INTEGER NOT NULL CHECK (expected_essay_count BETWEEN 1 AND 500),
            essay_ids UUID[] NOT NULL,
            status TEXT NOT NULL CHECK ({check_constraint_sql("status", STATUS)}),
            version BIGINT NOT NULL DEFAULT 0 CHECK (version >= 0),
            correlation_id TEXT NOT NULL,
            registration_key TEXT,
            -- Facts the guards read; readiness is essays_stored_at AND (GUEST or
            -- associations_confirmed_at), whichever is recorded second completes it.
            content_completed_at TIMESTAMPTZ,
            every_upload_failed BOOLEAN NOT NULL DEFAULT false,
            failed_upload_count INTEGER NOT NULL DEFAULT 0,
            essays_stored_at TIMESTAMPTZ,
            associations_confirmed_at TIMESTAMPTZ,
            created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
            CHECK ((class_id IS NULL) = (batch_type = '{GUEST}')),
            CHECK (cardinality(essay_ids) = expected_essay_count)
        )
        """
    )
    op.execute(
        "CREATE UNIQUE INDEX batches_registration_key_idx ON batches (owner_id, registration_key) "
        "WHERE registration_key IS NOT NULL"
    )
    op.execute("CREATE INDEX batches_owner_created_idx ON batches (owner_id, created_at DESC, batch_id DESC)")
    op.execute("CREATE INDEX batches_created_idx ON batches (created_at DESC, batch_id DESC)")
    op.execute(
        f"""
        CREATE TABLE batch_essays (
            batch_id UUID NOT NULL REFERENCES batches (batch_id) ON DELETE CASCADE,
            essay_id UUID NOT NULL,
            text_storage_id TEXT NOT NULL,
            file_name TEXT NOT NULL DEFAULT '',
            -- Set from BatchEssaysReady for REGULAR batches; NULL while unconfirmed and for GUEST.
            student_id TEXT,
            association_status TEXT CHECK ({check_constraint_sql("association_status", ASSOCIATION)}),
            validation_method TEXT CHECK ({check_constraint_sql("validation_method", METHOD)}),
            stored_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (batch_id, essay_id)
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE batch_transitions (
            batch_id UUID NOT NULL REFERENCES batches (batch_id) ON DELETE CASCADE,
            version BIGINT NOT NULL CHECK (version >= 1),
            from_status TEXT NOT NULL CHECK ({check_constraint_sql("from_status", STATUS)}),
            to_status TEXT NOT NULL CHECK ({check_constraint_sql("to_status", STATUS)}),
            cause TEXT NOT NULL,
            actor TEXT NOT NULL,
            idempotency_key TEXT,
            correlation_id TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            occurred_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
            -- Append-only and exactly one row per version: two writers can never both
            -- record the same step.
            CONSTRAINT batch_transitions_batch_version_key UNIQUE (batch_id, version)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            operation TEXT NOT NULL,
            batch_id UUID NOT NULL REFERENCES batches (batch_id) ON DELETE CASCADE,
            idempotency_key TEXT NOT NULL,
            response BYTEA NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (operation, batch_id, idempotency_key)
        )
        """
    )
    # WatchBatch on any replica wakes when any replica commits a transition.
    op.execute(
        f"""
        CREATE FUNCTION batch_transition_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('{CHANGES_CHANNEL}', NEW.batch_id::text); RETURN NULL; END $$
        """
    )
    op.execute(
        "CREATE TRIGGER batch_transition_notify AFTER INSERT ON batch_transitions "
        "FOR EACH ROW EXECUTE FUNCTION batch_transition_notify()"
    )
    op.execute(
        """
        CREATE FUNCTION batch_transitions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'batch_transitions is append-only'; END $$
        """
    )
    op.execute(
        "CREATE TRIGGER batch_transitions_append_only BEFORE UPDATE ON batch_transitions "
        "FOR EACH ROW EXECUTE FUNCTION batch_transitions_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS idempotency_keys")
    op.execute("DROP TABLE IF EXISTS batch_transitions")
    op.execute("DROP FUNCTION IF EXISTS batch_transitions_append_only()")
    op.execute("DROP FUNCTION IF EXISTS batch_transition_notify()")
    op.execute("DROP TABLE IF EXISTS batch_essays")
    op.execute("DROP TABLE IF EXISTS batches")
    outbox.drop_tables(op)
