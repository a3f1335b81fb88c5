"""Planning a status change: the pure half of the one door (no database)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from essayflow.common.v1 import common_pb2
from essayflow_runtime.errors import Aborted, FailedPrecondition
from services.bos.state_machine import GUEST
from services.bos.store import BatchRecord
from services.bos.transitions import Change, plan

S = common_pb2.BatchStatus
ACV = S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def batch(status: int = ACV, version: int = 3) -> BatchRecord:
    return BatchRecord(
        batch_id=str(uuid.uuid4()),
        owner_id="teacher-a",
        class_id="",
        batch_type=GUEST,
        course_code=common_pb2.COURSE_CODE_ENG5,
        title="",
        expected_essay_count=2,
        essay_ids=[str(uuid.uuid4()), str(uuid.uuid4())],
        status=status,  # type: ignore[arg-type]
        version=version,
        correlation_id="c-1",
        content_completed_at=None,
        every_upload_failed=False,
        essays_stored_at=None,
        associations_confirmed_at=None,
        stored_essay_count=0,
        created_at=NOW,
        updated_at=NOW,
    )


def cancel(key: str = "k-1") -> Change:
    return Change(
        to_status=S.BATCH_STATUS_CANCELLED,
        cause="rpc:TransitionBatch",
        actor="service:els",
        correlation_id="c-1",
        causation_id="req-1",
        idempotency_key=key,
    )


def test_a_planned_step_is_the_next_version_at_the_target_status() -> None:
    locked = batch()
    step = plan(locked, cancel(), expected_status=ACV, expected_version=3, now=NOW)
    assert (step.batch.status, step.batch.version, step.batch.updated_at) == (S.BATCH_STATUS_CANCELLED, 4, NOW)
    t = step.transition
    assert (t.version, t.from_status, t.to_status, t.occurred_at) == (4, ACV, S.BATCH_STATUS_CANCELLED, NOW)
    assert (t.idempotency_key, step.causation_id, locked.status) == ("k-1", "req-1", ACV)  # locked is untouched


def test_a_stale_expectation_is_aborted_with_where_the_batch_is() -> None:
    with pytest.raises(Aborted) as stale:
        plan(batch(version=5), cancel(), expected_status=ACV, expected_version=4)
    assert stale.value.metadata == {"current_status": S.Name(ACV), "current_version": "5"}


def test_a_move_the_table_does_not_have_is_a_failed_precondition() -> None:
    to_ready = dataclasses.replace(cancel(), to_status=S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
    with pytest.raises(FailedPrecondition) as refused:
        plan(batch(), to_ready)
    assert refused.value.metadata["target_status"] == S.Name(S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
