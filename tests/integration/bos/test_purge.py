"""PurgeBatch and the text retention sweep: one purge path that deletes a batch's stored
essays and kept answers, records the purge, announces BatchPurged and keeps the history."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg
import grpc
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from services.bos.retention import TextRetentionSweep
from tests.integration.bos.helpers import Client, error_info
from tests.integration.bos.test_flows import TEACHER, content_completed, history, next_for, reaches, register, send

pytestmark = pytest.mark.integration

S = common_pb2.BatchStatus
ADMIN = "admin-1"


async def ready_batch(client: Client, js: JetStreamContext) -> bos_pb2.Batch:
    batch = await register(client)
    await send(js, content_completed(batch), batch)
    return await reaches(client, batch.batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)


async def stored(pool: asyncpg.Pool, batch_id: str) -> tuple[int, int]:
    essays = await pool.fetchval("SELECT count(*) FROM batch_essays WHERE batch_id = $1", batch_id)
    answers = await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE batch_id = $1", batch_id)
    return essays, answers


async def test_purge_deletes_essays_and_answers_keeps_the_history_and_announces_it(
    client: Client, js: JetStreamContext, nc: NATS, pool: asyncpg.Pool
) -> None:
    batch = await ready_batch(client, js)
    await client.call(
        "RequestPipeline", bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, idempotency_key="k1"), TEACHER
    )
    assert await stored(pool, batch.batch_id) == (3, 1)
    before = await history(client, batch.batch_id)
    announced = await nc.subscribe(contracts.subject_of(bos_events_pb2.BatchPurged))

    purged = await client.call(
        "PurgeBatch", bos_pb2.PurgeBatchRequest(batch_id=batch.batch_id, reason="parent asked"), ADMIN, Role.ADMIN
    )

    assert not purged.already_purged and purged.batch.status == S.BATCH_STATUS_CANCELLED
    assert list(purged.batch.essays) == []
    assert sorted(purged.event.text_storage_ids) == [e.text_storage_id for e in batch.essays]
    assert await stored(pool, batch.batch_id) == (0, 0)
    row = await pool.fetchrow(
        "SELECT purged_at, purged_by, purge_reason FROM batches WHERE batch_id = $1", batch.batch_id
    )
    assert row["purged_at"] is not None and (row["purged_by"], row["purge_reason"]) == (ADMIN, "parent asked")
    after = await history(client, batch.batch_id)
    assert after[: len(before)] == before, "the history was rewritten"
    last = after[-1]
    assert (last.from_status, last.to_status, last.cause) == (
        S.BATCH_STATUS_PROCESSING_PIPELINES,
        S.BATCH_STATUS_CANCELLED,
        "rpc:PurgeBatch",
    )
    envelope, event = await next_for(announced, batch.batch_id)
    assert event == purged.event and envelope.correlation_id == batch.batch_id

    again = await client.call("PurgeBatch", bos_pb2.PurgeBatchRequest(batch_id=batch.batch_id), ADMIN, Role.ADMIN)
    assert again.already_purged and again.purged_at == purged.purged_at
    assert len(await history(client, batch.batch_id)) == len(after)


@pytest.mark.parametrize("role", [Role.TEACHER, Role.SERVICE])
async def test_only_an_admin_may_purge(client: Client, js: JetStreamContext, pool: asyncpg.Pool, role: Role) -> None:
    batch = await ready_batch(client, js)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.call("PurgeBatch", bos_pb2.PurgeBatchRequest(batch_id=batch.batch_id), TEACHER, role)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await stored(pool, batch.batch_id) == (3, 0)


async def test_a_bad_or_unknown_batch_id_is_refused(client: Client) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.call("PurgeBatch", bos_pb2.PurgeBatchRequest(batch_id="nope"), ADMIN, Role.ADMIN)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.call("PurgeBatch", bos_pb2.PurgeBatchRequest(batch_id=str(uuid.uuid4())), ADMIN, Role.ADMIN)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(exc.value)[0] == "BATCH_NOT_FOUND"


async def test_the_retention_sweep_purges_terminal_batches_only(
    client: Client, js: JetStreamContext, pool: asyncpg.Pool, settings: Settings
) -> None:
    finished = await ready_batch(client, js)
    await client.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=finished.batch_id), TEACHER)
    live = await ready_batch(client, js)
    sweep = TextRetentionSweep(dataclasses.replace(settings, text_retention_s=0.001), pool)

    assert await sweep.sweep_once() == 1

    assert await stored(pool, finished.batch_id) == (0, 0)
    assert await stored(pool, live.batch_id) == (3, 0), "a batch still in flight lost its essays"
    row = await pool.fetchrow("SELECT purged_by FROM batches WHERE batch_id = $1", finished.batch_id)
    assert row["purged_by"] == "service:bos"
    assert await sweep.sweep_once() == 0, "a purged batch is not purged again"
    long = TextRetentionSweep(dataclasses.replace(settings, text_retention_s=3600), pool)
    await client.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=live.batch_id), TEACHER)
    assert await long.sweep_once() == 0, "a batch terminal for less than the retention was purged"
