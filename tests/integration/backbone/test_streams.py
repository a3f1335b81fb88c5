"""Streams and their durable consumers come from the proto declarations, are created
idempotently, and keep every event until its consumers processed it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

from essayflow.events.v1 import bos_events_pb2, els_events_pb2
from essayflow_cli.tail import tail
from essayflow_runtime import bus, contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import publish
from essayflow_runtime.embedded import EmbeddedNats
from tests.support import eventually


@pytest.fixture
def own(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(settings, nats_url=private_nats.url, duplicate_window_s=600.0)


@pytest.fixture
async def bare_js(own: Settings) -> AsyncIterator[JetStreamContext]:
    """JetStream on the test's own server, no streams yet."""
    client = await nats.connect(own.nats_url)
    try:
        yield client.jetstream()
    finally:
        await client.close()


async def test_streams_and_declared_consumers_are_created_once_from_proto(
    own: Settings, bare_js: JetStreamContext
) -> None:
    js = bare_js
    await bus.ensure_streams(own, js)
    first = await js.stream_info(own.stream_name)
    await bus.ensure_streams(own, js)  # a second service starting, or a restart
    second = await js.stream_info(own.stream_name)
    assert sorted(first.config.subjects or []) == sorted([*contracts.all_subjects(), "essayflow.redrive.>"])
    assert first.config.retention == RetentionPolicy.INTEREST
    assert first.config.discard == DiscardPolicy.NEW
    assert not first.config.max_age, "no unconsumed event expires"
    assert first.config.max_bytes == own.stream_max_bytes
    assert first.config.duplicate_window == 600.0
    assert first.config.storage == StorageType.FILE
    assert second.created == first.created and second.config == first.config

    for service in ("bos", "cms", "els", "nlp"):
        info = await js.consumer_info(own.stream_name, f"{service}-events")
        declared = [t.subject for t in contracts.consumed_by(service)]
        assert sorted(info.config.filter_subjects or []) == sorted([*declared, f"essayflow.redrive.{service}-events"])

    dlq = await js.stream_info(own.dlq_stream_name)
    assert dlq.config.subjects == [f"{contracts.DLQ_SUBJECT_PREFIX}.>"]
    assert dlq.config.retention == RetentionPolicy.LIMITS and dlq.config.discard == DiscardPolicy.NEW
    assert not dlq.config.max_age, "dead letters stay until re-driven"
    assert dlq.config.max_bytes == own.dlq_max_bytes

    resized = dataclasses.replace(own, stream_max_bytes=64 * 1024**2)  # an operator's limit
    await bus.ensure_streams(resized, js)
    assert (await js.stream_info(own.stream_name)).config.max_bytes == 64 * 1024**2


async def test_an_event_waits_for_its_consumer_and_goes_once_processed(
    own: Settings, bare_js: JetStreamContext
) -> None:
    """Published before ELS ever ran: kept for els-events (made by ensure_streams), gone
    once acknowledged; an event no consumer declares is not kept."""
    js = bare_js
    await bus.ensure_streams(own, js)
    await publish(js, bos_events_pb2.BatchEssaysRegistered(batch_id="b-1"), source="bos", correlation_id="c")
    await publish(js, bos_events_pb2.BatchStatusChanged(batch_id="b-1"), source="bos", correlation_id="c")
    assert (await js.stream_info(own.stream_name)).state.messages == 1

    subscription = await js.pull_subscribe_bind("els-events", stream=own.stream_name)
    [message] = await subscription.fetch(1, timeout=5)
    assert message.subject == contracts.subject_of(bos_events_pb2.BatchEssaysRegistered)
    await message.ack_sync()
    await eventually(lambda: _messages_are(js, own, 0), message="acknowledged event not removed")


async def test_an_existing_limits_stream_is_migrated_without_losing_unprocessed_events(
    own: Settings, bare_js: JetStreamContext
) -> None:
    """A stream made before interest retention (limits, discard old, 7 days) becomes an
    interest stream; what its consumers had not processed yet stays, for them. (Events
    from before the switch that no consumer declares stay too: nats-server does not
    re-check them; the README says how to purge them.)"""
    js = bare_js
    await js.add_stream(
        StreamConfig(
            name=own.stream_name,
            subjects=contracts.all_subjects(),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=7 * 24 * 3600.0,
            discard=DiscardPolicy.OLD,
            duplicate_window=own.duplicate_window_s,
        )
    )
    await publish(js, els_events_pb2.BatchEssaysReady(batch_id="b-2"), source="els", correlation_id="c")
    await publish(js, bos_events_pb2.BatchStatusChanged(batch_id="b-2"), source="bos", correlation_id="c")

    await bus.ensure_streams(own, js)

    info = await js.stream_info(own.stream_name)
    assert info.config.retention == RetentionPolicy.INTEREST and info.config.discard == DiscardPolicy.NEW
    assert not info.config.max_age
    bos = await js.consumer_info(own.stream_name, "bos-events")
    assert bos.num_pending == 1, "the unprocessed BatchEssaysReady waits for BOS"


async def test_tail_sees_live_events_and_holds_nothing_back(own: Settings, bare_js: JetStreamContext) -> None:
    """`events tail` reads with an ephemeral consumer that acknowledges nothing: under
    interest retention it still sees every new event, and once it is gone nothing stays
    for it."""
    js = bare_js
    await bus.ensure_streams(own, js)
    lines: list[str] = []

    async def publish_when_listening() -> None:
        await eventually(lambda: _has_ephemeral(js, own), message="tail not listening")
        await publish(js, bos_events_pb2.BatchStatusChanged(batch_id="b-3"), source="bos", correlation_id="c")

    publisher = asyncio.create_task(publish_when_listening())
    assert await asyncio.wait_for(tail(own, limit=1, emit=lines.append), timeout=30) == 1
    await publisher
    assert json.loads(lines[0])["payload"] == {"batch_id": "b-3"}
    await eventually(lambda: _messages_are(js, own, 0), message="the tail's event was kept")


async def _messages_are(js: JetStreamContext, settings: Settings, count: int) -> bool:
    return (await js.stream_info(settings.stream_name)).state.messages == count


async def _has_ephemeral(js: JetStreamContext, settings: Settings) -> bool:
    durables = {f"{service}-events" for service in contracts.consuming_services()}
    return (await js.stream_info(settings.stream_name)).state.consumer_count > len(durables)
