"""Store records → wire messages (the only place that builds a Batch or BatchTransition)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.contracts import timestamp
from services.bos.store import BatchRecord, EssayRecord, TransitionRecord
from services.bos.waiting import waiting_for


def essay_ref(essay: EssayRecord) -> common_pb2.EssayRef:
    return common_pb2.EssayRef(
        essay_id=essay.essay_id, text_storage_id=essay.text_storage_id, file_name=essay.file_name
    )


def stored_essay(essay: EssayRecord) -> bos_pb2.StoredEssay:
    return bos_pb2.StoredEssay(
        essay_id=essay.essay_id,
        text_storage_id=essay.text_storage_id,
        file_name=essay.file_name,
        student_id=essay.student_id,
        association_status=essay.association_status,
        validation_method=essay.validation_method,
    )


def ready_essay(essay: EssayRecord) -> bos_events_pb2.ReadyEssay:
    return bos_events_pb2.ReadyEssay(
        essay=essay_ref(essay),
        student_id=essay.student_id,
        association_status=essay.association_status,
        validation_method=essay.validation_method,
    )


def waiting(record: BatchRecord) -> bos_pb2.WaitingFor | None:
    wait = waiting_for(record.status, record.facts())
    if wait is None:
        return None
    return bos_pb2.WaitingFor(code=wait.code, description=wait.description, expected_from=wait.expected_from)


def waited(record: BatchRecord, now: datetime | None = None) -> duration_pb2.Duration:
    """How long the batch has been in its status, by BOS's clock (never negative)."""
    elapsed = (now or datetime.now(UTC)) - record.status_since
    span = duration_pb2.Duration()
    span.FromTimedelta(max(elapsed, timedelta(0)))
    return span


def batch(record: BatchRecord, essays: Sequence[EssayRecord] = ()) -> bos_pb2.Batch:
    return bos_pb2.Batch(
        batch_id=record.batch_id,
        owner_id=record.owner_id,
        class_id=record.class_id,
        batch_type=record.batch_type,
        course_code=record.course_code,
        expected_essay_count=record.expected_essay_count,
        essay_ids=record.essay_ids,
        status=record.status,
        version=record.version,
        created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
        essays=[stored_essay(e) for e in essays],
        title=record.title,
        status_since=timestamp(record.status_since),
        waiting_for=waiting(record),
        waited=waited(record),
    )


def registered(record: BatchRecord) -> bos_events_pb2.BatchEssaysRegistered:
    return bos_events_pb2.BatchEssaysRegistered(
        batch_id=record.batch_id,
        essay_ids=record.essay_ids,
        expected_essay_count=record.expected_essay_count,
        course_code=record.course_code,
        class_id=record.class_id,
        batch_type=record.batch_type,
        owner_id=record.owner_id,
    )


def matching_initiate(record: BatchRecord, essays: Sequence[EssayRecord]) -> bos_events_pb2.StudentMatchingInitiate:
    return bos_events_pb2.StudentMatchingInitiate(
        batch_id=record.batch_id,
        class_id=record.class_id,
        course_code=record.course_code,
        essays=[essay_ref(e) for e in essays],
    )


def transition(record: TransitionRecord) -> bos_pb2.BatchTransition:
    return bos_pb2.BatchTransition(
        batch_id=record.batch_id,
        version=record.version,
        from_status=record.from_status,
        to_status=record.to_status,
        cause=record.cause,
        actor=record.actor,
        idempotency_key=record.idempotency_key,
        correlation_id=record.correlation_id,
        reason=record.reason,
        occurred_at=timestamp(record.occurred_at),
    )


def status_changed(record: TransitionRecord, owner_id: str) -> bos_events_pb2.BatchStatusChanged:
    return bos_events_pb2.BatchStatusChanged(
        batch_id=record.batch_id,
        from_status=record.from_status,
        to_status=record.to_status,
        version=record.version,
        actor=record.actor,
        cause=record.cause,
        reason=record.reason,
        changed_at=timestamp(record.occurred_at),
        owner_id=owner_id,
    )
