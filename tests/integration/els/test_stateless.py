"""ELS holds no database connection and nothing about a batch in memory."""

from __future__ import annotations

import uuid

import grpc
from nats.js import JetStreamContext

from essayflow.events.v1 import els_events_pb2
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService, start_service
from services.els.main import build_parts
from tests.integration.els.helpers import Caller, caller, essay_text, new_ids, payloads, register_batch
from tests.support import eventually


def collaborators(service: RunningService) -> list[object]:
    """The long-lived objects of an ELS process: servicer, handlers, upload path, stores."""
    servicer = service.parts.bindings[0].servicer
    consumer = service.parts.workers[0]
    handlers = {handler.__self__ for handler in consumer._handlers.values()}  # type: ignore[attr-defined]
    return [servicer, *handlers, servicer._provisioner, servicer._store, servicer._content]


async def upload_through(service: RunningService, settings: Settings, batch_id: str, indexes: range) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        client = caller(channel, settings, "file-service", Role.SERVICE)
        for i in indexes:
            await client.provision(batch_id, f"e{i}.txt", essay_text(i, batch_id).encode())


async def test_the_service_runs_without_a_database(els: RunningService) -> None:
    assert els.connections.pool is None
    assert els.connections.settings.database_url == ""


async def test_servicer_and_handlers_keep_no_batch_in_memory(
    js: JetStreamContext, els: RunningService, service_caller: Caller
) -> None:
    batch_id = str(uuid.uuid4())
    await register_batch(js, batch_id, new_ids(2))
    await eventually(lambda: service_caller.slots_or_none(batch_id))
    await service_caller.provision(batch_id, "a.txt", essay_text(1, batch_id).encode())

    objects = collaborators(els)
    assert {type(o).__name__ for o in objects} == {
        "ElsServicer",
        "EventHandlers",
        "Purger",
        "Provisioner",
        "SlotStore",
        "ContentStore",
    }
    for owner in objects:
        for name, value in vars(owner).items():
            # Collaborators and settings only: no container that could hold batches or slots.
            assert not isinstance(value, dict | list | set | tuple), f"{type(owner).__name__}.{name}"
            assert batch_id not in repr(value)


async def test_a_fresh_process_continues_a_half_filled_batch(js: JetStreamContext, els_settings: Settings) -> None:
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(4)
    first = await start_service("els", els_settings, build_parts, port=0, with_database=False)
    try:
        await register_batch(js, batch_id, essay_ids)
        await eventually(lambda: _tracker_exists(first, els_settings, batch_id))
        await upload_through(first, els_settings, batch_id, range(2))
    finally:
        await first.stop()

    second = await start_service("els", els_settings, build_parts, port=0, with_database=False)
    try:
        await upload_through(second, els_settings, batch_id, range(1, 4))
        done = await eventually(
            lambda: payloads(js, els_settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
        )
    finally:
        await second.stop()
    assert len(done) == 1
    assert [e.essay_id for e in done[0].stored_essays] == essay_ids
    assert [e.file_name for e in done[0].stored_essays] == ["e0.txt", "e1.txt", "e2.txt", "e3.txt"]


async def _tracker_exists(service: RunningService, settings: Settings, batch_id: str) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        return await caller(channel, settings, "ops", Role.ADMIN).slots_or_none(batch_id) is not None
