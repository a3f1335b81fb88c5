"""The running stack under the faults production brings: events out of order and
twice, services killed with -9 mid-flow, nats-server restarted mid-flow."""

from __future__ import annotations

import uuid

import nats
import pytest

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.common.v1 import common_pb2 as c
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2
from essayflow_cli.client import Clients
from essayflow_cli.waits import wait_associations, wait_slots, wait_status
from essayflow_runtime import contracts
from essayflow_runtime.consumer import publish
from tests.e2e.conftest import E2EStack
from tests.e2e.flows import (
    ROSTER,
    create_class,
    essay_text,
    register,
    retry_unavailable,
    transitions,
    upload,
)
from tests.e2e.test_phase1_flows import REGULAR_PATH
from tests.support import eventually

pytestmark = pytest.mark.e2e


def confirm_all(batch_id: str, associations: list[cms_pb2.Association]) -> cms_pb2.ValidateAssociationsRequest:
    return cms_pb2.ValidateAssociationsRequest(
        batch_id=batch_id,
        decisions=[
            cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision()) for a in associations
        ],
    )


async def find_event(stack: E2EStack, cls: type, batch_id: str) -> bytes:
    """The raw envelope of the first event of type ``cls`` about ``batch_id`` on the stream."""
    client = await nats.connect(stack.settings.nats_url)
    try:
        js = client.jetstream()
        subject = contracts.subject_of(cls)

        async def scan() -> bytes | None:
            info = await js.stream_info(stack.settings.stream_name)
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    message = await js.get_msg(stack.settings.stream_name, seq)
                except Exception:  # a deleted sequence
                    continue
                if message.subject != subject:
                    continue
                _, payload = contracts.unwrap(message.data or b"")
                if getattr(payload, "batch_id", None) == batch_id:
                    return message.data
            return None

        return await eventually(scan, timeout_s=60, message=f"{cls.__name__} for {batch_id}")
    finally:
        await client.close()


async def test_essays_ready_before_the_confirmation_and_every_event_twice(stack_ready: E2EStack) -> None:
    """BOS is held back; BatchEssaysReady reaches it before StudentAssociationsConfirmed;
    then both events arrive again. The batch is READY once, every transition once."""
    teacher = stack_ready.clients("teacher-order")
    try:
        class_id, _ = await create_class(teacher)
        batch = await register(teacher, len(ROSTER), class_id)
        await upload(teacher, batch.batch_id, [essay_text(f, s, i) for i, (f, s) in enumerate(ROSTER)])
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
        associations = await wait_associations(teacher, batch.batch_id, len(ROSTER))

        stack_ready.kill("bos")  # hold the BOS consumer back
        slots = await teacher.els.GetBatchSlots(
            els_pb2.GetBatchSlotsRequest(batch_id=batch.batch_id), metadata=teacher.metadata
        )
        by_essay = {a.essay_id: a.suggested_student.student_id for a in associations}
        # What ELS will say once the teacher has confirmed, delivered first.
        early = els_events_pb2.BatchEssaysReady(
            batch_id=batch.batch_id,
            class_id=class_id,
            course_code=c.COURSE_CODE_SV1,
            essays=[
                bos_events_pb2.ReadyEssay(
                    essay=c_ref(slot),
                    student_id=by_essay[slot.essay_id],
                    association_status=c.STUDENT_ASSOCIATION_STATUS_CONFIRMED,
                    validation_method=c.ASSOCIATION_VALIDATION_METHOD_HUMAN,
                )
                for slot in slots.slots
            ],
        )
        client = await nats.connect(stack_ready.settings.nats_url)
        try:
            await publish(client.jetstream(), early, source="els", correlation_id=batch.batch_id)
        finally:
            await client.close()
        stack_ready.start("bos")
        await stack_ready.wait_serving(("bos",))
        await eventually(lambda: _essays_have_students(teacher, batch.batch_id), message="BOS kept the early essays")
        assert (await _batch(teacher, batch.batch_id)).status == c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION

        confirmed = await teacher.cms.ValidateAssociations(
            confirm_all(batch.batch_id, associations), metadata=teacher.metadata
        )
        assert confirmed.batch_confirmed
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)

        # Every event of the flow once more, as a redelivery past the duplicate window would.
        client = await nats.connect(stack_ready.settings.nats_url)
        try:
            js = client.jetstream()
            for cls in (cms_events_pb2.StudentAssociationsConfirmed, els_events_pb2.BatchEssaysReady):
                data = await find_event(stack_ready, cls, batch.batch_id)
                await js.publish(contracts.subject_of(cls), data, headers={"Nats-Msg-Id": str(uuid.uuid4())})
        finally:
            await client.close()
        await teacher.bos.RequestPipeline(
            bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, idempotency_key="p"), metadata=teacher.metadata
        )
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_PROCESSING_PIPELINES)
        assert await transitions(teacher, batch.batch_id) == REGULAR_PATH
    finally:
        await teacher.close()


def c_ref(slot: els_pb2.Slot) -> common_pb2.EssayRef:
    return common_pb2.EssayRef(essay_id=slot.essay_id, text_storage_id=slot.text_storage_id, file_name=slot.file_name)


async def _batch(teacher: Clients, batch_id: str) -> bos_pb2.Batch:
    response = await teacher.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch_id), metadata=teacher.metadata)
    batch: bos_pb2.Batch = response.batch
    return batch


async def _essays_have_students(teacher: Clients, batch_id: str) -> bool:
    try:
        batch = await _batch(teacher, batch_id)
    except Exception:  # BOS still starting
        return False
    return bool(batch.essays) and all(e.student_id for e in batch.essays)


async def test_every_service_killed_in_turn_mid_flow_and_nats_restarted(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-chaos")
    try:
        class_id, _ = await create_class(teacher)
        batch = await retry_unavailable(lambda: register(teacher, len(ROSTER), class_id))
        texts = [essay_text(f, s, i) for i, (f, s) in enumerate(ROSTER)]

        stack_ready.kill("bos")  # right after registering: the outbox holds BatchEssaysRegistered
        stack_ready.start("bos")
        # The registration reaches ELS once BOS is back; an upload waits for it only briefly,
        # and a restart under load may take longer.
        await wait_slots(teacher, batch.batch_id, timeout_s=90)
        await upload(teacher, batch.batch_id, texts[:2])

        stack_ready.kill("els")  # between uploads
        stack_ready.start("els")
        await stack_ready.wait_serving(("els",))
        stack_ready.nats.stop()  # and the bus itself, mid-flow
        stack_ready.nats.start()
        await upload(teacher, batch.batch_id, texts[2:])

        stack_ready.kill("nlp")  # while matching is requested
        stack_ready.start("nlp")
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, timeout_s=90)
        associations = await wait_associations(teacher, batch.batch_id, len(ROSTER), timeout_s=90)

        stack_ready.kill("cms")  # before the teacher decides
        stack_ready.start("cms")
        await stack_ready.wait_serving(("cms",))
        confirmed = await retry_unavailable(
            lambda: teacher.cms.ValidateAssociations(
                confirm_all(batch.batch_id, associations), metadata=teacher.metadata
            )
        )
        assert confirmed.batch_confirmed
        stack_ready.kill("bos")  # while the confirmation travels
        stack_ready.start("bos")
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION, timeout_s=90)
        history = await transitions(teacher, batch.batch_id)
        assert history == REGULAR_PATH[:3], "every transition exactly once"
        ready = await _batch(teacher, batch.batch_id)
        assert len(ready.essays) == len(ROSTER) and all(e.student_id for e in ready.essays)
    finally:
        await teacher.close()
