"""Two real ELS processes binding one batch's slots at the same time."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path

import grpc
import pytest
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import els_events_pb2
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.embedded import EmbeddedNats
from tests.integration.els.helpers import caller, essay_text, events_on_stream, new_ids, payloads, register_batch, sha
from tests.integration.els.processes import start_els
from tests.support import eventually

UPLOADS = 100


@pytest.fixture
def own_settings(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(settings, nats_url=private_nats.url, database_url="")


async def test_two_processes_bind_100_interleaved_uploads_to_100_distinct_slots(
    own_settings: Settings, private_js: JetStreamContext, tmp_path: Path
) -> None:
    replicas = [start_els(own_settings.nats_url, tmp_path, f"els-{n}") for n in range(2)]
    try:
        await asyncio.gather(*(replica.wait_serving() for replica in replicas))
        batch_id, essay_ids = str(uuid.uuid4()), new_ids(UPLOADS)
        async with (
            grpc.aio.insecure_channel(replicas[0].address) as first,
            grpc.aio.insecure_channel(replicas[1].address) as second,
        ):
            callers = [caller(channel, own_settings, "file-service", Role.SERVICE) for channel in (first, second)]
            await register_batch(private_js, batch_id, essay_ids)
            await eventually(lambda: callers[1].slots_or_none(batch_id), message="tracker created")

            texts = [essay_text(i, batch_id) for i in range(UPLOADS)]
            responses = await asyncio.gather(
                *(callers[i % 2].provision(batch_id, f"e{i:03}.txt", text.encode()) for i, text in enumerate(texts))
            )
            slots = await callers[0].slots(batch_id)
    finally:
        for replica in replicas:
            replica.stop()

    assert {r.outcome for r in responses} == {els_pb2.PROVISION_OUTCOME_BOUND}
    assert sorted(r.essay_id for r in responses) == sorted(essay_ids), "no slot bound twice, none left free"
    assert [r.text_storage_id for r in responses] == [sha(text) for text in texts]
    assert {s.status for s in slots.slots} == {common_pb2.ESSAY_STATUS_UPLOADED}
    assert {(s.essay_id, s.text_storage_id) for s in slots.slots} == {
        (r.essay_id, r.text_storage_id) for r in responses
    }
    assert slots.completed

    done = await eventually(
        lambda: events_on_stream(private_js, own_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
    )
    assert len(done) == 1
    assert len({e.essay_id for e in done[0][1].stored_essays}) == UPLOADS
    assigned = await payloads(private_js, own_settings, els_events_pb2.EssaySlotAssigned, batch_id)
    assert sorted(a.essay_id for a in assigned) == sorted(essay_ids)
