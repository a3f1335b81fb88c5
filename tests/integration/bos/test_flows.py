"""GUEST and REGULAR batches driven to READY by events published to the real nats-server
and handled by the real BOS consumer."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2
from essayflow_runtime import consumer, contracts
from essayflow_runtime.auth import Role
from essayflow_runtime.consumer import publish
from tests.integration.bos.helpers import (
    Client,
    FakeDirectory,
    batch_row_locked,
    essay_refs,
    ready_essays,
    register_request,
    until_queued_on_lock,
)
from tests.support import eventually

S = common_pb2.BatchStatus
TEACHER = "teacher-flow"


async def register(client: Client, class_id: str = "") -> bos_pb2.Batch:
    batch: bos_pb2.Batch = (await client.call("RegisterBatch", register_request(3, class_id=class_id), TEACHER)).batch
    return batch


async def send(js: JetStreamContext, payload: Message, batch: bos_pb2.Batch) -> str:
    return await publish(js, payload, source="test", correlation_id=batch.batch_id)


async def reaches(client: Client, batch_id: str, status: int) -> bos_pb2.Batch:
    async def check() -> bos_pb2.Batch | None:
        batch = (await client.call("GetBatch", bos_pb2.GetBatchRequest(batch_id=batch_id), TEACHER)).batch
        return batch if batch.status == status else None

    return await eventually(check)


async def history(client: Client, batch_id: str) -> list[bos_pb2.BatchTransition]:
    response = await client.call(
        "ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch_id), TEACHER
    )
    return list(response.transitions)


async def next_for(sub: Subscription, batch_id: str) -> tuple[contracts.EventEnvelope, Message]:
    while True:
        msg = await sub.next_msg(timeout=15)
        envelope, payload = contracts.unwrap(msg.data)
        if getattr(payload, "batch_id", "") == batch_id:
            return envelope, payload


def content_completed(batch: bos_pb2.Batch, failed: int = 0) -> els_events_pb2.BatchContentProvisioningCompleted:
    ids = list(batch.essay_ids)
    return els_events_pb2.BatchContentProvisioningCompleted(
        batch_id=batch.batch_id,
        stored_essays=essay_refs(ids[failed:]),
        failed_uploads=[els_events_pb2.FailedUpload(essay_id=e, file_name="bad.docx") for e in ids[:failed]],
        expected_essay_count=len(ids),
        class_id=batch.class_id,
        course_code=batch.course_code,
    )


def confirmed(batch: bos_pb2.Batch) -> cms_events_pb2.StudentAssociationsConfirmed:
    return cms_events_pb2.StudentAssociationsConfirmed(
        batch_id=batch.batch_id, class_id=batch.class_id, course_code=batch.course_code
    )


def essays_ready(batch: bos_pb2.Batch) -> els_events_pb2.BatchEssaysReady:
    return els_events_pb2.BatchEssaysReady(
        batch_id=batch.batch_id,
        class_id=batch.class_id,
        course_code=batch.course_code,
        essays=ready_essays(list(batch.essay_ids)),
    )


async def test_guest_flow_ends_ready_and_starts_a_pipeline(client: Client, js: JetStreamContext, nc: NATS) -> None:
    batch = await register(client)
    event_id = await send(js, content_completed(batch), batch)
    ready = await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
    assert {e.essay_id for e in ready.essays} == set(batch.essay_ids)
    rows = await history(client, batch.batch_id)
    assert [(r.version, r.from_status, r.to_status, r.cause, r.actor) for r in rows] == [
        (
            1,
            S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION,
            S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION,
            f"event:{event_id}",
            "service:bos",
        ),
    ]

    requested = await nc.subscribe(contracts.subject_of(bos_events_pb2.BatchPipelineRequested))
    response = await client.call("RequestPipeline", bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id), TEACHER)
    assert response.batch.status == S.BATCH_STATUS_PROCESSING_PIPELINES
    _, event = await next_for(requested, batch.batch_id)
    assert list(event.pipelines) == ["spellcheck"] and event.requested_by == TEACHER
    assert {e.essay.essay_id for e in event.essays} == set(batch.essay_ids)
    # Nothing is started twice.
    again = client.call("RequestPipeline", bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id), TEACHER)
    with pytest.raises(Exception, match="PROCESSING_PIPELINES"):
        await again


async def test_regular_flow_ends_ready(
    client: Client, js: JetStreamContext, nc: NATS, directory: FakeDirectory
) -> None:
    batch = await register(client, class_id=directory.add(TEACHER))
    initiate = await nc.subscribe(contracts.subject_of(bos_events_pb2.StudentMatchingInitiate))
    completed_id = await send(js, content_completed(batch), batch)
    await reaches(client, batch.batch_id, S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
    envelope, command = await next_for(initiate, batch.batch_id)
    assert command.class_id == batch.class_id and command.course_code == batch.course_code
    assert [e.essay_id for e in command.essays] == list(batch.essay_ids)
    assert envelope.causation_id == completed_id

    confirmed_id = await send(js, confirmed(batch), batch)
    await reaches(client, batch.batch_id, S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED)
    ready_id = await send(js, essays_ready(batch), batch)
    ready = await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)

    students = {e.essay_id: (e.student_id, e.association_status) for e in ready.essays}
    first, second = batch.essay_ids[0], batch.essay_ids[1]
    assert students[first] == ("student-0", common_pb2.STUDENT_ASSOCIATION_STATUS_CONFIRMED)
    assert students[second] == ("", common_pb2.STUDENT_ASSOCIATION_STATUS_NO_MATCH)
    rows = await history(client, batch.batch_id)
    assert [(r.version, r.from_status, r.to_status, r.cause) for r in rows] == [
        (
            1,
            S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION,
            S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION,
            f"event:{completed_id}",
        ),
        (
            2,
            S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION,
            S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED,
            f"event:{confirmed_id}",
        ),
        (
            3,
            S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED,
            S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION,
            f"event:{ready_id}",
        ),
    ]


async def test_essays_before_the_confirmation_still_end_ready(
    client: Client, js: JetStreamContext, directory: FakeDirectory
) -> None:
    batch = await register(client, class_id=directory.add(TEACHER))
    await send(js, content_completed(batch), batch)
    await reaches(client, batch.batch_id, S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
    ready_id = await send(js, essays_ready(batch), batch)

    async def essays_kept() -> bool:
        current = (await client.call("GetBatch", bos_pb2.GetBatchRequest(batch_id=batch.batch_id), TEACHER)).batch
        return current.status == S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION and any(
            e.student_id for e in current.essays
        )

    await eventually(essays_kept)
    confirmed_id = await send(js, confirmed(batch), batch)
    await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
    rows = await history(client, batch.batch_id)
    # Both steps were taken by the confirmation, in one transaction; the essays-ready event moved nothing.
    assert [(r.to_status, r.cause) for r in rows[1:]] == [
        (S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED, f"event:{confirmed_id}"),
        (S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION, f"event:{confirmed_id}"),
    ]
    assert all(r.cause != f"event:{ready_id}" for r in rows)


async def test_every_upload_failed_ends_content_ingestion_failed(client: Client, js: JetStreamContext) -> None:
    batch = await register(client)
    await send(js, content_completed(batch, failed=3), batch)
    failed = await reaches(client, batch.batch_id, S.BATCH_STATUS_CONTENT_INGESTION_FAILED)
    assert not failed.essays


async def test_a_redelivered_event_acts_once(client: Client, js: JetStreamContext) -> None:
    batch = await register(client)
    envelope = contracts.wrap(content_completed(batch), source="test", correlation_id=batch.batch_id)
    subject = contracts.subject_of(els_events_pb2.BatchContentProvisioningCompleted)
    # Two publishes JetStream cannot recognise as one: only the consumer's record can.
    for attempt in range(2):
        await js.publish(
            subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": f"{envelope.event_id}-{attempt}"}
        )
    await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
    marker = await register(client)  # events are handled in order per batch only; wait for a later one
    await send(js, content_completed(marker), marker)
    await reaches(client, marker.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
    assert len(await history(client, batch.batch_id)) == 1


async def test_an_event_for_an_unknown_batch_is_dead_lettered_and_bos_keeps_going(
    client: Client, js: JetStreamContext, nc: NATS
) -> None:
    dead = await nc.subscribe(contracts.dlq_subject("bos"))
    stranger = str(uuid.uuid4())
    await publish(
        js,
        els_events_pb2.BatchEssaysReady(batch_id=stranger, essays=ready_essays([str(uuid.uuid4())])),
        source="test",
        correlation_id=stranger,
    )
    while True:
        msg = await dead.next_msg(timeout=15)
        _, payload = contracts.unwrap(msg.data)
        if payload.batch_id == stranger:
            break
    assert msg.headers is not None and msg.headers[consumer.HEADER_REASON] == "BATCH_NOT_FOUND"
    batch = await register(client)
    await send(js, content_completed(batch), batch)
    await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)


async def test_service_role_sees_the_flow_too(client: Client, js: JetStreamContext) -> None:
    batch = await register(client)
    await send(js, content_completed(batch), batch)
    await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
    seen = await client.call("GetBatch", bos_pb2.GetBatchRequest(batch_id=batch.batch_id), "els", Role.SERVICE)
    assert len(seen.batch.essays) == 3


async def test_keyed_pipeline_requests_queued_behind_their_original_all_get_its_answer(
    client: Client, js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    # The copies have all read the batch (no answer yet) and queue on the row lock with
    # their writes: the first is the original, every other must read again and replay it.
    batch = await register(client)
    await send(js, content_completed(batch), batch)
    await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
    request = bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, idempotency_key="start-once")
    copies = 6
    async with batch_row_locked(pool, batch.batch_id):
        calls = [asyncio.ensure_future(client.call("RequestPipeline", request, TEACHER)) for _ in range(copies)]
        await until_queued_on_lock(pool, copies, "UPDATE batches")
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r for r in results if not isinstance(r, bos_pb2.RequestPipelineResponse)] == []
    assert all(r == results[0] for r in results)
    rows = await history(client, batch.batch_id)
    assert [r.to_status for r in rows].count(S.BATCH_STATUS_PROCESSING_PIPELINES) == 1
