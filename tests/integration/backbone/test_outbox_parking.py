"""Events the bus can never take: refused before they commit, and parked (never retried
forever) when a row is already in the outbox. Real PostgreSQL, a real nats-server with a
small max_payload."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import bus, contracts, outbox
from essayflow_runtime.config import Settings
from essayflow_runtime.embedded import EmbeddedNats
from essayflow_runtime.metrics import OUTBOX_PARKED

SMALL_PAYLOAD = 16 * 1024


@pytest.fixture
def small_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", max_payload=SMALL_PAYLOAD).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def restore_max_payload() -> Iterator[None]:
    """The sealing limit is process-wide; leave it as the other tests expect it."""
    yield
    contracts.set_max_payload(contracts.DEFAULT_MAX_PAYLOAD)


@pytest.fixture
async def small_js(settings: Settings, small_nats: EmbeddedNats) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(small_nats.url)
    js = client.jetstream()
    await bus.ensure_streams(dataclasses.replace(settings, nats_url=small_nats.url), js)
    try:
        yield js
    finally:
        await client.close()


def registered(essays: int) -> bos_events_pb2.BatchEssaysRegistered:
    return bos_events_pb2.BatchEssaysRegistered(
        batch_id=str(uuid.uuid4()),
        essay_ids=[str(uuid.uuid4()) for _ in range(essays)],
        expected_essay_count=essays,
    )


async def enqueue(pool: asyncpg.Pool, event: bos_events_pb2.BatchEssaysRegistered) -> str:
    async with pool.acquire() as conn, conn.transaction():
        return await outbox.enqueue(conn, event, source="test", correlation_id=event.batch_id)


async def test_a_row_the_server_cannot_take_is_parked_and_the_rest_go_out(
    settings: Settings, pool: asyncpg.Pool, small_js: JetStreamContext, schema: str
) -> None:
    # Enqueued under the default limit (as before the server's was known, or before it was lowered).
    big = await enqueue(pool, registered(1000))
    small = await enqueue(pool, registered(2))
    relay = outbox.OutboxRelay(settings, pool, small_js, schema)
    parked_before = OUTBOX_PARKED.labels(schema)._value.get()

    sent, _ = await relay.relay_once()

    assert sent == 1
    rows = {r["event_id"]: r for r in await pool.fetch("SELECT * FROM outbox")}
    assert rows[small]["sent_at"] is not None and rows[small]["parked_at"] is None
    assert rows[big]["sent_at"] is None and rows[big]["parked_at"] is not None
    assert rows[big]["park_reason"].startswith("MaxPayloadError")
    assert OUTBOX_PARKED.labels(schema)._value.get() == parked_before + 1
    stats = await relay.stats()
    assert (stats.backlog, stats.parked) == (0, 1)

    # Never claimed again: no attempt, however often the relay runs or how late.
    await pool.execute("UPDATE outbox SET next_attempt_at = clock_timestamp() - interval '1 hour'")
    for _ in range(3):
        assert await relay.relay_once() == (0, False)
    attempts = await pool.fetchval("SELECT attempts FROM outbox WHERE event_id = $1", big)
    assert attempts == 1


async def test_an_event_over_the_servers_max_payload_is_refused_before_it_commits(
    settings: Settings, pool: asyncpg.Pool, small_nats: EmbeddedNats, restore_max_payload: None
) -> None:
    client = await bus.connect(dataclasses.replace(settings, nats_url=small_nats.url), "test")
    try:
        assert contracts.max_event_bytes() == SMALL_PAYLOAD - contracts.HEADER_ROOM
        with pytest.raises(contracts.EventTooLarge) as raised:
            await enqueue(pool, registered(1000))
        assert raised.value.reason == "EVENT_TOO_LARGE"
        assert int(raised.value.metadata["limit"]) == SMALL_PAYLOAD - contracts.HEADER_ROOM
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
        await enqueue(pool, registered(2))  # a normal event still fits
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
    finally:
        await client.close()
