"""When a reconcile makes ELS re-emit the content completion."""

from __future__ import annotations

import uuid

from essayflow.common.v1 import common_pb2
from services.els import slots
from services.els.reconcile import completion_to_reemit
from services.els.slots import Upload

S = common_pb2.BatchStatus


def tracker(filled: int, of: int) -> slots.Tracker:
    current = slots.new_tracker(
        batch_id=str(uuid.uuid4()),
        essay_ids=[str(uuid.uuid4()) for _ in range(of)],
        class_id="",
        course_code=common_pb2.COURSE_CODE_SV1,
        owner_id="teacher",
        correlation_id="c",
    )
    for i in range(filled):
        current, _ = slots.bind(current, Upload(file_name=f"{i}.txt", text_storage_id=f"{i:064x}"))
    return current


def test_only_a_complete_tracker_of_a_batch_awaiting_content_is_reemitted() -> None:
    waiting = S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
    assert completion_to_reemit(waiting, tracker(2, 2))
    assert not completion_to_reemit(waiting, tracker(1, 2))  # still waiting for an upload
    assert not completion_to_reemit(waiting, None)  # never registered here
    for later in (S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION):
        assert not completion_to_reemit(later, tracker(2, 2))  # BOS has the content already
