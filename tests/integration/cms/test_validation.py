"""Teacher validation over gRPC: partial batches, the publishing decision, and who may decide what."""

from __future__ import annotations

import grpc
import pytest
from nats.js import JetStreamContext

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime.auth import Role
from tests.integration.cms.conftest import (
    Cms,
    confirm,
    error_details,
    new_id,
    outbox_confirmations,
    outbox_drained,
    override,
    reject,
    stream_confirmations,
    suggestions,
)
from tests.support import eventually

S = common_pb2


async def _batch(cms: Cms, teacher: str = "teacher-1") -> tuple[str, str, list[common_pb2.Student], list[str]]:
    """A class of four students and a batch of three essays: two suggestions and one essay with none."""
    class_id = await cms.create_class(teacher)
    students = await cms.add_students(teacher, class_id, 4)
    batch_id, essays = new_id(), [new_id() for _ in range(3)]
    await cms.receive_suggestions(
        suggestions(
            batch_id, class_id, [(essays[0], students[0], 0.95), (essays[1], students[1], 0.5), (essays[2], None, 0)]
        )
    )
    return batch_id, class_id, students, essays


async def test_partial_validation_publishes_nothing_and_the_last_decision_publishes_once(
    cms: Cms, js: JetStreamContext
) -> None:
    batch_id, class_id, students, essays = await _batch(cms)

    partial = await cms.validate("teacher-1", batch_id, [confirm(essays[0]), reject(essays[1])])
    assert not partial.batch_confirmed
    assert partial.pending_count == 1
    assert await outbox_confirmations(cms.pool, [batch_id]) == {}
    listed = await cms.associations("teacher-1", batch_id)
    assert listed.state == cms_pb2.BATCH_VALIDATION_STATE_AWAITING_VALIDATION

    last = await cms.validate("teacher-1", batch_id, [override(essays[2], students[3].student_id)])
    assert last.batch_confirmed
    assert last.pending_count == 0
    assert [a.student.student_id for a in last.associations] == [students[3].student_id]
    assert await outbox_confirmations(cms.pool, [batch_id]) == {batch_id: 1}

    await eventually(lambda: outbox_drained(cms.pool))
    published = await stream_confirmations(js, [batch_id])
    assert len(published[batch_id]) == 1
    event = published[batch_id][0]
    assert event.class_id == class_id
    assert event.course_code == S.COURSE_CODE_ENG6
    assert not event.timeout_triggered
    assert [(c.validation_method, c.count) for c in event.summary] == [(S.ASSOCIATION_VALIDATION_METHOD_HUMAN, 3)]
    final = {a.essay_id: a for a in event.associations}
    assert final[essays[0]].status == S.STUDENT_ASSOCIATION_STATUS_CONFIRMED
    assert final[essays[0]].student_id == students[0].student_id
    assert final[essays[0]].confidence_score == pytest.approx(0.95)
    assert final[essays[1]].status == S.STUDENT_ASSOCIATION_STATUS_REJECTED
    assert final[essays[1]].student_id == ""
    assert final[essays[2]].status == S.STUDENT_ASSOCIATION_STATUS_CONFIRMED
    assert final[essays[2]].student_id == students[3].student_id
    assert {a.validated_by for a in event.associations} == {"teacher-1"}
    assert all(a.validated_at.seconds > 0 for a in event.associations)
    assert all(a.validation_method == S.ASSOCIATION_VALIDATION_METHOD_HUMAN for a in event.associations)


async def test_a_decision_on_a_confirmed_batch_is_failed_precondition(cms: Cms) -> None:
    batch_id, _, students, essays = await _batch(cms)
    await cms.validate("teacher-1", batch_id, [confirm(essays[0]), reject(essays[1]), reject(essays[2])])

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", batch_id, [override(essays[1], students[2].student_id)])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = error_details(caught.value)
    assert info.reason == "BATCH_ALREADY_CONFIRMED"
    assert await outbox_confirmations(cms.pool, [batch_id]) == {batch_id: 1}


async def test_repeating_a_decision_changes_nothing(cms: Cms) -> None:
    batch_id, _, _, essays = await _batch(cms)
    first = await cms.validate("teacher-1", batch_id, [confirm(essays[0])])
    again = await cms.validate("teacher-1", batch_id, [confirm(essays[0])])
    assert again.associations[0].validated_at == first.associations[0].validated_at
    assert again.associations[0].status == S.STUDENT_ASSOCIATION_STATUS_CONFIRMED
    assert again.pending_count == 2


async def test_a_teacher_may_revise_a_decision_while_the_batch_awaits(cms: Cms) -> None:
    batch_id, _, students, essays = await _batch(cms)
    await cms.validate("teacher-1", batch_id, [reject(essays[0])])
    revised = await cms.validate("teacher-1", batch_id, [override(essays[0], students[2].student_id)])
    assert revised.associations[0].status == S.STUDENT_ASSOCIATION_STATUS_CONFIRMED
    assert revised.associations[0].student.student_id == students[2].student_id
    assert revised.associations[0].suggested_student.student_id == students[0].student_id


async def test_override_to_a_student_outside_the_class_is_refused_with_the_reason(cms: Cms) -> None:
    batch_id, _, _, essays = await _batch(cms)
    other_class = await cms.create_class("teacher-1", name="other")
    added = await cms.stub.AddStudents(
        cms_pb2.AddStudentsRequest(
            class_id=other_class,
            students=[cms_pb2.NewStudent(first_name="Olle", last_name="Ek", email="olle@school.se")],
        ),
        metadata=cms.as_("teacher-1"),
    )
    outsider = added.students[0]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", batch_id, [reject(essays[0]), override(essays[1], outsider.student_id)])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, others = error_details(caught.value)
    assert info.reason == "STUDENT_NOT_IN_CLASS"
    assert others[0].violations[0].subject == f"students/{outsider.student_id}"
    # Nothing of the refused request was applied.
    listed = await cms.associations("teacher-1", batch_id)
    assert all(a.status == S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION for a in listed.associations)


async def test_another_teacher_may_neither_read_nor_validate_the_batch(cms: Cms) -> None:
    batch_id, _, _, essays = await _batch(cms)
    for call in (
        cms.validate("teacher-2", batch_id, [confirm(essays[0])]),
        cms.associations("teacher-2", batch_id),
        cms.stub.GetBatchValidation(
            cms_pb2.GetBatchValidationRequest(batch_id=batch_id), metadata=cms.as_("teacher-2")
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert error_details(caught.value)[0].reason == "BATCH_NOT_FOUND"
    # A service token may not validate either (role check in the interceptor).
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("els", batch_id, [confirm(essays[0])], role=Role.SERVICE)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # An admin may.
    done = await cms.validate("admin-1", batch_id, [confirm(essays[0])], role=Role.ADMIN)
    assert done.associations[0].validated_by == "admin-1"


async def test_unknown_essays_and_malformed_decisions_are_invalid_arguments(cms: Cms) -> None:
    batch_id, _, _, essays = await _batch(cms)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", batch_id, [confirm(essays[0]), confirm("not-in-this-batch")])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    _, others = error_details(caught.value)
    assert [v.field for v in others[0].field_violations] == ["decisions[1].essay_id"]

    malformed = [
        cms_pb2.AssociationDecision(essay_id=essays[0]),
        override(essays[1], "not-a-uuid"),
        reject(essays[1]),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", batch_id, malformed)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in error_details(caught.value)[1][0].field_violations}
    # The field rules (cms.proto) answer first; an essay decided twice takes two fields to see.
    assert fields == {"decisions[0].decision", "decisions[1].override.student_id"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", batch_id, [confirm(essays[0]), reject(essays[1]), reject(essays[1])])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in error_details(caught.value)[1][0].field_violations} == {"decisions[2].essay_id"}

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", batch_id, [confirm(f"e{i}") for i in range(501)])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", batch_id, [confirm(essays[2])])
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(caught.value)[0].reason == "NO_SUGGESTION_TO_CONFIRM"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.validate("teacher-1", new_id(), [confirm(essays[0])])
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_list_and_counts_show_suggestions_levels_and_deadline(cms: Cms) -> None:
    batch_id, class_id, students, essays = await _batch(cms)
    listed = await cms.associations("teacher-1", batch_id)
    assert listed.class_id == class_id
    assert listed.validation_deadline.seconds > 0
    by_essay = {a.essay_id: a for a in listed.associations}
    assert by_essay[essays[0]].confidence_level == S.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
    assert by_essay[essays[0]].suggested_student.email == students[0].email
    assert by_essay[essays[0]].match_reasons[0].signal == "header_label"
    assert by_essay[essays[1]].confidence_level == S.ASSOCIATION_CONFIDENCE_LEVEL_LOW
    assert by_essay[essays[2]].confidence_level == S.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH
    assert not by_essay[essays[2]].HasField("suggested_student")

    await cms.validate("teacher-1", batch_id, [reject(essays[1])])
    counts = await cms.stub.GetBatchValidation(
        cms_pb2.GetBatchValidationRequest(batch_id=batch_id), metadata=cms.as_("teacher-1")
    )
    by_status = {c.status: c.count for c in counts.counts}
    assert by_status[S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION] == 2
    assert by_status[S.STUDENT_ASSOCIATION_STATUS_REJECTED] == 1
    assert counts.state == cms_pb2.BATCH_VALIDATION_STATE_AWAITING_VALIDATION
    assert counts.validation_deadline == listed.validation_deadline
    assert not counts.HasField("confirmed_at")
