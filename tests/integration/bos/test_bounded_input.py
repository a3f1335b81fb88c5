"""BOS refuses what it could never store or publish: control characters, oversized fields,
and requests whose event would exceed the bus's max_payload — before anything commits."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.embedded import EmbeddedNats
from essayflow_runtime.service import start_service
from services.bos import commands, validation
from services.bos.main import make_build_parts
from tests.integration.bos.helpers import Client, FakeDirectory, error_info, register_request
from tests.integration.bos.scenario import OWNER, Batch

pytestmark = pytest.mark.integration

CODE = grpc.StatusCode
SMALL_PAYLOAD = 16 * 1024


async def refused(client: Client, method: str, request: object, owner: str) -> tuple[str, dict[str, str], set[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.call(method, request, owner)
    assert raised.value.code() == CODE.INVALID_ARGUMENT, raised.value.details()
    reason, metadata, details = error_info(raised.value)
    fields = {v.field for d in details if isinstance(d, error_details_pb2.BadRequest) for v in d.field_violations}
    return reason, metadata, fields


async def test_a_nul_in_the_title_is_invalid_argument_not_a_database_error(client: Client) -> None:
    request = register_request(2)
    request.title = "T\x00"
    _, _, fields = await refused(client, "RegisterBatch", request, "teacher-nul")
    assert fields == {"title"}
    listed = await client.call("ListBatches", bos_pb2.ListBatchesRequest(), "teacher-nul")
    assert list(listed.batches) == []


async def test_twenty_thousand_pipeline_names_are_refused_by_the_field_limit(client: Client) -> None:
    request = bos_pb2.RequestPipelineRequest(batch_id=str(uuid.uuid4()), pipelines=["spellcheck"] * 20_000)
    _, _, fields = await refused(client, "RequestPipeline", request, "teacher-pipes")
    assert fields == {"pipelines"}


@pytest.fixture
def small_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", max_payload=SMALL_PAYLOAD).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def small_client(settings: Settings, small_nats: EmbeddedNats) -> AsyncIterator[Client]:
    own = dataclasses.replace(settings, nats_url=small_nats.url)
    service = await start_service("bos", own, make_build_parts(FakeDirectory()), port=0, with_database=True)
    stub = Client(own, service.port)
    try:
        yield stub
    finally:
        await stub.close()
        await service.stop()
        # The sealing limit is process-wide; leave it as the other tests expect it.
        contracts.set_max_payload(contracts.DEFAULT_MAX_PAYLOAD)


async def test_a_request_whose_event_the_bus_cannot_take_is_refused_before_it_commits(
    small_client: Client,
) -> None:
    owner = f"teacher-{uuid.uuid4().hex[:6]}"
    # 500 slot ids make a BatchEssaysRegistered of about 20 kB: over this server's 16 kB.
    reason, metadata, _ = await refused(small_client, "RegisterBatch", register_request(500), owner)
    assert reason == "EVENT_TOO_LARGE"
    assert metadata["event_type"] == "essayflow.events.v1.BatchEssaysRegistered"
    assert int(metadata["size"]) > int(metadata["limit"]) == SMALL_PAYLOAD - contracts.HEADER_ROOM
    listed = await small_client.call("ListBatches", bos_pb2.ListBatchesRequest(), owner)
    assert list(listed.batches) == []
    # What fits still goes through.
    created = await small_client.call("RegisterBatch", register_request(3), owner)
    assert len(created.batch.essay_ids) == 3


async def test_a_pipeline_request_whose_event_the_bus_cannot_take_changes_nothing(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=False, count=40)
    completed = batch.content_completed()
    for ref in completed.stored_essays:
        ref.file_name = "å" * 255  # the longest display name allowed, two bytes a character
    await batch.deliver(completed)
    ready = await batch.current()
    assert ready.status == common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
    request = validation.pipeline(bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, pipelines=["spellcheck"]))
    contracts.set_max_payload(SMALL_PAYLOAD)  # as if connected to a server with a 16 kB max_payload
    try:
        with pytest.raises(contracts.EventTooLarge) as raised:
            await commands.request_pipeline(pool, OWNER, request)
    finally:
        contracts.set_max_payload(contracts.DEFAULT_MAX_PAYLOAD)
    assert raised.value.metadata["event_type"] == "essayflow.events.v1.BatchPipelineRequested"
    after = await batch.current()
    assert (after.status, after.version) == (ready.status, ready.version)
    assert "essayflow.events.v1.BatchPipelineRequested" not in await batch.outbox_types()
    # Under the real limit the same request goes through.
    await commands.request_pipeline(pool, OWNER, request)
    assert (await batch.current()).status == common_pb2.BATCH_STATUS_PROCESSING_PIPELINES
