"""An ELS process dying after it published but before it acknowledged the cause:
after redelivery to a fresh process, nothing is lost and nothing is on the stream twice."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import grpc
import pytest
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2, file_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.embedded import EmbeddedNats
from services.els import messages
from services.els.content_store import ContentStore
from services.els.faults import EXIT_BEFORE_ACK_VARIABLE, EXIT_CODE
from services.els.slots import Upload
from tests.integration.els.helpers import (
    caller,
    essay_text,
    events_on_stream,
    new_ids,
    register_batch,
)
from tests.integration.els.processes import ElsProcess, start_els
from tests.support import eventually

FAST_REDELIVERY = {"ESSAYFLOW_ACK_WAIT_S": "1", "ESSAYFLOW_REDELIVERY_BACKOFF_S": "0.1"}


@pytest.fixture
def own_settings(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(settings, nats_url=private_nats.url, database_url="")


async def publish_content(js: JetStreamContext, batch_id: str, file_name: str, text_storage_id: str) -> int:
    """EssayContentProvisioned as the file service sends it; returns its stream sequence."""
    payload = file_events_pb2.EssayContentProvisioned(
        batch_id=batch_id, file_name=file_name, text_storage_id=text_storage_id, file_upload_id=file_name
    )
    envelope = contracts.wrap(payload, source="file", correlation_id=batch_id)
    ack = await js.publish(
        contracts.subject_of(type(payload)), envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id}
    )
    return int(ack.seq)


async def last_sequence(js: JetStreamContext, settings: Settings) -> int:
    return int((await js.stream_info(settings.stream_name)).state.last_seq)


async def acknowledged_up_to(js: JetStreamContext, settings: Settings, sequence: int) -> None:
    async def acked() -> bool:
        info = await js.consumer_info(settings.stream_name, "els-events")
        return bool(info.ack_floor and info.ack_floor.stream_seq >= sequence)

    await eventually(acked, timeout_s=30, message=f"els acknowledged stream sequence {sequence}")


async def test_a_crash_after_binding_an_upload_event_republishes_the_same_ids(
    own_settings: Settings, private_js: JetStreamContext, tmp_path: Path
) -> None:
    doomed = start_els(
        own_settings.nats_url,
        tmp_path,
        "doomed",
        {EXIT_BEFORE_ACK_VARIABLE: "EssayContentProvisioned", **FAST_REDELIVERY},
    )
    successor: ElsProcess | None = None
    try:
        await doomed.wait_serving()
        batch_id, essay_ids = str(uuid.uuid4()), new_ids(1)
        async with grpc.aio.insecure_channel(doomed.address) as channel:
            reader = caller(channel, own_settings, "ops", Role.ADMIN)
            await register_batch(private_js, batch_id, essay_ids)
            await eventually(lambda: reader.slots_or_none(batch_id), message="tracker created")
        text_id = await ContentStore(private_js, own_settings.content_bucket).put(essay_text(1, batch_id))
        cause = await publish_content(private_js, batch_id, "e1.txt", text_id)

        assert await doomed.wait_exit() == EXIT_CODE
        # It died after publishing: the effects are on the stream, the cause is not acknowledged.
        assert len(await events_on_stream(private_js, own_settings, els_events_pb2.EssaySlotAssigned, batch_id)) == 1
        info = await private_js.consumer_info(own_settings.stream_name, "els-events")
        assert info.ack_floor.stream_seq < cause

        successor = start_els(own_settings.nats_url, tmp_path, "successor", FAST_REDELIVERY)
        await successor.wait_serving()
        await acknowledged_up_to(private_js, own_settings, cause)
        async with grpc.aio.insecure_channel(successor.address) as channel:
            slots = await caller(channel, own_settings, "ops", Role.ADMIN).slots(batch_id)
    finally:
        doomed.stop()
        if successor is not None:
            successor.stop()

    assigned = await events_on_stream(private_js, own_settings, els_events_pb2.EssaySlotAssigned, batch_id)
    completed = await events_on_stream(
        private_js, own_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id
    )
    upload = Upload(file_name="e1.txt", file_upload_id="e1.txt", text_storage_id=text_id)
    assert [envelope.event_id for envelope, _ in assigned] == [messages.slot_assigned_id(batch_id, upload)]
    assert [envelope.event_id for envelope, _ in completed] == [
        contracts.derived_event_id(batch_id, els_events_pb2.BatchContentProvisioningCompleted)
    ]
    assert [(s.essay_id, s.status, s.text_storage_id) for s in slots.slots] == [
        (essay_ids[0], common_pb2.ESSAY_STATUS_UPLOADED, text_id)
    ]
    assert slots.completed


async def test_a_crash_while_draining_early_content_at_registration_loses_and_doubles_nothing(
    own_settings: Settings, private_js: JetStreamContext, tmp_path: Path
) -> None:
    doomed = start_els(
        own_settings.nats_url,
        tmp_path,
        "doomed",
        {EXIT_BEFORE_ACK_VARIABLE: "BatchEssaysRegistered", **FAST_REDELIVERY},
    )
    successor: ElsProcess | None = None
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(3)
    try:
        await doomed.wait_serving()
        content = ContentStore(private_js, own_settings.content_bucket)
        for i in range(3):
            await publish_content(private_js, batch_id, f"e{i}.txt", await content.put(essay_text(i, batch_id)))
        async with grpc.aio.insecure_channel(doomed.address) as channel:
            reader = caller(channel, own_settings, "ops", Role.ADMIN)

            async def all_pending() -> bool:
                response = await reader.slots_or_none(batch_id)
                return response is not None and response.pending_count == 3

            await eventually(all_pending, message="uploads kept as pending")
        await register_batch(private_js, batch_id, essay_ids)
        registration = await last_sequence(private_js, own_settings)

        assert await doomed.wait_exit() == EXIT_CODE
        successor = start_els(own_settings.nats_url, tmp_path, "successor", FAST_REDELIVERY)
        await successor.wait_serving()
        await acknowledged_up_to(private_js, own_settings, registration)
    finally:
        doomed.stop()
        if successor is not None:
            successor.stop()

    assigned = await events_on_stream(private_js, own_settings, els_events_pb2.EssaySlotAssigned, batch_id)
    completed = await events_on_stream(
        private_js, own_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id
    )
    assert sorted(payload.essay_id for _, payload in assigned) == sorted(essay_ids)
    assert len(completed) == 1
    assert sorted(e.essay_id for e in completed[0][1].stored_essays) == sorted(essay_ids)
