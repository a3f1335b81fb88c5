"""A full events stream refuses publishes instead of deleting what a consumer has not
processed: with tiny limits and a stopped consumer the outbox holds its rows back, and
everything arrives once the consumer returns."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from prometheus_client import REGISTRY

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import bus, contracts, outbox
from essayflow_runtime.bus_stats import BusStats
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import Consumer, EventContext, publish
from essayflow_runtime.embedded import EmbeddedNats
from tests.integration.backbone.test_outbox import enqueue_registered
from tests.support import eventually

EVENTS = 40
# About ten BatchEssaysRegistered envelopes (each ~300 bytes stored with its headers).
TINY_BYTES = 3000


@pytest.fixture
def tiny(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(
        settings, nats_url=private_nats.url, stream_max_bytes=TINY_BYTES, outbox_max_backoff_s=0.5
    )


@pytest.fixture
async def tiny_js(tiny: Settings) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(tiny.nats_url)
    js = client.jetstream()
    await bus.ensure_streams(tiny, js)
    try:
        yield js
    finally:
        await client.close()


def gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def unsent(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


async def test_a_full_stream_holds_the_outbox_back_and_the_backlog_drains_when_the_consumer_returns(
    tiny: Settings, tiny_js: JetStreamContext, pool: asyncpg.Pool, schema: str
) -> None:
    js = tiny_js
    stats = BusStats(tiny, js, ["els-events"])
    relay = outbox.OutboxRelay(tiny, pool, js, schema)
    relay_task = asyncio.create_task(relay.run())
    try:
        ids = await enqueue_registered(pool, EVENTS)  # ELS, their consumer, is not running

        async def full_and_held_back() -> bool:
            # Every event is either in the stream or still an unsent outbox row: nothing the
            # relay had marked sent was deleted to make room (discard OLD would).
            info = await js.stream_info(tiny.stream_name)
            held = await unsent(pool)
            return info.state.bytes > TINY_BYTES * 0.8 and held > 0 and info.state.messages + held == EVENTS

        await eventually(full_and_held_back, timeout_s=30, message="stream never filled, or lost events")
        info = await js.stream_info(tiny.stream_name)
        assert info.state.first_seq == 1, "nothing was deleted from the front"
        await stats.refresh()
        fill = gauge("essayflow_stream_fill_ratio", stream=tiny.stream_name)
        assert fill is not None and fill > 0.8
        assert gauge("essayflow_consumer_pending", consumer="els-events") == info.state.messages
        oldest = gauge("essayflow_consumer_oldest_unprocessed_age_seconds", consumer="els-events")
        assert oldest is not None and oldest >= 0

        received: list[str] = []

        async def record(context: EventContext, payload: Message) -> None:
            received.append(context.event_id)

        consumer = Consumer(tiny, js, service="els", handlers={bos_events_pb2.BatchEssaysRegistered: record})
        consumer_task = asyncio.create_task(consumer.run())
        try:

            async def drained() -> bool:
                return await unsent(pool) == 0 and (await js.stream_info(tiny.stream_name)).state.messages == 0

            await eventually(drained, timeout_s=60, message="backlog did not drain")
        finally:
            consumer.stop()
            await asyncio.wait_for(consumer_task, timeout=10)
    finally:
        relay.stop()
        await relay_task
    assert sorted(set(received)) == sorted(ids), "every event reached its consumer"
    await stats.refresh()
    assert gauge("essayflow_stream_fill_ratio", stream=tiny.stream_name) == 0
    assert gauge("essayflow_consumer_pending", consumer="els-events") == 0


async def test_a_full_dead_letter_stream_keeps_the_message_until_there_is_room(
    settings: Settings, private_nats: EmbeddedNats
) -> None:
    """The dead letters refuse new ones (discard new at their size limit): the consumer
    neither drops the poison message nor acknowledges it; it retries, and dead-letters it
    once there is room."""
    full = dataclasses.replace(settings, nats_url=private_nats.url, dlq_max_bytes=64, ack_wait_s=1.0)
    client = await nats.connect(full.nats_url)
    try:
        js = client.jetstream()
        await bus.ensure_streams(full, js)

        async def broken(context: EventContext, payload: Message) -> None:
            raise contracts.PoisonMessage("HANDLER_BUG", "always")

        consumer = Consumer(full, js, service="els", handlers={bos_events_pb2.BatchEssaysRegistered: broken})
        task = asyncio.create_task(consumer.run())
        try:
            await publish(js, bos_events_pb2.BatchEssaysRegistered(batch_id="b-1"), source="bos", correlation_id="c")

            async def retried() -> bool:
                info = await js.consumer_info(full.stream_name, "els-events")
                return (info.num_redelivered or 0) > 0 and (info.num_ack_pending or 0) + (info.num_pending or 0) == 1

            await eventually(retried, timeout_s=30, message="the refused dead letter was not retried")
            assert (await js.stream_info(full.dlq_stream_name)).state.messages == 0
            assert (await js.stream_info(full.stream_name)).state.messages == 1, "the event is kept"

            await bus.ensure_streams(dataclasses.replace(full, dlq_max_bytes=1024**2), js)  # room again

            async def dead_lettered() -> bool:
                return (await js.stream_info(full.dlq_stream_name)).state.messages == 1

            await eventually(dead_lettered, timeout_s=30, message="not dead-lettered once there was room")
        finally:
            consumer.stop()
            await asyncio.wait_for(task, timeout=10)
    finally:
        await client.close()
