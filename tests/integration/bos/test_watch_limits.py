"""WatchBatch streams are capped per caller and per process, and wake only on NOTIFY."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService, start_service
from services.bos.main import make_build_parts
from tests.integration.bos.helpers import Client, FakeDirectory, error_info, register_request

pytestmark = pytest.mark.integration

ALICE, BOB, CAROL = "teacher-alice", "teacher-bob", "teacher-carol"


@pytest.fixture
async def capped(settings: Settings) -> AsyncIterator[Client]:
    limited = dataclasses.replace(settings, watch_max_per_caller=2, watch_max_total=3)
    service: RunningService = await start_service(
        "bos", limited, make_build_parts(FakeDirectory()), port=0, with_database=True
    )
    client = Client(limited, service.port)
    try:
        yield client
    finally:
        await client.close()
        await service.stop()


async def open_watch(client: Client, owner: str) -> Any:
    """A WatchBatch stream of a new batch of ``owner``, its first message read."""
    batch = (await client.call("RegisterBatch", register_request(), owner)).batch
    stream = client.stub.WatchBatch(
        bos_pb2.WatchBatchRequest(batch_id=batch.batch_id), metadata=client.auth(owner, Role.TEACHER)
    )
    first = await asyncio.wait_for(stream.read(), timeout=10)
    assert first.batch.batch_id == batch.batch_id
    return stream


async def refused(client: Client, owner: str) -> tuple[str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await open_watch(client, owner)
    assert exc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reason, metadata, _ = error_info(exc.value)
    return reason, metadata


async def test_streams_beyond_the_per_caller_and_total_caps_are_refused_with_details(capped: Client) -> None:
    alice = [await open_watch(capped, ALICE), await open_watch(capped, ALICE)]
    assert await refused(capped, ALICE) == (
        "WATCH_LIMIT_REACHED",
        {"limit": "per_caller", "max_streams": "2", "open_streams": "2"},
    )
    bob = await open_watch(capped, BOB)  # another caller still gets one: 3 open in total
    reason, metadata = await refused(capped, CAROL)
    assert reason == "WATCH_LIMIT_REACHED" and metadata["limit"] == "total" and metadata["max_streams"] == "3"

    # A stream that ends gives its place back.
    alice[0].cancel()

    async def carol_gets_one() -> Any:
        try:
            return await open_watch(capped, CAROL)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            return None

    deadline = asyncio.get_running_loop().time() + 10
    carol = None
    while carol is None and asyncio.get_running_loop().time() < deadline:
        carol = await carol_gets_one()
    assert carol is not None, "the cancelled stream's place was never given back"
    for stream in (alice[1], bob, carol):
        stream.cancel()


async def test_a_change_while_the_listener_reconnects_still_reaches_the_watcher(
    capped: Client, pool: asyncpg.Pool
) -> None:
    """Watchers do not poll: a notification lost while the LISTEN connection is down is
    made up for by waking every watcher when it listens again."""
    batch = (await capped.call("RegisterBatch", register_request(), ALICE)).batch
    stream = capped.stub.WatchBatch(
        bos_pb2.WatchBatchRequest(batch_id=batch.batch_id), metadata=capped.auth(ALICE, Role.TEACHER)
    )
    await asyncio.wait_for(stream.read(), timeout=10)
    killed = await pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = 'essayflow-bos-listen' AND datname = current_database()"
    )
    assert killed >= 1
    await capped.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=batch.batch_id, reason="lost"), ALICE)
    change = await asyncio.wait_for(stream.read(), timeout=20)
    assert change.transition.to_status == common_pb2.BATCH_STATUS_CANCELLED
    assert await asyncio.wait_for(stream.read(), timeout=10) is grpc.aio.EOF
