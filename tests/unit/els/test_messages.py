"""The events ELS builds from a tracker."""

from __future__ import annotations

import uuid

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2
from essayflow_runtime import contracts
from services.els import messages, slots
from services.els.slots import Tracker, Upload


def filled() -> Tracker:
    state = slots.new_tracker(
        batch_id=str(uuid.uuid4()),
        essay_ids=["e0", "e1", "e2"],
        class_id="class-1",
        course_code=common_pb2.COURSE_CODE_ENG6,
        owner_id="t",
        correlation_id="c",
    )
    state, _ = slots.bind(state, Upload(file_name="a.txt", text_storage_id="a" * 64))
    state, _ = slots.bind(
        state,
        Upload(
            file_name="b.txt",
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING,
            error_message="not utf-8",
        ),
    )
    state, _ = slots.bind(state, Upload(file_name="c.txt", text_storage_id="c" * 64))
    return state


def test_completion_lists_stored_essays_and_failed_uploads() -> None:
    state = filled()
    event = messages.completion(state)
    assert [(e.essay_id, e.file_name, e.text_storage_id) for e in event.stored_essays] == [
        ("e0", "a.txt", "a" * 64),
        ("e2", "c.txt", "c" * 64),
    ]
    assert [(f.essay_id, f.error_code, f.message) for f in event.failed_uploads] == [
        ("e1", common_pb2.ESSAY_VALIDATION_ERROR_CODE_INVALID_ENCODING, "not utf-8")
    ]
    assert (event.expected_essay_count, event.class_id, event.course_code) == (
        3,
        "class-1",
        common_pb2.COURSE_CODE_ENG6,
    )


def test_essays_ready_joins_the_confirmed_students_and_leaves_out_failures() -> None:
    state = filled()
    confirmed = cms_events_pb2.StudentAssociationsConfirmed(
        batch_id=state.batch_id,
        class_id="class-1",
        course_code=common_pb2.COURSE_CODE_ENG6,
        associations=[
            cms_events_pb2.ConfirmedAssociation(
                essay_id="e2",
                student_id="s-2",
                status=common_pb2.STUDENT_ASSOCIATION_STATUS_CONFIRMED,
                validation_method=common_pb2.ASSOCIATION_VALIDATION_METHOD_HUMAN,
            ),
            cms_events_pb2.ConfirmedAssociation(
                essay_id="e0",
                status=common_pb2.STUDENT_ASSOCIATION_STATUS_NO_MATCH,
                validation_method=common_pb2.ASSOCIATION_VALIDATION_METHOD_TIMEOUT,
            ),
        ],
    )
    ready = messages.essays_ready(state, confirmed)
    assert [(r.essay.essay_id, r.student_id, r.association_status, r.validation_method) for r in ready.essays] == [
        ("e0", "", common_pb2.STUDENT_ASSOCIATION_STATUS_NO_MATCH, common_pb2.ASSOCIATION_VALIDATION_METHOD_TIMEOUT),
        ("e2", "s-2", common_pb2.STUDENT_ASSOCIATION_STATUS_CONFIRMED, common_pb2.ASSOCIATION_VALIDATION_METHOD_HUMAN),
    ]
    assert ready.essays[1].essay.text_storage_id == "c" * 64


def test_matching_request_uses_the_commands_essays_or_else_the_trackers() -> None:
    state = filled()
    named = bos_events_pb2.StudentMatchingInitiate(
        batch_id=state.batch_id,
        class_id="class-1",
        course_code=common_pb2.COURSE_CODE_ENG6,
        essays=[common_pb2.EssayRef(essay_id="e0", text_storage_id="a" * 64, file_name="a.txt")],
    )
    assert [e.essay_id for e in messages.matching_requested(named, None).essays] == ["e0"]
    bare = bos_events_pb2.StudentMatchingInitiate(batch_id=state.batch_id)
    request = messages.matching_requested(bare, state)
    assert [e.essay_id for e in request.essays] == ["e0", "e2"]
    assert (request.class_id, request.course_code) == ("class-1", common_pb2.COURSE_CODE_ENG6)


def test_event_ids_depend_on_the_batch_and_the_upload_only() -> None:
    upload = Upload(file_name="a.txt", text_storage_id="a" * 64)
    renamed = Upload(file_name="other.txt", text_storage_id="a" * 64)
    assert messages.slot_assigned_id("b1", upload) == messages.slot_assigned_id("b1", renamed)
    assert messages.slot_assigned_id("b1", upload) != messages.slot_assigned_id("b2", upload)
    assert messages.slot_assigned_id("b1", upload) == contracts.derived_event_id(
        "b1", els_events_pb2.EssaySlotAssigned, "a" * 64
    )
    assert messages.excess_id("b1", upload) != messages.slot_assigned_id("b1", upload)
