"""TransitionBatch's write compare-and-sets on the row version it read: a fact recorded in
between (which moves neither status nor version) still makes the write a no-op."""

from __future__ import annotations

import dataclasses

import asyncpg

from essayflow.common.v1 import common_pb2
from services.bos import store, transitions
from services.bos.transitions import Change
from tests.integration.bos.scenario import Batch

S = common_pb2.BatchStatus
CALLER = store.Caller(role="service", subject="test")


def cancel(key: str) -> Change:
    return Change(
        to_status=S.BATCH_STATUS_CANCELLED,
        cause="rpc:TransitionBatch",
        actor="service:test",
        correlation_id="c-1",
        idempotency_key=key,
    )


async def test_a_fact_recorded_after_the_read_makes_the_write_a_no_op(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=False)
    seen = await store.read_for_request(pool, batch.batch_id, "TransitionBatch", CALLER, "k-1")
    assert seen.batch is not None and seen.first_response is None
    step = transitions.plan(seen.batch, cancel("k-1"), expected_status=seen.batch.status)

    async with pool.acquire() as conn:
        # Content completes: a fact, same status, same version.
        await store.record_content_completed(conn, batch.batch_id, every_upload_failed=False, failed_upload_count=0)
        answer = store.Answer("TransitionBatch", "k-1", CALLER, b"fingerprint", b"first")
        assert not await transitions.record(conn, step, answer, unchanged_since=seen.row_xmin)

        again = await store.read_for_request(conn, batch.batch_id, "TransitionBatch", CALLER, "k-1")
        assert again.batch is not None and again.batch.version == seen.batch.version
        assert again.row_xmin != seen.row_xmin and again.first_response is None  # nothing was written
        fresh = transitions.plan(again.batch, cancel("k-1"), expected_status=again.batch.status)
        assert await transitions.record(conn, fresh, answer, unchanged_since=again.row_xmin)

    after = await store.read_for_request(pool, batch.batch_id, "TransitionBatch", CALLER, "k-1")
    assert after.batch is not None and after.batch.status == S.BATCH_STATUS_CANCELLED
    assert after.first_response == b"first"
    assert [t.version for t in await batch.history()] == [1]


async def test_a_status_change_after_the_read_makes_the_write_a_no_op(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=False)
    seen = await store.read_for_request(pool, batch.batch_id, "TransitionBatch", CALLER, "k-2")
    assert seen.batch is not None
    step = transitions.plan(seen.batch, cancel("k-2"))
    other = dataclasses.replace(step, causation_id="someone-else")
    async with pool.acquire() as conn:
        assert await transitions.record(conn, other, unchanged_since=seen.row_xmin)
        assert not await transitions.record(conn, step, unchanged_since=seen.row_xmin)
    assert [t.version for t in await batch.history()] == [1]
