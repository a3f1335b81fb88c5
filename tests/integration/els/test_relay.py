"""Phase 1 relay: BOS's command to the matcher, CMS's confirmation to BatchEssaysReady."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from tests.integration.els.helpers import Caller, essay_text, events_on_stream, new_ids, register_batch
from tests.support import eventually


async def publish_twice(js: JetStreamContext, payload: Message, correlation_id: str) -> str:
    """The same event delivered twice (as after a crash before its ack): two stream
    messages carrying one envelope event id."""
    envelope = contracts.wrap(payload, source="test", correlation_id=correlation_id)
    subject = contracts.subject_of(type(payload))
    for copy in ("first", "second"):
        await js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": f"{envelope.event_id}:{copy}"})
    return str(envelope.event_id)


async def test_matching_initiate_becomes_one_matching_request_even_when_delivered_twice(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    essays = [common_pb2.EssayRef(essay_id=str(uuid.uuid4()), text_storage_id="a" * 64, file_name="a.txt")]
    command = bos_events_pb2.StudentMatchingInitiate(
        batch_id=batch_id, class_id="class-9", course_code=common_pb2.COURSE_CODE_SV1, essays=essays
    )
    cause = await publish_twice(js, command, correlation)

    found = await eventually(
        lambda: events_on_stream(js, els_settings, els_events_pb2.BatchStudentMatchingRequested, batch_id)
    )
    assert len(found) == 1
    envelope, request = found[0]
    assert (request.class_id, request.course_code, list(request.essays)) == (
        "class-9",
        common_pb2.COURSE_CODE_SV1,
        essays,
    )
    assert (envelope.causation_id, envelope.correlation_id) == (cause, correlation)
    assert envelope.event_id == contracts.derived_event_id(cause, els_events_pb2.BatchStudentMatchingRequested)


async def test_confirmed_associations_become_essays_ready_with_each_confirmed_student(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(3)
    await register_batch(js, batch_id, essay_ids, class_id="class-1")
    await eventually(lambda: service_caller.slots_or_none(batch_id))
    await service_caller.provision(batch_id, "a.txt", essay_text(1, batch_id).encode())
    await service_caller.provision(batch_id, "b.txt", essay_text(2, batch_id).encode())
    with pytest.raises(grpc.aio.AioRpcError):
        await service_caller.provision(batch_id, "c.txt", b"short")  # refused; consumes essay_ids[2]
    confirmed = cms_events_pb2.StudentAssociationsConfirmed(
        batch_id=batch_id,
        class_id="class-1",
        course_code=common_pb2.COURSE_CODE_ENG5,
        associations=[
            cms_events_pb2.ConfirmedAssociation(
                essay_id=essay_ids[0],
                student_id="student-a",
                status=common_pb2.STUDENT_ASSOCIATION_STATUS_CONFIRMED,
                validation_method=common_pb2.ASSOCIATION_VALIDATION_METHOD_HUMAN,
            ),
            cms_events_pb2.ConfirmedAssociation(
                essay_id=essay_ids[1],
                student_id="student-b",
                status=common_pb2.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED,
                validation_method=common_pb2.ASSOCIATION_VALIDATION_METHOD_TIMEOUT,
            ),
        ],
    )
    cause = await publish_twice(js, confirmed, str(uuid.uuid4()))

    found = await eventually(lambda: events_on_stream(js, els_settings, els_events_pb2.BatchEssaysReady, batch_id))
    assert len(found) == 1
    envelope, ready = found[0]
    assert envelope.event_id == contracts.derived_event_id(cause, els_events_pb2.BatchEssaysReady)
    assert [(r.essay.essay_id, r.essay.file_name, r.student_id, r.association_status) for r in ready.essays] == [
        (essay_ids[0], "a.txt", "student-a", common_pb2.STUDENT_ASSOCIATION_STATUS_CONFIRMED),
        (essay_ids[1], "b.txt", "student-b", common_pb2.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED),
    ]
