"""The transactional outbox against real PostgreSQL and a real nats-server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from typing import Any

import asyncpg
import pytest
from nats.js import JetStreamContext

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import contracts, outbox
from essayflow_runtime.config import Settings
from essayflow_runtime.embedded import EmbeddedNats
from tests.support import eventually


@pytest.fixture
def own_settings(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(settings, nats_url=private_nats.url, outbox_poll_interval_s=0.5)


async def enqueue_registered(pool: asyncpg.Pool, count: int = 1) -> list[str]:
    ids = []
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(count):
            event = bos_events_pb2.BatchEssaysRegistered(batch_id=str(uuid.uuid4()), expected_essay_count=1)
            ids.append(await outbox.enqueue(conn, event, source="test", correlation_id=event.batch_id))
    return ids


async def stream_event_ids(js: JetStreamContext, settings: Settings) -> list[str]:
    """Every event id on the events stream, in order (duplicates included)."""
    info = await js.stream_info(settings.stream_name)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(settings.stream_name, seq)
        envelope, _ = contracts.unwrap(message.data or b"")
        found.append(envelope.event_id)
    return found


class CrashAfterPublish:
    """A JetStream stand-in that really publishes, then 'crashes' before the row is marked sent."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def publish(self, *args: Any, **kwargs: Any) -> Any:
        await self._js.publish(*args, **kwargs)
        raise ConnectionError("relay process died after publish")


async def test_event_leaves_once_even_after_a_crash_between_publish_and_commit(
    own_settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    [event_id] = await enqueue_registered(pool)

    crashing = outbox.OutboxRelay(own_settings, pool, CrashAfterPublish(private_js), schema)  # type: ignore[arg-type]
    sent, _ = await crashing.relay_once()
    assert sent == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 1
    await pool.execute("UPDATE outbox SET next_attempt_at = clock_timestamp()")  # skip the backoff

    restarted = outbox.OutboxRelay(own_settings, pool, private_js, schema)
    sent, _ = await restarted.relay_once()
    assert sent == 1
    assert await stream_event_ids(private_js, own_settings) == [event_id]  # the second publish was a duplicate


async def test_a_relay_started_after_the_commit_publishes_the_backlog(
    own_settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    ids = await enqueue_registered(pool, 5)
    relay = outbox.OutboxRelay(own_settings, pool, private_js, schema)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _all_sent(pool), message="backlog not published")
    finally:
        relay.stop()
        await task
    assert sorted(await stream_event_ids(private_js, own_settings)) == sorted(ids)


async def _all_sent(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"))


class CountingJetStream:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.published: list[str] = []

    async def publish(self, subject: str, payload: bytes, **kwargs: Any) -> Any:
        self.published.append(kwargs["headers"]["Nats-Msg-Id"])
        return await self._js.publish(subject, payload, **kwargs)


async def test_two_relays_publish_a_thousand_events_exactly_once(
    own_settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    settings = dataclasses.replace(own_settings, outbox_batch_size=50)
    first, second = CountingJetStream(private_js), CountingJetStream(private_js)
    relays = [
        outbox.OutboxRelay(settings, pool, first, schema),  # type: ignore[arg-type]
        outbox.OutboxRelay(settings, pool, second, schema),  # type: ignore[arg-type]
    ]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    ids: list[str] = []
    try:
        for _ in range(20):  # committed while both relays run
            ids += await enqueue_registered(pool, 50)
        await eventually(lambda: _all_sent(pool), timeout_s=60, message="1,000 events not published")
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)
    attempts = first.published + second.published
    assert len(attempts) == 1000 and len(set(attempts)) == 1000, "no row was published twice"
    assert first.published and second.published, "both relays took part"
    on_stream = await stream_event_ids(private_js, own_settings)
    assert len(on_stream) == 1000 and set(on_stream) == set(ids)


async def test_notify_wakes_the_relay_long_before_the_poll_interval(
    own_settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    slow_poll = dataclasses.replace(own_settings, outbox_poll_interval_s=30.0)
    relay = outbox.OutboxRelay(slow_poll, pool, private_js, schema)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _listening(pool, schema), message="relay is not listening")
        started = time.monotonic()
        await enqueue_registered(pool)
        await eventually(lambda: _all_sent(pool), timeout_s=10)
        assert time.monotonic() - started < 10  # only a notification can beat the 30 s poll
    finally:
        relay.stop()
        await task


async def _listening(pool: asyncpg.Pool, schema: str) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = $1",
            f"essayflow-{schema}-listen",
        )
    )


async def test_failed_publishes_back_off_are_visible_and_then_go_out(
    own_settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str, private_nats: EmbeddedNats
) -> None:
    await enqueue_registered(pool, 3)
    private_nats.stop()
    relay = outbox.OutboxRelay(own_settings, pool, private_js, schema)
    with contextlib.suppress(Exception):
        await relay.relay_once()
    stats = await relay.stats()
    assert stats.backlog == 3 and stats.oldest_unsent_age_s > 0
    failed = await pool.fetch("SELECT attempts, last_error, next_attempt_at > clock_timestamp() AS later FROM outbox")
    assert all(r["attempts"] == 1 and r["last_error"] and r["later"] for r in failed)

    private_nats.start()
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _all_sent(pool), timeout_s=30, message="outbox did not drain after NATS came back")
    finally:
        relay.stop()
        await task
    assert (await relay.stats()).backlog == 0


async def test_sent_rows_are_pruned(
    own_settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    await enqueue_registered(pool, 4)
    relay = outbox.OutboxRelay(dataclasses.replace(own_settings, outbox_retention_s=0), pool, private_js, schema)
    await relay.relay_once()
    await enqueue_registered(pool, 1)  # unsent rows are never pruned
    assert await relay.prune() == 4
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
