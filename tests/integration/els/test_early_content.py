"""Content that arrives before its batch is registered is kept and bound afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import bos_events_pb2, els_events_pb2
from essayflow_runtime.config import Settings
from services.els.content_store import ContentStore
from services.els.provisioning import Provisioner
from services.els.slots import Outcome, Upload
from services.els.store import SlotStore, open_slot_bucket
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


# --- the interleavings, forced: two replicas' stores on one bucket, each stopped at one step ---


def registration(batch_id: str, essay_ids: list[str]) -> bos_events_pb2.BatchEssaysRegistered:
    return bos_events_pb2.BatchEssaysRegistered(
        batch_id=batch_id,
        essay_ids=essay_ids,
        expected_essay_count=len(essay_ids),
        course_code=common_pb2.COURSE_CODE_ENG5,
        batch_type=common_pb2.BATCH_TYPE_GUEST,
        owner_id="teacher-1",
    )


async def register(provisioner: Provisioner, batch_id: str, essay_ids: list[str]) -> None:
    await provisioner.register(
        registration(batch_id, essay_ids), event_id=str(uuid.uuid4()), correlation_id=str(uuid.uuid4())
    )


async def reached(step: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Wait until ``task`` is stopped at ``step`` (its failure, if it fails before, is raised)."""
    waiting = asyncio.ensure_future(step.wait())
    try:
        await asyncio.wait({waiting, task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if task.done():
        task.result()
    assert step.is_set(), "the task never reached the step"


class RemovesDrainedUploadsLate(SlotStore):
    """The store of a replica whose registration has bound the pending uploads (and so
    completed the batch) and has not yet removed them from the pending list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.removing = asyncio.Event()
        self.go_on = asyncio.Event()

    async def remove_pending(self, batch_id: str, keys: Sequence[str]) -> None:
        self.removing.set()
        await self.go_on.wait()
        await super().remove_pending(batch_id, keys)


async def test_uploads_the_registration_has_bound_are_not_reported_waiting_before_it_removes_them(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(2)
    for i in range(2):
        early = await service_caller.provision(batch_id, f"e{i}.txt", essay_text(i, batch_id).encode())
        assert early.outcome == els_pb2.PROVISION_OUTCOME_PENDING_REGISTRATION
    store = RemovesDrainedUploadsLate(await open_slot_bucket(js, els_settings.slot_bucket))
    registering = asyncio.create_task(register(Provisioner(store, js), batch_id, essay_ids))
    try:
        await reached(store.removing, registering)
        # Both bound, the batch complete and announced; the pending list still names both.
        assert len(await store.pending(batch_id)) == 2
        done = await payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
        assert len(done) == 1
        slots = await service_caller.slots(batch_id)
        assert slots.completed and {s.status for s in slots.slots} == {common_pb2.ESSAY_STATUS_UPLOADED}
        assert slots.pending_count == 0, "uploads already in their slots reported as waiting for registration"
    finally:
        store.go_on.set()
        await registering
    assert await store.pending(batch_id) == []
    assert (await service_caller.slots(batch_id)).pending_count == 0


class ReadsPending(SlotStore):
    """A registering replica's store: says when the registration has read the pending list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_pending = asyncio.Event()

    async def pending(self, batch_id: str) -> list[Upload]:
        found = await super().pending(batch_id)
        self.read_pending.set()
        return found


class AddsPendingAfter(SlotStore):
    """An uploading replica's store: adds its upload to the pending list only once ``after`` is set."""

    def __init__(self, *args: Any, after: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adding = asyncio.Event()
        self._after = after

    async def add_pending(self, batch_id: str, upload: Upload) -> None:
        self.adding.set()
        await self._after.wait()
        await super().add_pending(batch_id, upload)


async def test_an_upload_kept_just_after_the_registration_read_the_pending_list_binds_itself(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    """Upload: no tracker -> (registration: tracker created, pending list read, without it)
    -> upload added to the pending list. Nobody drains the list again; the upload must bind itself."""
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(1)
    bucket = await open_slot_bucket(js, els_settings.slot_bucket)
    registering_store = ReadsPending(bucket)
    uploading_store = AddsPendingAfter(bucket, after=registering_store.read_pending)
    text_id = await ContentStore(js, els_settings.content_bucket).put(essay_text(0, batch_id))
    upload = Upload(file_name="e0.txt", text_storage_id=text_id)

    uploading = asyncio.create_task(Provisioner(uploading_store, js).provision(batch_id, upload))
    await reached(uploading_store.adding, uploading)  # it found no tracker
    await register(Provisioner(registering_store, js), batch_id, essay_ids)
    provisioned = await asyncio.wait_for(uploading, 30)

    assert (provisioned.outcome, provisioned.essay_id) == (Outcome.BOUND, essay_ids[0])
    assert await uploading_store.pending(batch_id) == []
    slots = await service_caller.slots(batch_id)
    assert [(s.essay_id, s.text_storage_id) for s in slots.slots] == [(essay_ids[0], text_id)]
    assert slots.completed and slots.pending_count == 0
    done = await payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
    assert [e.text_storage_id for e in done[0].stored_essays] == [text_id] and len(done) == 1
