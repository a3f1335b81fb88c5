"""Content that arrives before its batch is registered is kept and bound afterwards."""

from __future__ import annotations

import asyncio
import uuid

from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import els_events_pb2
from essayflow_runtime.config import Settings
from services.els.content_store import ContentStore
from tests.integration.els.helpers import (
    Caller,
    content_provisioned,
    essay_text,
    new_ids,
    payloads,
    register_batch,
)
from tests.support import eventually


async def test_upload_events_published_before_registration_are_all_bound_after_it(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(6)
    content = ContentStore(js, els_settings.content_bucket)
    texts = [essay_text(i, batch_id) for i in range(6)]
    text_ids = [await content.put(text) for text in texts]
    for i, text_id in enumerate(text_ids):
        await content_provisioned(js, batch_id, f"e{i}.txt", text_id)

    async def all_pending() -> bool:
        response = await service_caller.slots_or_none(batch_id)
        return response is not None and response.pending_count == 6

    await eventually(all_pending, message="uploads kept as pending")
    assert await payloads(js, els_settings, els_events_pb2.EssaySlotAssigned, batch_id) == []

    await register_batch(js, batch_id, essay_ids)

    done = await eventually(
        lambda: payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
    )
    assert len(done) == 1
    assert sorted(e.text_storage_id for e in done[0].stored_essays) == sorted(text_ids)
    slots = await service_caller.slots(batch_id)
    assert sorted(s.essay_id for s in slots.slots) == sorted(essay_ids)
    assert {s.status for s in slots.slots} == {common_pb2.ESSAY_STATUS_UPLOADED}
    assert slots.pending_count == 0
    assigned = await payloads(js, els_settings, els_events_pb2.EssaySlotAssigned, batch_id)
    assert sorted(a.essay_id for a in assigned) == sorted(essay_ids)


async def test_rpc_uploads_racing_the_registration_are_each_bound_once(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(20)
    early = [await service_caller.provision(batch_id, f"e{i}.txt", essay_text(i, batch_id).encode()) for i in range(5)]
    assert {r.outcome for r in early} == {els_pb2.PROVISION_OUTCOME_PENDING_REGISTRATION}
    assert {r.essay_id for r in early} == {""}

    # The registration lands while the rest of the uploads are in flight.
    racing = [service_caller.provision(batch_id, f"e{i}.txt", essay_text(i, batch_id).encode()) for i in range(5, 20)]
    await asyncio.gather(register_batch(js, batch_id, essay_ids), *racing)

    done = await eventually(
        lambda: payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
    )
    assert len(done) == 1
    assert sorted(e.essay_id for e in done[0].stored_essays) == sorted(essay_ids)
    assert len({e.text_storage_id for e in done[0].stored_essays}) == 20
    assert (await service_caller.slots(batch_id)).pending_count == 0
