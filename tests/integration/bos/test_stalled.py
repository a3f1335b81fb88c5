"""Stalled batches: how long each batch has waited in its status (kept by the one door,
backfilled by the migration), ListBatches' stalled selection, the gauges, and who may
ReconcileBatch — against the real service and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import duration_pb2
from prometheus_client import REGISTRY

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import contracts, migrations
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from services.bos.wait_stats import BatchWaitStats
from tests.integration.bos.helpers import Client, error_info, register_request

pytestmark = pytest.mark.integration

S = common_pb2.BatchStatus
ACV = S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
CANCELLED = S.BATCH_STATUS_CANCELLED
CODE = grpc.StatusCode
ADMIN = "admin-ops"


async def register(client: Client, owner: str) -> bos_pb2.Batch:
    batch: bos_pb2.Batch = (await client.call("RegisterBatch", register_request(), owner)).batch
    return batch


async def backdate(pool: asyncpg.Pool, batch_id: str, by: timedelta) -> None:
    """As if the batch had entered its status ``by`` ago (instead of waiting that long)."""
    await pool.execute(
        "UPDATE batches SET status_changed_at = status_changed_at - $2::interval WHERE batch_id = $1", batch_id, by
    )


def stalled(longer_than: timedelta, *statuses: Any, page_size: int = 0) -> bos_pb2.ListBatchesRequest:
    return bos_pb2.ListBatchesRequest(
        waited_longer_than=duration_pb2.Duration(seconds=int(longer_than.total_seconds())),
        statuses=list(statuses),
        page_size=page_size,
    )


async def listed(client: Client, request: bos_pb2.ListBatchesRequest, subject: str, role: Role) -> list[str]:
    ids: list[str] = []
    while True:
        page = await client.call("ListBatches", request, subject, role)
        ids += [b.batch_id for b in page.batches]
        if not page.next_page_token:
            return ids
        request.page_token = page.next_page_token


async def test_the_stalled_selection_finds_the_batches_waiting_longer_and_only_those(
    client: Client, pool: asyncpg.Pool
) -> None:
    alice, bob = f"teacher-{uuid.uuid4()}", f"teacher-{uuid.uuid4()}"
    old_a = await register(client, alice)
    old_b = await register(client, bob)
    fresh = await register(client, alice)
    finished = await register(client, alice)
    await client.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=finished.batch_id), alice)
    for batch in (old_a, old_b, finished):
        await backdate(pool, batch.batch_id, timedelta(hours=2))

    everyone = set(await listed(client, stalled(timedelta(hours=1), page_size=1), ADMIN, Role.ADMIN))
    assert {old_a.batch_id, old_b.batch_id} <= everyone
    # Finished batches wait for nothing; a batch that just arrived has not waited long enough.
    assert finished.batch_id not in everyone and fresh.batch_id not in everyone
    assert set(await listed(client, stalled(timedelta(hours=3)), ADMIN, Role.ADMIN)).isdisjoint(
        {old_a.batch_id, old_b.batch_id}
    )
    # A teacher's selection is over their own batches only, as every listing.
    assert set(await listed(client, stalled(timedelta(hours=1)), alice, Role.TEACHER)) == {old_a.batch_id}
    # Named statuses select among those, finished ones too.
    named = await listed(client, stalled(timedelta(hours=1), CANCELLED), alice, Role.TEACHER)
    assert named == [finished.batch_id]
    # A service sees every batch (the operator tooling's view).
    assert {old_a.batch_id, old_b.batch_id} <= set(
        await listed(client, stalled(timedelta(hours=1), ACV), "ops-bot", Role.SERVICE)
    )

    page = await client.call("ListBatches", stalled(timedelta(hours=1), ACV), alice, Role.TEACHER)
    (shown,) = page.batches
    assert shown.waiting_for.code == "CONTENT_COMPLETION" and "els" in shown.waiting_for.expected_from
    assert timedelta(hours=2) <= shown.waited.ToTimedelta() < timedelta(hours=2, minutes=5)
    assert shown.status_since.ToDatetime() < shown.created_at.ToDatetime()


async def test_a_negative_or_absurd_wait_is_invalid_argument(client: Client) -> None:
    for seconds in (-1, 20 * 366 * 86400):
        request = bos_pb2.ListBatchesRequest(waited_longer_than=duration_pb2.Duration(seconds=seconds))
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await client.call("ListBatches", request, ADMIN, Role.ADMIN)
        assert exc.value.code() == CODE.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.call(
            "ListBatches", bos_pb2.ListBatchesRequest(statuses=[S.BATCH_STATUS_UNSPECIFIED]), ADMIN, Role.ADMIN
        )
    assert exc.value.code() == CODE.INVALID_ARGUMENT


async def test_every_status_change_restarts_the_wait_with_the_history_row(client: Client, pool: asyncpg.Pool) -> None:
    owner = f"teacher-{uuid.uuid4()}"
    batch = await register(client, owner)
    await backdate(pool, batch.batch_id, timedelta(hours=5))
    cancelled = (await client.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=batch.batch_id), owner)).batch
    (row,) = (
        await client.call("ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), owner)
    ).transitions
    assert cancelled.status_since == row.occurred_at
    stored = await pool.fetchval("SELECT status_changed_at FROM batches WHERE batch_id = $1", batch.batch_id)
    assert contracts.timestamp(stored) == row.occurred_at


async def test_the_migration_backfills_the_wait_from_the_history(database_url: str) -> None:
    await asyncio.to_thread(migrations.downgrade, "bos", database_url, "0001_initial")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "bos"})
    moved, untouched = uuid.uuid4(), uuid.uuid4()
    try:
        for batch_id, status in ((moved, "cancelled"), (untouched, "awaiting_content_validation")):
            await conn.execute(
                "INSERT INTO batches (batch_id, owner_id, batch_type, course_code, expected_essay_count, essay_ids, "
                "status, version, correlation_id, created_at) VALUES ($1, 't', 'guest', 'sv1', 1, ARRAY[$1::uuid], "
                "$2, $3, 'c', now() - interval '3 days')",
                batch_id,
                status,
                1 if batch_id == moved else 0,
            )
        await conn.execute(
            "INSERT INTO batch_transitions (batch_id, version, from_status, to_status, cause, actor, correlation_id, "
            "occurred_at) VALUES ($1, 1, 'awaiting_content_validation', 'cancelled', 'rpc:CancelBatch', 't', 'c', "
            "now() - interval '1 day')",
            moved,
        )
        await asyncio.to_thread(migrations.upgrade, "bos", database_url)
        rows = {
            r["batch_id"]: r
            for r in await conn.fetch(
                "SELECT b.batch_id, b.status_changed_at, b.created_at, "
                "(SELECT max(t.occurred_at) FROM batch_transitions t WHERE t.batch_id = b.batch_id) AS last_change "
                "FROM batches b WHERE b.batch_id = ANY($1::uuid[])",
                [moved, untouched],
            )
        }
        assert rows[moved]["status_changed_at"] == rows[moved]["last_change"]
        assert rows[untouched]["status_changed_at"] == rows[untouched]["created_at"]
    finally:
        await conn.close()


def gauge(name: str, status: str) -> float:
    value = REGISTRY.get_sample_value(name, {"status": status})
    assert value is not None, f"{name}{{status={status}}} is not reported"
    return value


async def test_the_gauges_count_batches_by_status_and_the_oldest_wait(
    client: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    owner = f"teacher-{uuid.uuid4()}"
    for _ in range(2):
        await register(client, owner)
    oldest = await register(client, owner)
    await backdate(pool, oldest.batch_id, timedelta(hours=7))
    await BatchWaitStats(settings, pool).refresh()
    in_acv = await pool.fetchval("SELECT count(*) FROM batches WHERE status = 'awaiting_content_validation'")
    assert gauge("essayflow_batches", "awaiting_content_validation") == in_acv >= 3
    assert 7 * 3600 <= gauge("essayflow_batch_oldest_wait_seconds", "awaiting_content_validation") < 7 * 3600 + 600
    assert gauge("essayflow_batch_oldest_wait_seconds", "ready_for_pipeline_execution") == 0
    assert REGISTRY.get_sample_value("essayflow_batch_oldest_wait_seconds", {"status": "cancelled"}) is None


async def test_only_an_admin_may_reconcile_and_a_reconcile_changes_no_batch(client: Client, pool: asyncpg.Pool) -> None:
    owner = f"teacher-{uuid.uuid4()}"
    batch = await register(client, owner)
    request = bos_pb2.ReconcileBatchRequest(batch_id=batch.batch_id, reason="stuck since the upgrade")
    for subject, role in ((owner, Role.TEACHER), ("els", Role.SERVICE)):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await client.call("ReconcileBatch", request, subject, role)
        assert exc.value.code() == CODE.PERMISSION_DENIED

    answer = await client.call("ReconcileBatch", request, ADMIN, Role.ADMIN)
    assert answer.requested and answer.reconcile_id
    assert list(answer.reissued) == ["BatchEssaysRegistered"]
    assert answer.batch.status == ACV and answer.batch.version == 0
    events = await pool.fetch(
        "SELECT event_type, envelope FROM outbox WHERE created_at > now() - interval '1 minute' "
        "AND event_type = ANY($1::text[])",
        [
            bos_events_pb2.BatchReconciliationRequested.DESCRIPTOR.full_name,
            bos_events_pb2.BatchEssaysRegistered.DESCRIPTOR.full_name,
        ],
    )
    mine = [p for _, p in (contracts.unwrap(r["envelope"]) for r in events) if p.batch_id == batch.batch_id]
    kinds = sorted(type(p).__name__ for p in mine)
    assert kinds == ["BatchEssaysRegistered", "BatchEssaysRegistered", "BatchReconciliationRequested"]
    (asked,) = [p for p in mine if isinstance(p, bos_events_pb2.BatchReconciliationRequested)]
    assert asked.status == ACV and asked.reconcile_id == answer.reconcile_id and asked.requested_by == ADMIN

    # A finished batch waits for nothing anyone could re-emit: nothing is published.
    await client.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=batch.batch_id), owner)
    again = await client.call("ReconcileBatch", request, ADMIN, Role.ADMIN)
    assert not again.requested and again.batch.status == CANCELLED
    count = await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = $1 AND event_id = ANY($2::text[])",
        bos_events_pb2.BatchReconciliationRequested.DESCRIPTOR.full_name,
        [contracts.derived_event_id(again.reconcile_id, bos_events_pb2.BatchReconciliationRequested, batch.batch_id)],
    )
    assert count == 0

    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.call(
            "ReconcileBatch", bos_pb2.ReconcileBatchRequest(batch_id=str(uuid.uuid4())), ADMIN, Role.ADMIN
        )
    assert exc.value.code() == CODE.NOT_FOUND and error_info(exc.value)[0] == "BATCH_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await client.call("ReconcileBatch", bos_pb2.ReconcileBatchRequest(batch_id="nope"), ADMIN, Role.ADMIN)
    assert exc.value.code() == CODE.INVALID_ARGUMENT
