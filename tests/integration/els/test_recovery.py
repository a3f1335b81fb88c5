"""States a dead replica can leave behind, and messages that can never succeed."""

from __future__ import annotations

import uuid

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2, file_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import HEADER_REASON, publish
from services.els import slots
from services.els.slots import Upload
from services.els.store import SlotStore, open_slot_bucket
from tests.integration.els.helpers import Caller, events_on_stream, new_ids, payloads
from tests.support import eventually


async def test_a_completion_that_was_never_published_is_published_by_the_next_reader(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    # What a replica leaves when it dies between the compare-and-set that took the
    # last slot and the publish of the completion.
    batch_id = str(uuid.uuid4())
    tracker = slots.new_tracker(
        batch_id=batch_id,
        essay_ids=new_ids(1),
        class_id="",
        course_code=common_pb2.COURSE_CODE_UNSPECIFIED,
        owner_id="t",
        correlation_id="c-1",
    )
    tracker, _ = slots.bind(tracker, Upload(file_name="a.txt", text_storage_id="a" * 64))
    assert tracker.completion_due
    store = SlotStore(await open_slot_bucket(js, els_settings.slot_bucket))
    assert await store.create(tracker)
    assert await payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id) == []

    assert (await service_caller.slots(batch_id)).completed

    done = await eventually(
        lambda: events_on_stream(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
    )
    assert [(envelope.event_id, envelope.correlation_id) for envelope, _ in done] == [
        (tracker.completion_event_id, "c-1")
    ]
    stored = await store.get(batch_id)
    assert stored is not None and stored.completion_published
    await service_caller.slots(batch_id)
    assert len(await payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)) == 1


async def test_an_upload_event_that_can_never_be_bound_is_dead_lettered_with_its_reason(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    broken = file_events_pb2.EssayContentProvisioned(
        batch_id=str(uuid.uuid4()), file_name="a.txt", text_storage_id="../../etc/passwd"
    )
    event_id = await publish(js, broken, source="file", correlation_id="c")

    async def dead_letter_reasons() -> list[str]:
        subscription = await js.pull_subscribe(
            contracts.dlq_subject("els"),
            stream=els_settings.dlq_stream_name,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        try:
            try:
                messages = await subscription.fetch(1000, timeout=1)
            except TimeoutError:  # also asyncio's, which nats raises too
                return []
            found = []
            for msg in messages:
                envelope, _ = contracts.unwrap(msg.data)
                if envelope.event_id == event_id:
                    found.append((msg.headers or {}).get(HEADER_REASON, ""))
            return found
        finally:
            await subscription.unsubscribe()

    assert await eventually(dead_letter_reasons) == ["INVALID_TEXT_STORAGE_ID"]
    # The service keeps serving.
    assert await service_caller.slots_or_none(str(uuid.uuid4())) is None
