"""The consumer loop against real PostgreSQL and a real nats-server."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import uuid
from typing import Any

import asyncpg
import nats.errors
import pytest
from google.protobuf import any_pb2
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2, envelope_pb2
from essayflow_runtime import bus, contracts, outbox
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import (
    HEADER_DELIVERY_COUNT,
    HEADER_DETAIL,
    HEADER_ORIGINAL_SUBJECT,
    HEADER_REASON,
    Consumer,
    EventContext,
    publish,
    publish_caused,
    transactional,
)
from essayflow_runtime.embedded import EmbeddedNats
from tests.support import eventually

CONSUMED = (
    bos_events_pb2.BatchEssaysRegistered,
    els_events_pb2.BatchEssaysReady,
    cms_events_pb2.StudentAssociationsConfirmed,
)


@pytest.fixture
def own_settings(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(settings, nats_url=private_nats.url, max_deliver=3)


async def record_effect(conn: asyncpg.Connection, context: EventContext, payload: Message) -> None:
    await conn.execute("INSERT INTO effects (batch_id, event_id) VALUES ($1, $2)", payload.batch_id, context.event_id)


async def effects(pool: asyncpg.Pool, batch_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM effects WHERE batch_id = $1", batch_id))


class running:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer

    async def __aenter__(self) -> Consumer:
        self.task = asyncio.create_task(self.consumer.run())
        return self.consumer

    async def __aexit__(self, *exc: object) -> None:
        self.consumer.stop()
        await asyncio.wait_for(self.task, timeout=10)


def make_consumer(settings: Settings, js: JetStreamContext, pool: asyncpg.Pool, handler: Any = None) -> Consumer:
    handle = handler or transactional(pool, "test", record_effect)
    return Consumer(settings, js, service="test", handlers={cls: handle for cls in CONSUMED})


def envelope_bytes(payload: Message, event_id: str) -> bytes:
    data: bytes = contracts.wrap(payload, source="test", correlation_id="c", event_id=event_id).SerializeToString()
    return data


async def test_the_same_event_delivered_twice_acts_once(
    own_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    batch_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    data = envelope_bytes(bos_events_pb2.BatchEssaysRegistered(batch_id=batch_id), event_id)
    subject = contracts.subject_of(bos_events_pb2.BatchEssaysRegistered)
    # Two distinct stream messages carrying one event (a producer retry outside the duplicate window).
    await private_js.publish(subject, data, headers={"Nats-Msg-Id": "first"})
    await private_js.publish(subject, data, headers={"Nats-Msg-Id": "second"})
    async with running(make_consumer(own_settings, private_js, pool)) as consumer:
        await eventually(lambda: _acked(private_js, own_settings, consumer.durable, 2))
    assert await effects(pool, batch_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1", event_id) == 1


async def test_a_crash_after_commit_before_ack_is_redelivered_and_acts_once(
    own_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    inner = transactional(pool, "test", record_effect)
    calls = 0

    async def crash_before_ack(context: EventContext, payload: Message) -> None:
        nonlocal calls
        calls += 1
        await inner(context, payload)
        if calls == 1:
            raise RuntimeError("process died after commit, before ack")

    batch_id = str(uuid.uuid4())
    await publish(
        private_js, els_events_pb2.BatchEssaysReady(batch_id=batch_id), source="test", correlation_id=batch_id
    )
    async with running(make_consumer(own_settings, private_js, pool, crash_before_ack)) as consumer:
        await eventually(lambda: _acked(private_js, own_settings, consumer.durable, 1))
    assert calls == 2, "the message was redelivered"
    assert await effects(pool, batch_id) == 1


async def _acked(js: JetStreamContext, settings: Settings, durable: str, count: int) -> bool:
    try:
        info = await js.consumer_info(settings.stream_name, durable)
    except NotFoundError:
        return False  # not created yet
    return bool(info.ack_floor.stream_seq >= count and info.num_ack_pending == 0 and info.num_pending == 0)


async def _dead_letters(js: JetStreamContext, settings: Settings) -> list[Any]:
    try:
        info = await js.stream_info(settings.dlq_stream_name)
    except Exception:
        return []
    return [await js.get_msg(settings.dlq_stream_name, seq) for seq in range(1, info.state.last_seq + 1)]


async def test_poison_on_every_consumed_subject_goes_to_the_dead_letter_subject(
    own_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    unknown = envelope_pb2.EventEnvelope(event_id="u1", event_type="essayflow.events.v1.Nonexistent")
    unknown.payload.Pack(any_pb2.Any())
    unparsable = envelope_pb2.EventEnvelope(event_id="p1", event_type="essayflow.events.v1.BatchEssaysReady")
    unparsable.payload.type_url = "type.googleapis.com/essayflow.events.v1.BatchEssaysReady"
    unparsable.payload.value = b"\xff\xff\xff\xff"
    wrong_type = envelope_bytes(cms_events_pb2.StudentAssociationsConfirmed(batch_id="w"), "w1")
    bad = {
        "UNDECODABLE_ENVELOPE": b"\x00garbage\xff\xfe",
        "UNKNOWN_EVENT_TYPE": unknown.SerializeToString(),
        "UNDECODABLE_PAYLOAD": unparsable.SerializeToString(),
        "UNEXPECTED_EVENT_TYPE": wrong_type,
    }
    subjects = [contracts.subject_of(cls) for cls in CONSUMED]
    expected = set()
    for subject in subjects:
        for reason, data in bad.items():
            if reason == "UNEXPECTED_EVENT_TYPE" and subject == contracts.subject_of(CONSUMED[2]):
                continue  # that type is right on its own subject
            await private_js.publish(subject, data, headers={"Nats-Msg-Id": f"{subject}:{reason}"})
            expected.add((subject, reason))
    good_batch = str(uuid.uuid4())
    await publish(private_js, bos_events_pb2.BatchEssaysRegistered(batch_id=good_batch), source="t", correlation_id="c")

    async with running(make_consumer(own_settings, private_js, pool)):
        await eventually(lambda: effects(pool, good_batch), message="the good message after the poison")
        letters = await eventually(
            lambda: _at_least(_dead_letters(private_js, own_settings), len(expected)), message="dead letters"
        )
    seen = {(m.headers[HEADER_ORIGINAL_SUBJECT], m.headers[HEADER_REASON]) for m in letters}
    assert seen == expected
    assert all(m.subject == contracts.dlq_subject("test") and m.headers[HEADER_DELIVERY_COUNT] == "1" for m in letters)


async def _at_least(messages: Any, count: int) -> list[Any] | None:
    found = await messages
    return found if len(found) >= count else None


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_the_delivery_limit(
    own_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    attempts = 0

    async def always_fails(context: EventContext, payload: Message) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("downstream is broken")

    await publish(private_js, bos_events_pb2.BatchEssaysRegistered(batch_id="x"), source="t", correlation_id="c")
    async with running(make_consumer(own_settings, private_js, pool, always_fails)):
        letters = await eventually(lambda: _at_least(_dead_letters(private_js, own_settings), 1))
    assert attempts == own_settings.max_deliver
    assert letters[0].headers[HEADER_REASON] == "MAX_DELIVERIES_EXCEEDED"
    assert letters[0].headers[HEADER_DELIVERY_COUNT] == str(own_settings.max_deliver)


@pytest.fixture
def quick_settings(own_settings: Settings) -> Settings:
    """Short transient backoff and ack_wait, so the tests below take seconds."""
    return dataclasses.replace(
        own_settings, transient_backoff_initial_s=0.05, transient_backoff_max_s=0.2, ack_wait_s=1.0
    )


async def test_a_transient_failure_is_retried_past_the_delivery_limit_until_it_succeeds(
    quick_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    inner = transactional(pool, "test", record_effect)
    outage = 4 * quick_settings.max_deliver  # far more deliveries than the limit allows failures
    attempts = 0

    async def database_down_for_a_while(context: EventContext, payload: Message) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= outage:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        await inner(context, payload)

    batch_id = str(uuid.uuid4())
    await publish(private_js, els_events_pb2.BatchEssaysReady(batch_id=batch_id), source="t", correlation_id="c")
    async with running(make_consumer(quick_settings, private_js, pool, database_down_for_a_while)) as consumer:
        await eventually(lambda: effects(pool, batch_id), timeout_s=60, message="handled once the database is back")
        await eventually(lambda: _acked(private_js, quick_settings, consumer.durable, 1))
    assert attempts == outage + 1
    assert await _dead_letters(private_js, quick_settings) == []


async def test_transient_failures_do_not_count_toward_the_limit_of_a_failing_handler(
    quick_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    """Transient and real failures interleaved: dead-lettered after max_deliver real ones, not before."""
    outcomes: list[str] = []

    async def flaky_and_broken(context: EventContext, payload: Message) -> None:
        kind = "transient" if len(outcomes) % 2 == 0 else "bug"
        outcomes.append(kind)
        if kind == "transient":
            raise nats.errors.TimeoutError()
        raise RuntimeError("handler bug")

    await publish(private_js, bos_events_pb2.BatchEssaysRegistered(batch_id="y"), source="t", correlation_id="c")
    async with running(make_consumer(quick_settings, private_js, pool, flaky_and_broken)):
        letters = await eventually(lambda: _at_least(_dead_letters(private_js, quick_settings), 1), timeout_s=30)
    assert outcomes.count("bug") == quick_settings.max_deliver
    assert outcomes.count("transient") == quick_settings.max_deliver
    assert letters[0].headers[HEADER_REASON] == "MAX_DELIVERIES_EXCEEDED"
    assert "handler bug" in letters[0].headers[HEADER_DETAIL]


async def test_a_value_the_database_refuses_is_dead_lettered_at_once(
    quick_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    attempts = 0

    async def bad_value(context: EventContext, payload: Message) -> None:
        nonlocal attempts
        attempts += 1
        await pool.execute("SELECT $1::uuid", "not-a-uuid")

    await publish(private_js, bos_events_pb2.BatchEssaysRegistered(batch_id="z"), source="t", correlation_id="c")
    async with running(make_consumer(quick_settings, private_js, pool, bad_value)):
        letters = await eventually(lambda: _at_least(_dead_letters(private_js, quick_settings), 1))
    assert attempts == 1
    assert letters[0].headers[HEADER_REASON] == "INVALID_DATA"
    assert "DataError" in letters[0].headers[HEADER_DETAIL]


async def test_a_slow_handler_keeps_its_message_and_is_not_redelivered_meanwhile(
    quick_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    inner = transactional(pool, "test", record_effect)
    running_now = calls = 0
    most_at_once = 0

    async def slow(context: EventContext, payload: Message) -> None:
        nonlocal running_now, calls, most_at_once
        calls += 1
        running_now += 1
        most_at_once = max(most_at_once, running_now)
        try:
            await asyncio.sleep(4 * quick_settings.ack_wait_s)  # four ack_waits: would be redelivered thrice
            await inner(context, payload)
        finally:
            running_now -= 1

    batch_id = str(uuid.uuid4())
    await publish(private_js, els_events_pb2.BatchEssaysReady(batch_id=batch_id), source="t", correlation_id="c")
    # Two replicas on one durable: the idle one would be handed the message as soon as its
    # ack_wait expired under the busy one.
    async with (
        running(make_consumer(quick_settings, private_js, pool, slow)) as consumer,
        running(make_consumer(quick_settings, private_js, pool, slow)),
    ):
        await eventually(lambda: _acked(private_js, quick_settings, consumer.durable, 1), timeout_s=30)
    assert (calls, most_at_once) == (1, 1)
    assert await effects(pool, batch_id) == 1


async def test_a_message_is_handled_while_the_one_before_it_still_runs(
    own_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    """Each message starts as it arrives: the first handler waits for the second one's
    message to be handled, which a loop waiting for a whole fetched batch never does."""
    inner = transactional(pool, "test", record_effect)
    first_started, second_done = asyncio.Event(), asyncio.Event()
    first_batch, second_batch = str(uuid.uuid4()), str(uuid.uuid4())

    async def handler(context: EventContext, payload: Message) -> None:
        if payload.batch_id == first_batch:
            first_started.set()
            await second_done.wait()
        await inner(context, payload)
        if payload.batch_id == second_batch:
            second_done.set()

    consumer = make_consumer(own_settings, private_js, pool, handler)
    task = asyncio.create_task(consumer.run())
    try:
        await publish(private_js, els_events_pb2.BatchEssaysReady(batch_id=first_batch), source="t", correlation_id="c")
        await asyncio.wait_for(first_started.wait(), timeout=20)
        await publish(
            private_js, els_events_pb2.BatchEssaysReady(batch_id=second_batch), source="t", correlation_id="c"
        )
        await asyncio.wait_for(second_done.wait(), timeout=20)
        await eventually(lambda: effects(pool, first_batch), message="the first one finished after the second")
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=10)
    assert await _acked(private_js, own_settings, consumer.durable, 2)


async def test_stop_lets_a_running_handler_finish_and_ack(
    own_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    inner = transactional(pool, "test", record_effect)
    started, release = asyncio.Event(), asyncio.Event()

    async def held(context: EventContext, payload: Message) -> None:
        started.set()
        await release.wait()
        await inner(context, payload)

    batch_id = str(uuid.uuid4())
    consumer = make_consumer(own_settings, private_js, pool, held)
    task = asyncio.create_task(consumer.run())
    await publish(private_js, els_events_pb2.BatchEssaysReady(batch_id=batch_id), source="t", correlation_id="c")
    await asyncio.wait_for(started.wait(), timeout=20)
    consumer.stop()
    await asyncio.sleep(0.2)
    assert not task.done(), "run() returned while a handler was still running"
    release.set()
    await asyncio.wait_for(task, timeout=10)
    assert await effects(pool, batch_id) == 1
    assert await _acked(private_js, own_settings, consumer.durable, 1)


class DeadLettersUnwritable:
    """JetStream whose dead-letter publishes fail the first ``times`` times (NATS away meanwhile)."""

    def __init__(self, js: JetStreamContext, times: int) -> None:
        self._js = js
        self.refused = times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)

    async def publish(self, subject: str, *args: Any, **kwargs: Any) -> Any:
        if subject.startswith("essayflow.dlq.") and self.refused > 0:
            self.refused -= 1
            raise nats.errors.TimeoutError()
        return await self._js.publish(subject, *args, **kwargs)


async def test_a_dead_letter_that_cannot_be_written_is_not_lost(
    quick_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool
) -> None:
    flaky = DeadLettersUnwritable(private_js, times=2)
    handlers = {cls: transactional(pool, "test", record_effect) for cls in CONSUMED}
    consumer = Consumer(quick_settings, flaky, service="test", handlers=handlers)  # type: ignore[arg-type]
    subject = contracts.subject_of(bos_events_pb2.BatchEssaysRegistered)
    await private_js.publish(subject, b"\x00garbage\xff", headers={"Nats-Msg-Id": "garbage"})
    async with running(consumer):
        letters = await eventually(lambda: _at_least(_dead_letters(private_js, quick_settings), 1), timeout_s=30)
    assert flaky.refused == 0, "the first two attempts to write the dead letter failed"
    assert len(letters) == 1 and letters[0].headers[HEADER_REASON] == "UNDECODABLE_ENVELOPE"


async def test_consumer_and_relay_resume_after_nats_restarts(
    own_settings: Settings, private_js: JetStreamContext, pool: asyncpg.Pool, private_nats: EmbeddedNats, schema: str
) -> None:
    client = await bus.connect(own_settings, "test")
    js = client.jetstream()
    relay = outbox.OutboxRelay(own_settings, pool, js, schema)
    relay_task = asyncio.create_task(relay.run())
    batches = [str(uuid.uuid4()) for _ in range(6)]
    try:
        async with running(make_consumer(own_settings, js, pool)):
            await _enqueue(pool, batches[:3])
            for batch in batches[:3]:
                await eventually(functools.partial(effects, pool, batch))
            private_nats.stop()
            await _enqueue(pool, batches[3:])  # committed while NATS is down
            private_nats.start()
            for batch in batches:
                await eventually(functools.partial(effects, pool, batch), timeout_s=60, message="lost after restart")
    finally:
        relay.stop()
        await relay_task
        await client.close()
    for batch in batches:
        assert await effects(pool, batch) == 1


async def _enqueue(pool: asyncpg.Pool, batches: list[str]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for batch in batches:
            await outbox.enqueue(
                conn, bos_events_pb2.BatchEssaysRegistered(batch_id=batch), source="t", correlation_id=batch
            )


async def test_correlation_and_causation_flow_into_caused_events(private_js: JetStreamContext) -> None:
    cause = EventContext(
        event_id=str(uuid.uuid4()),
        event_type="x",
        subject="s",
        correlation_id="flow-1",
        causation_id="",
        source="t",
        occurred_at=contracts.timestamp().ToDatetime(),
        delivery=1,
    )
    batch_id = str(uuid.uuid4())
    payload = els_events_pb2.BatchEssaysReady(batch_id=batch_id)
    first = await publish_caused(private_js, cause, payload, source="els")
    again = await publish_caused(private_js, cause, payload, source="els")  # a redelivery of the cause
    assert first == again
    message = await private_js.get_last_msg("ESSAYFLOW_EVENTS", contracts.subject_of(els_events_pb2.BatchEssaysReady))
    envelope, decoded = contracts.unwrap(message.data or b"")
    assert (envelope.event_id, envelope.correlation_id, envelope.causation_id) == (first, "flow-1", cause.event_id)
    assert decoded == payload
    info = await private_js.stream_info("ESSAYFLOW_EVENTS")
    assert info.state.messages == 1, "the republish was dropped as a duplicate"
