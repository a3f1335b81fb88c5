"""Both Phase 1 flows end to end through the public RPCs of the real processes."""

from __future__ import annotations

import pytest

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2 as c
from essayflow_cli.waits import wait_associations, wait_status
from tests.e2e.conftest import E2EStack
from tests.e2e.flows import (
    ROSTER,
    create_class,
    essay_text,
    register,
    transitions,
    upload,
)

pytestmark = pytest.mark.e2e

GUEST_PATH = [
    (c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION),
    (c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION, c.BATCH_STATUS_PROCESSING_PIPELINES),
]
REGULAR_PATH = [
    (c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION),
    (c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, c.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED),
    (c.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION),
    (c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION, c.BATCH_STATUS_PROCESSING_PIPELINES),
]


async def test_guest_batch_reaches_ready_and_then_processing(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-guest")
    try:
        batch = await register(teacher, 3)
        await upload(teacher, batch.batch_id, [essay_text("Anon", "Writer", i) for i in range(3)])
        ready = await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
        assert len(ready.essays) == 3 and all(e.text_storage_id for e in ready.essays)
        await teacher.bos.RequestPipeline(
            bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, idempotency_key="p1"), metadata=teacher.metadata
        )
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_PROCESSING_PIPELINES)
        assert await transitions(teacher, batch.batch_id) == GUEST_PATH
    finally:
        await teacher.close()


async def test_regular_batch_is_matched_validated_by_the_teacher_and_ready(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-regular")
    try:
        class_id, student_ids = await create_class(teacher)
        batch = await register(teacher, len(ROSTER), class_id)
        await upload(teacher, batch.batch_id, [essay_text(first, last, i) for i, (first, last) in enumerate(ROSTER)])
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
        associations = await wait_associations(teacher, batch.batch_id, len(ROSTER))
        suggested = {a.suggested_student.student_id for a in associations}
        assert suggested == set(student_ids), "the matcher found every author"
        assert all(a.status == c.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION for a in associations)

        # The teacher overrides one suggestion (swapping in another student) and confirms the rest.
        first, *rest = associations
        other = next(s for s in student_ids if s != first.suggested_student.student_id)
        decisions = [
            cms_pb2.AssociationDecision(essay_id=first.essay_id, override=cms_pb2.OverrideDecision(student_id=other))
        ]
        partial = await teacher.cms.ValidateAssociations(
            cms_pb2.ValidateAssociationsRequest(batch_id=batch.batch_id, decisions=decisions), metadata=teacher.metadata
        )
        assert not partial.batch_confirmed
        decisions = [cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision()) for a in rest]
        final = await teacher.cms.ValidateAssociations(
            cms_pb2.ValidateAssociationsRequest(batch_id=batch.batch_id, decisions=decisions), metadata=teacher.metadata
        )
        assert final.batch_confirmed

        ready = await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
        by_essay = {e.essay_id: e.student_id for e in ready.essays}
        assert by_essay[first.essay_id] == other
        assert all(by_essay[a.essay_id] == a.suggested_student.student_id for a in rest)
        await teacher.bos.RequestPipeline(
            bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, idempotency_key="p1"), metadata=teacher.metadata
        )
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_PROCESSING_PIPELINES)
        assert await transitions(teacher, batch.batch_id) == REGULAR_PATH
    finally:
        await teacher.close()
