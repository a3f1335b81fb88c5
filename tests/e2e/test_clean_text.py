"""Clean text at every edge of the running stack: a NUL in any string field of a request is
INVALID_ARGUMENT naming the field, in any field of a consumed event a dead letter with
reason INVALID_CONTENT; file names are display names; no batch is stranded."""

from __future__ import annotations

import uuid

import grpc
import nats
import pytest
from google.protobuf.message import Message

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import envelope_pb2
from essayflow_cli.waits import wait_slots, wait_status
from essayflow_runtime import contracts
from essayflow_runtime.consumer import HEADER_DETAIL, HEADER_REASON
from tests.e2e.conftest import E2EStack
from tests.e2e.descriptors import consumed_events, filled, string_paths, with_text
from tests.e2e.flows import BODY, create_class, register
from tests.e2e.test_boundaries import bad_fields, code_of
from tests.support import eventually

pytestmark = pytest.mark.e2e

ENVELOPE_STRINGS = ("event_id", "correlation_id", "causation_id", "source")


def nul(text: str) -> str:
    return f"{text[:3]}\x00{text[3:]}"


async def test_a_nul_in_any_string_field_of_the_four_write_rpcs_names_that_field(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-nul-fields")
    try:
        class_id, student_ids = await create_class(teacher)
        batch = await register(teacher, 2)
        # ELS has the batch, so an upload that got past the rule would take a slot (seen below).
        await wait_slots(teacher, batch.batch_id)
        cases: list[tuple[object, Message]] = [
            (
                teacher.bos.RegisterBatch,
                bos_pb2.RegisterBatchRequest(
                    expected_essay_count=2,
                    course_code=common_pb2.COURSE_CODE_SV1,
                    class_id=class_id,
                    title="Höst",
                    idempotency_key=str(uuid.uuid4()),
                ),
            ),
            (
                teacher.els.ProvisionEssay,
                els_pb2.ProvisionEssayRequest(
                    batch_id=batch.batch_id, file_name="essay.txt", content=BODY.encode(), file_upload_id="upload-1"
                ),
            ),
            (
                teacher.cms.AddStudents,
                cms_pb2.AddStudentsRequest(
                    class_id=class_id,
                    students=[cms_pb2.NewStudent(first_name="Ada", last_name="Lund", email="ada.lund@skola.example")],
                ),
            ),
            (
                teacher.cms.ValidateAssociations,
                cms_pb2.ValidateAssociationsRequest(
                    batch_id=batch.batch_id,
                    decisions=[
                        cms_pb2.AssociationDecision(
                            essay_id=batch.essay_ids[0], override=cms_pb2.OverrideDecision(student_id=student_ids[0])
                        )
                    ],
                ),
            ),
        ]
        tried = 0
        for call, base in cases:
            paths = list(string_paths(base))
            assert paths, base
            for path in paths:
                code, details = await code_of(call(with_text(base, path, nul), metadata=teacher.metadata))  # type: ignore[operator]
                assert code == grpc.StatusCode.INVALID_ARGUMENT, (type(base).__name__, path)
                assert path in bad_fields(details), (type(base).__name__, path, bad_fields(details))
                tried += 1
        assert tried >= 13
        # None of them got anywhere: no slot taken, no student added.
        slots = await teacher.els.GetBatchSlots(
            els_pb2.GetBatchSlotsRequest(batch_id=batch.batch_id), metadata=teacher.metadata
        )
        assert len(slots.slots) == 2 and slots.pending_count == 0
        assert all(s.status == common_pb2.ESSAY_STATUS_AWAITING_CONTENT for s in slots.slots)
        roster = await teacher.cms.ListClassStudents(
            cms_pb2.ListClassStudentsRequest(class_id=class_id), metadata=teacher.metadata
        )
        assert len(roster.students) == len(student_ids)
    finally:
        await teacher.close()


async def test_a_hostile_upload_strands_no_batch_and_file_names_are_display_names(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-hostile-upload")
    try:
        batch = await register(teacher, 2)
        code, details = await code_of(
            teacher.els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(batch_id=batch.batch_id, file_name="a\x00.txt", content=BODY.encode()),
                metadata=teacher.metadata,
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and bad_fields(details) == {"file_name"}
        # An id of 400 kB would be written into the slot tracker on every later change.
        code, details = await code_of(
            teacher.els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(
                    batch_id=batch.batch_id, file_name="a.txt", content=BODY.encode(), file_upload_id="u" * 400_000
                ),
                metadata=teacher.metadata,
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and bad_fields(details) == {"file_upload_id"}
        # A NUL in the text is a validation failure: it takes its slot, so the batch can complete.
        code, details = await code_of(
            teacher.els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(
                    batch_id=batch.batch_id,
                    file_name="C:\\Users\\ada\\Skrivbord\\tra\u0308d.txt",
                    content=(BODY + "\x00").encode(),
                ),
                metadata=teacher.metadata,
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and bad_fields(details) == {"content"}
        await teacher.els.ProvisionEssay(
            els_pb2.ProvisionEssayRequest(
                batch_id=batch.batch_id, file_name="/home/bo/uppsatser/ho\u0308st.txt", content=BODY.encode()
            ),
            metadata=teacher.metadata,
        )
        ready = await wait_status(teacher, batch.batch_id, common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
        assert [e.file_name for e in ready.essays] == ["h\u00f6st.txt"]
        slots = await teacher.els.GetBatchSlots(
            els_pb2.GetBatchSlotsRequest(batch_id=batch.batch_id), metadata=teacher.metadata
        )
        assert sorted(s.file_name for s in slots.slots) == ["h\u00f6st.txt", "tr\u00e4d.txt"]
    finally:
        await teacher.close()


async def test_a_nul_in_any_string_field_of_a_consumed_event_is_dead_lettered_as_invalid_content(
    stack_ready: E2EStack,
) -> None:
    client = await nats.connect(stack_ready.settings.nats_url)
    js = client.jetstream()
    expected: dict[tuple[str, str], str] = {}  # (service, event_id) -> the path with the NUL
    try:
        for event in consumed_events():
            base = filled(event.message_class.DESCRIPTOR)
            variants = [
                (f"payload.{p}", contracts.wrap(with_text(base, p, nul), source="fuzz", correlation_id="c"))
                for p in string_paths(base)
            ]
            for name in ENVELOPE_STRINGS:
                envelope = contracts.wrap(base, source="fuzz", correlation_id="c")
                variants.append((name, with_text(envelope, name, nul)))
            for path, envelope in variants:
                assert isinstance(envelope, envelope_pb2.EventEnvelope)
                await js.publish(
                    event.subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": str(uuid.uuid4())}
                )
                for service in event.consumers:
                    expected[(service, envelope.event_id)] = path
        assert len(expected) > 60

        async def letters() -> dict[tuple[str, str], tuple[str, str]] | None:
            info = await js.stream_info(stack_ready.settings.dlq_stream_name)
            found = {}
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(stack_ready.settings.dlq_stream_name, seq)
                assert message.subject is not None and message.headers is not None
                envelope = envelope_pb2.EventEnvelope.FromString(message.data or b"")
                key = (message.subject.rsplit(".", 1)[-1], envelope.event_id)
                found[key] = (message.headers[HEADER_REASON], message.headers.get(HEADER_DETAIL, ""))
            return found if set(expected) <= set(found) else None

        found = await eventually(letters, timeout_s=90, message="a dead letter for every event with a NUL")
        for key, path in expected.items():
            reason, detail = found[key]
            assert reason == "INVALID_CONTENT", (key, path, reason, detail)
            assert f"{path}:" in detail, (path, detail)
    finally:
        await client.close()
    await stack_ready.wait_serving()
