"""Classes, students, class membership, essay-student associations, batch validations.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from alembic import op

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import outbox
from essayflow_runtime.enums import check_constraint_sql, to_db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PENDING = to_db(common_pb2.StudentAssociationStatus, common_pb2.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION)
AWAITING = to_db(cms_pb2.BatchValidationState, cms_pb2.BATCH_VALIDATION_STATE_AWAITING_VALIDATION)
CONFIRMED = to_db(cms_pb2.BatchValidationState, cms_pb2.BATCH_VALIDATION_STATE_CONFIRMED)


def upgrade() -> None:
    outbox.create_tables(op, "cms")
    op.execute(
        f"""
        CREATE TABLE classes (
            class_id UUID PRIMARY KEY,
            owner_id TEXT NOT NULL,
            name VARCHAR(100) NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
            course_code VARCHAR(50) NOT NULL
                CONSTRAINT classes_course_code_check
                CHECK ({check_constraint_sql("course_code", common_pb2.CourseCode)}),
            auto_confirm_high_confidence BOOLEAN NOT NULL DEFAULT false,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX classes_owner_idx ON classes (owner_id, created_at, class_id)")
    # A student belongs to the teacher who owns the classes; the e-mail is unique per
    # teacher, which makes it unique within each of that teacher's classes.
    op.execute(
        """
        CREATE TABLE students (
            student_id UUID PRIMARY KEY,
            owner_id TEXT NOT NULL,
            first_name VARCHAR(100) NOT NULL,
            last_name VARCHAR(100) NOT NULL,
            email VARCHAR(254) NOT NULL CHECK (email = lower(email)),
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            CONSTRAINT students_owner_email_key UNIQUE (owner_id, email)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE class_members (
            class_id UUID NOT NULL REFERENCES classes (class_id) ON DELETE CASCADE,
            student_id UUID NOT NULL REFERENCES students (student_id) ON DELETE CASCADE,
            added_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (class_id, student_id)
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE batch_validations (
            batch_id TEXT PRIMARY KEY,
            class_id UUID NOT NULL REFERENCES classes (class_id),
            course_code VARCHAR(50) NOT NULL
                CONSTRAINT batch_validations_course_code_check
                CHECK ({check_constraint_sql("course_code", common_pb2.CourseCode)}),
            deadline TIMESTAMPTZ NOT NULL,
            state VARCHAR(50) NOT NULL DEFAULT '{AWAITING}'
                CONSTRAINT batch_validations_state_check
                CHECK ({check_constraint_sql("state", cms_pb2.BatchValidationState)}),
            confirmed_at TIMESTAMPTZ,
            timeout_triggered BOOLEAN NOT NULL DEFAULT false,
            -- The suggestions event that opened the validation: the confirmation carries
            -- its correlation id, so a deadline-driven confirmation stays in the same trace.
            correlation_id TEXT NOT NULL,
            causation_id TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            CONSTRAINT batch_validations_confirmed_at_check
                CHECK ((state = '{CONFIRMED}') = (confirmed_at IS NOT NULL))
        )
        """
    )
    op.execute(f"CREATE INDEX batch_validations_due_idx ON batch_validations (deadline) WHERE state = '{AWAITING}'")
    op.execute("CREATE INDEX batch_validations_class_idx ON batch_validations (class_id)")
    op.execute(
        f"""
        CREATE TABLE essay_student_associations (
            essay_id TEXT NOT NULL,
            batch_id TEXT NOT NULL REFERENCES batch_validations (batch_id) ON DELETE CASCADE,
            class_id UUID NOT NULL REFERENCES classes (class_id),
            -- The matcher's best suggestion, kept apart from the current/final student.
            suggested_student_id UUID REFERENCES students (student_id),
            student_id UUID REFERENCES students (student_id),
            confidence_score FLOAT NOT NULL DEFAULT 0
                CHECK (confidence_score >= 0 AND confidence_score <= 1),
            match_reasons JSONB NOT NULL DEFAULT '[]'::jsonb,
            validation_status VARCHAR(50) NOT NULL DEFAULT '{PENDING}'
                CONSTRAINT essay_student_associations_validation_status_check
                CHECK ({check_constraint_sql("validation_status", common_pb2.StudentAssociationStatus)}),
            validated_by TEXT,
            validated_at TIMESTAMPTZ,
            validation_method VARCHAR(50)
                CONSTRAINT essay_student_associations_validation_method_check
                CHECK ({check_constraint_sql("validation_method", common_pb2.AssociationValidationMethod)}),
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (batch_id, essay_id),
            -- A pending row has no decision; a final row records who, how and when.
            CONSTRAINT essay_student_associations_decision_check CHECK (
                (validation_status = '{PENDING}')
                = (validation_method IS NULL AND validated_by IS NULL AND validated_at IS NULL)
            )
        )
        """
    )
    op.execute(
        "CREATE INDEX essay_student_associations_class_status_idx "
        "ON essay_student_associations (class_id, validation_status)"
    )
    op.execute(
        "CREATE INDEX essay_student_associations_batch_status_idx "
        "ON essay_student_associations (batch_id, validation_status)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS essay_student_associations")
    op.execute("DROP TABLE IF EXISTS batch_validations")
    op.execute("DROP TABLE IF EXISTS class_members")
    op.execute("DROP TABLE IF EXISTS students")
    op.execute("DROP TABLE IF EXISTS classes")
    outbox.drop_tables(op)
