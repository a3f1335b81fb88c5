"""ELS's bounded growth against a real nats-server: every tracker and pending-list write
carries a per-key TTL, pending uploads of a batch that never registers expire, the excess
list is capped with a count of what was dropped, and BatchPurged deletes the batch's keys
and texts (but not a text another batch still holds)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from functools import partial

import grpc
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import publish
from essayflow_runtime.service import RunningService, start_service
from services.els.content_store import ContentStore
from services.els.main import build_parts
from services.els.store import SlotStore, open_slot_bucket, pending_key, tracker_key
from tests.integration.els.helpers import Caller, caller, essay_text, new_ids, register_batch, sha
from tests.support import eventually

TRACKER_TTL_S = 3600
PENDING_TTL_S = 2


@pytest.fixture
async def limited(els_settings: Settings) -> AsyncIterator[tuple[Settings, Caller]]:
    settings = dataclasses.replace(
        els_settings, els_tracker_ttl_s=TRACKER_TTL_S, els_pending_ttl_s=PENDING_TTL_S, els_max_excess=2
    )
    service: RunningService = await start_service("els", settings, build_parts, port=0, with_database=False)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            yield settings, caller(channel, settings, "file-service", Role.SERVICE)
    finally:
        await service.stop()


async def key_ttl(js: JetStreamContext, settings: Settings, key: str) -> str | None:
    """The Nats-TTL header of the key's current value, None when the key is gone."""
    try:
        message = await js.get_last_msg(f"KV_{settings.slot_bucket}", f"$KV.{settings.slot_bucket}.{key}")
    except NotFoundError:
        return None
    headers: dict[str, str] = message.headers or {}
    return headers.get("Nats-TTL", "")


async def test_tracker_writes_carry_the_ttl_and_renew_it(
    js: JetStreamContext, limited: tuple[Settings, Caller]
) -> None:
    settings, service = limited
    batch_id = str(uuid.uuid4())
    await register_batch(js, batch_id, new_ids(2))
    await eventually(lambda: service.slots_or_none(batch_id), message="tracker never created")
    assert await key_ttl(js, settings, tracker_key(batch_id)) == str(TRACKER_TTL_S)  # the create
    await service.provision(batch_id, "a.txt", essay_text(1, batch_id).encode())
    assert await key_ttl(js, settings, tracker_key(batch_id)) == str(TRACKER_TTL_S)  # a compare-and-set


async def test_pending_uploads_of_a_batch_that_never_registers_expire(
    js: JetStreamContext, limited: tuple[Settings, Caller]
) -> None:
    settings, service = limited
    batch_id = str(uuid.uuid4())
    response = await service.provision(batch_id, "early.txt", essay_text(1, batch_id).encode())
    assert response.outcome == els_pb2.PROVISION_OUTCOME_PENDING_REGISTRATION
    assert (await service.slots(batch_id)).pending_count == 1
    assert await key_ttl(js, settings, pending_key(batch_id)) == str(PENDING_TTL_S)

    async def expired() -> bool:
        return await key_ttl(js, settings, pending_key(batch_id)) is None

    await eventually(expired, timeout_s=30, interval_s=0.2, message="the pending uploads never expired")
    assert await service.slots_or_none(batch_id) is None


async def test_the_excess_list_is_capped_and_what_was_dropped_is_counted(
    js: JetStreamContext, limited: tuple[Settings, Caller]
) -> None:
    settings, service = limited
    batch_id = str(uuid.uuid4())
    await register_batch(js, batch_id, new_ids(1))
    await eventually(lambda: service.slots_or_none(batch_id), message="tracker never created")
    for index in range(6):  # one fills the slot, five are excess: two kept, three counted
        await service.provision(batch_id, f"e{index}.txt", essay_text(index, batch_id).encode())
    assert (await service.slots(batch_id)).excess_count == 5
    store = SlotStore(await open_slot_bucket(js, settings.slot_bucket))
    tracker = await store.get(batch_id)
    assert tracker is not None and len(tracker.excess) == 2 and tracker.excess_dropped == 3


async def test_a_purge_deletes_keys_and_texts_but_not_a_text_another_batch_holds(
    js: JetStreamContext, limited: tuple[Settings, Caller]
) -> None:
    settings, service = limited
    purged, other = str(uuid.uuid4()), str(uuid.uuid4())
    own_text, shared_text = essay_text(1, purged), essay_text(2, "shared")
    for batch_id in (purged, other):
        await register_batch(js, batch_id, new_ids(2))
        await eventually(partial(service.slots_or_none, batch_id), message="tracker never created")
    await service.provision(purged, "own.txt", own_text.encode())
    await service.provision(purged, "shared.txt", shared_text.encode())
    await service.provision(other, "shared-too.txt", shared_text.encode())
    content = ContentStore(js, settings.content_bucket)
    assert await content.exists(sha(own_text)) and await content.exists(sha(shared_text))

    await publish(
        js,
        bos_events_pb2.BatchPurged(batch_id=purged, text_storage_ids=[sha(own_text)], cause="rpc:PurgeBatch"),
        source="bos",
        correlation_id=purged,
    )

    async def gone() -> bool:
        return await service.slots_or_none(purged) is None and not await content.exists(sha(own_text))

    await eventually(gone, timeout_s=30, message="the purge never happened")
    assert await content.exists(sha(shared_text)), "a text another batch holds was deleted"
    assert (await service.slots(other)).slots[0].file_name == "shared-too.txt"
    # Nothing of the purged tracker is left in the bucket's stream: the purge removed every revision.
    message = await js.get_last_msg(f"KV_{settings.slot_bucket}", f"$KV.{settings.slot_bucket}.{tracker_key(purged)}")
    assert not message.data
