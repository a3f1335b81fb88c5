"""The one consumer loop: durable pull consumers with explicit acks.

Each service runs one :class:`Consumer` with a handler per event type it consumes.
A message is acknowledged only after its handler returns (for services with a
database: after the effect and the ``processed_events`` row committed together, see
:func:`transactional`). A failing handler is retried with backoff; a message that
cannot be decoded, is of a type the service does not consume, carries a value the
database refuses, or fails in an unexpected way ``max_deliver`` times is published to
``essayflow.dlq.<service>`` with the reason, the original subject and the delivery
count in headers, then terminated. A failure that ``failures.py`` classifies as
transient (a dependency down) is never dead-lettered: it is redelivered indefinitely
with capped exponential backoff. While a handler runs its message is kept alive with
in-progress acks, so ``ack_wait`` never expires under a slow handler. The loop keeps
going, and resumes by itself after NATS restarts or the connection drops.

Delivery: the loop keeps one pull request open on the server for as many messages as it
has free handler slots (``max_in_flight``) and starts each message's handler the moment
the message arrives; it never waits for a batch to fill or for the handlers of earlier
messages (nats-py's ``fetch`` does both: a fetch for 64 that received one message waited,
holding it, until its pull request expired — up to a second at one hop). The pull asks
for idle heartbeats, so a request the server lost (a restart) is noticed within a few
seconds and the subscription is set up again.

A consumer also listens on its own re-drive subject (``essayflow.redrive.<durable>``,
where ``essayflow events redrive`` sends dead letters back) and treats a message there
as if it had come on the original subject its headers name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext

from essayflow_runtime import bus, contracts, failures, input_rules, tracing
from essayflow_runtime.config import Settings
from essayflow_runtime.logs import bind_correlation, get_logger
from essayflow_runtime.metrics import (
    CONSUMER_DEAD_LETTERS,
    CONSUMER_DELIVERIES,
    CONSUMER_DUPLICATES,
    CONSUMER_REDELIVERIES,
    CONSUMER_TRANSIENT_FAILURES,
)

log = get_logger(__name__)

HEADER_REASON = "Essayflow-Dlq-Reason"
HEADER_DETAIL = "Essayflow-Dlq-Detail"
HEADER_ORIGINAL_SUBJECT = "Essayflow-Original-Subject"
HEADER_DELIVERY_COUNT = "Essayflow-Delivery-Count"
HEADER_CONSUMER = "Essayflow-Consumer"

# Transient retries back off exponentially up to the configured cap, never beyond this.
TRANSIENT_BACKOFF_CEILING_S = 60.0
# Failure counts kept per consumer (messages currently failing); the oldest is forgotten first.
FAILURE_COUNTS_KEPT = 10_000
# How long one pull request stays open on the server, and how often the server says it is
# still there while no message comes. Three heartbeats missed: the request is gone (the
# server restarted, the connection was replaced) and the subscription is set up again.
PULL_EXPIRES_S = 30.0
PULL_HEARTBEAT_S = 1.0
PULL_LOST_AFTER_S = 3 * PULL_HEARTBEAT_S
STATUS_HEADER = "Status"
DESCRIPTION_HEADER = "Description"


class PullEnded(Exception):
    """The pull request cannot go on (no heartbeat, the consumer deleted, the server leaving):
    the subscription is set up again."""


@dataclass(frozen=True)
class EventContext:
    """What a handler knows about the event besides its payload."""

    event_id: str
    event_type: str
    subject: str
    correlation_id: str
    causation_id: str
    source: str
    occurred_at: datetime
    delivery: int  # 1 on first delivery


Handler = Callable[[EventContext, Message], Awaitable[None]]


class Consumer:
    def __init__(
        self,
        settings: Settings,
        js: JetStreamContext,
        *,
        service: str,
        handlers: Mapping[type[Message], Handler],
        durable: str | None = None,
        max_in_flight: int = 64,
    ) -> None:
        self._settings = settings
        self._js = js
        self._service = service
        self._durable = durable or contracts.durable_name(service)
        self._handlers = {cls.DESCRIPTOR.full_name: h for cls, h in handlers.items()}
        self._subjects = sorted(contracts.subject_of(cls) for cls in handlers)
        self._redrive_subject = contracts.redrive_subject(self._durable)
        # Handlers running at once, at most (well under the consumer's max_ack_pending).
        self._max_in_flight = max(1, max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._paused = asyncio.Event()
        self._paused.set()
        self._failures = FailureCounts()
        # Messages whose handler is running, by id(): the heartbeat keeps them alive.
        self._in_flight: dict[int, Msg] = {}

    @property
    def durable(self) -> str:
        return self._durable

    @property
    def event_types(self) -> list[str]:
        """The full proto names of the events this consumer handles."""
        return sorted(self._handlers)

    def stop(self) -> None:
        self._stopping.set()
        self._paused.set()

    async def ensure(self) -> None:
        """Create or update the durable consumer (idempotent): the configuration
        bus.ensure_streams creates for a declared consumer, with this one's subjects."""
        config = bus.consumer_config(self._settings, self._service, self._subjects, durable=self._durable)
        created = await self._js.add_consumer(self._settings.stream_name, config)
        if sorted(created.config.filter_subjects or []) != config.filter_subjects:
            # Servers before 2.10 silently ignore filter_subjects and would deliver everything.
            raise RuntimeError("nats-server >= 2.10 is required (multi-subject consumers)")

    async def run(self) -> None:
        backoff = 0.2
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"{self._durable}-in-progress")
        try:
            while not self._stopping.is_set():
                try:
                    await bus.ensure_streams(self._settings, self._js)
                    await self.ensure()
                    subscription = await self._js.pull_subscribe_bind(self._durable, stream=self._settings.stream_name)
                except Exception as exc:
                    log.warning("consumer setup failed", durable=self._durable, error=repr(exc))
                    await self._pause(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                backoff = 0.2
                try:
                    await self._until_stopped(self._pull_loop(subscription))
                except Exception as exc:
                    log.warning("consumer pull failed", durable=self._durable, error=repr(exc))
                    await self._pause(backoff)
                finally:
                    await self._release(subscription)
            # stop(): the handlers already started finish (and ack) before run returns.
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _until_stopped(self, pulling: Coroutine[Any, Any, None]) -> None:
        """Run the pull loop until it fails (raised here) or stop() is called: then it is
        cancelled; the handlers it started are tasks of their own and go on."""
        pull = asyncio.create_task(pulling, name=f"{self._durable}-pull")
        stopped = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({pull, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not pull.done():
                pull.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pull
        if not pull.cancelled():
            pull.result()

    async def _release(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Give back what was delivered but not started (a nak without delay: another replica,
        or this one after setting up again, gets it now rather than after ack_wait), then drop
        the inbox."""
        queue = subscription._sub._pending_queue
        while not queue.empty():
            msg = queue.get_nowait()
            if not (msg.headers or {}).get(STATUS_HEADER):
                with contextlib.suppress(Exception):
                    await msg.nak()
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _pull_loop(self, subscription: JetStreamContext.PullSubscription) -> None:
        """One pull request open at a time, for the free handler slots; each message's handler
        starts as it arrives. nats-py 2.16's PullSubscription gives the inbox (``_sub``,
        ``_deliver``) and the request subject (``_nms``); ``fetch`` is not used because it
        returns only when its batch is full or its request ended."""
        inbox, request_subject, reply = subscription._sub, subscription._nms, subscription._deliver
        nc = subscription._nc
        credit = 0  # messages the open request may still deliver (0: no request open)
        while not self._stopping.is_set():
            if credit == 0:
                credit = await self._free_slots()
                request = {
                    "batch": credit,
                    "expires": int(PULL_EXPIRES_S * 1e9),
                    "idle_heartbeat": int(PULL_HEARTBEAT_S * 1e9),
                }
                await nc.publish(request_subject, json.dumps(request).encode(), reply=reply)
            try:
                msg = await inbox.next_msg(timeout=PULL_LOST_AFTER_S)
            except NatsTimeoutError:
                raise PullEnded("no heartbeat from the pull request") from None
            status = (msg.headers or {}).get(STATUS_HEADER)
            if not status:
                credit -= 1
                self._start(msg)
            elif status == "100":
                continue  # idle heartbeat: the request is still open
            elif status in ("404", "408"):
                credit = 0  # the request expired (or found nothing): open the next one
            else:
                # 409: consumer deleted, leadership change, server shutdown, max waiting...
                description = (msg.headers or {}).get(DESCRIPTION_HEADER, "")
                raise PullEnded(f"pull request ended: {status} {description}")

    async def _free_slots(self) -> int:
        while True:
            free = self._max_in_flight - len(self._tasks)
            if free > 0:
                return free
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def _start(self, msg: Msg) -> None:
        task = asyncio.create_task(self._tracked(msg))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and (exc := task.exception()) is not None:
            # Not acknowledged: the message comes back after ack_wait.
            log.error("message handling failed", durable=self._durable, error=repr(exc))

    async def _tracked(self, msg: Msg) -> None:
        self._in_flight[id(msg)] = msg
        try:
            await self._process(msg)
        finally:
            self._in_flight.pop(id(msg), None)

    async def _heartbeat(self) -> None:
        """In-progress acks for every message still being handled, well inside ``ack_wait``:
        a handler that waits (a slow peer, a large batch) never has its message redelivered
        to someone else meanwhile. One task per consumer, not one per message."""
        interval = max(self._settings.ack_wait_s / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            for msg in list(self._in_flight.values()):
                with contextlib.suppress(Exception):  # NATS away: the redelivery covers it
                    await msg.in_progress()

    def _subject_of(self, msg: Msg) -> str:
        """The subject a message counts as: a re-driven dead letter (on this consumer's
        re-drive subject) as the one it was dead-lettered from."""
        if msg.subject == self._redrive_subject:
            return (msg.headers or {}).get(HEADER_ORIGINAL_SUBJECT, msg.subject)
        return msg.subject

    async def _process(self, msg: Msg) -> None:
        delivered = msg.metadata.num_delivered or 1
        subject = self._subject_of(msg)
        CONSUMER_DELIVERIES.labels(self._service, subject).inc()
        if delivered > 1:
            CONSUMER_REDELIVERIES.labels(self._service, subject).inc()
        try:
            envelope, payload = contracts.unwrap(msg.data)
        except contracts.PoisonMessage as poison:
            await self._dead_letter(msg, poison.reason, poison.detail, delivered)
            return
        expected_subject = contracts.event_types()[envelope.event_type].subject
        handler = self._handlers.get(envelope.event_type)
        if handler is None or expected_subject != subject:
            await self._dead_letter(
                msg,
                "UNEXPECTED_EVENT_TYPE",
                f"{envelope.event_type} on {subject}",
                delivered,
            )
            return
        # NUL or oversized fields would fail in the handler's database on every delivery.
        if bad := input_rules.event_violations(envelope, payload):
            await self._dead_letter(msg, "INVALID_CONTENT", input_rules.describe(bad), delivered)
            return
        context = EventContext(
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            subject=subject,
            correlation_id=envelope.correlation_id or envelope.event_id,
            causation_id=envelope.causation_id,
            source=envelope.source,
            occurred_at=envelope.occurred_at.ToDatetime(),
            delivery=delivered,
        )
        bind_correlation(context.correlation_id, event_id=context.event_id)
        try:
            await tracing.traced(handler, envelope, subject, self._durable, delivered)(context, payload)
        except contracts.PoisonMessage as poison:
            await self._dead_letter(msg, poison.reason, poison.detail, delivered)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._after_failure(msg, context, exc, delivered)
            return
        self._failures.forget(_sequence(msg))
        try:
            await msg.ack()
        except Exception as exc:
            # NATS went away between the effect and the ack: the message comes back and the
            # handler's idempotence (processed_events, derived event ids) absorbs the repeat.
            log.warning("ack failed, the message will be redelivered", event_type=context.event_type, error=repr(exc))

    async def _after_failure(self, msg: Msg, context: EventContext, exc: Exception, delivered: int) -> None:
        """Transient: retry indefinitely with capped exponential backoff, never counted.
        Invalid input: dead letter now. Anything else: dead letter on the max_deliver-th time."""
        kind = failures.classify(exc)
        if kind is failures.Kind.TRANSIENT:
            CONSUMER_TRANSIENT_FAILURES.labels(self._service, context.subject).inc()
            delay = self.transient_delay(delivered)
            log.warning(
                "dependency unavailable, will retry",
                event_type=context.event_type,
                delivery=delivered,
                retry_in_s=delay,
                error=repr(exc),
            )
            await self._nak(msg, delay)
            return
        if kind is failures.Kind.INVALID:
            await self._dead_letter(msg, "INVALID_DATA", repr(exc), delivered)
            return
        # Counted here, not taken from JetStream's num_delivered: that counts transient
        # failures too, and an outage must never use up a message's attempts. The count
        # lives in this process's memory, keyed by stream sequence: a restart (or another
        # replica) starts it again, so a message that keeps failing may get more than
        # max_deliver attempts — but it is never dead-lettered early, which is the
        # mistake that strands a batch. A durable count would cost a write per failure
        # on a store that may itself be the thing that is down.
        failed = self._failures.record(_sequence(msg))
        if failed >= self._settings.max_deliver:
            await self._dead_letter(msg, "MAX_DELIVERIES_EXCEEDED", repr(exc), delivered)
            return
        steps = self._settings.redelivery_backoff_s or (1.0,)
        delay = steps[min(failed - 1, len(steps) - 1)]
        log.warning(
            "handler failed, will retry",
            event_type=context.event_type,
            delivery=delivered,
            failures=failed,
            retry_in_s=delay,
            error=repr(exc),
        )
        await self._nak(msg, delay)

    def transient_delay(self, delivered: int) -> float:
        """initial * 2**(delivery - 1), capped at the configured maximum (never above 60 s)."""
        cap = min(self._settings.transient_backoff_max_s, TRANSIENT_BACKOFF_CEILING_S)
        exponent = min(max(delivered - 1, 0), 30)
        return float(min(self._settings.transient_backoff_initial_s * 2**exponent, cap))

    @staticmethod
    async def _nak(msg: Msg, delay: float) -> None:
        # When the nak itself cannot reach NATS the message comes back after ack_wait anyway.
        with contextlib.suppress(Exception):
            await msg.nak(delay=delay)

    async def _dead_letter(self, msg: Msg, reason: str, detail: str, delivered: int) -> None:
        subject = self._subject_of(msg)
        sequence = _sequence(msg)
        headers = {
            HEADER_REASON: reason,
            HEADER_DETAIL: detail[:1000].replace("\r", " ").replace("\n", " "),
            # The subject it came on, even when it was a re-drive: it can be re-driven again.
            HEADER_ORIGINAL_SUBJECT: subject,
            HEADER_DELIVERY_COUNT: str(delivered),
            HEADER_CONSUMER: self._durable,
            # One dead letter per stream message, even if this publish is repeated.
            "Nats-Msg-Id": f"dlq:{self._durable}:{sequence}",
        }
        try:
            await self._js.publish(contracts.dlq_subject(self._service), msg.data or b"", headers=headers)
        except Exception as exc:
            # The dead letter could not be written (NATS down, or the dead letters are full and
            # refuse new ones): the message must not be lost, so it is left to come back; the
            # next delivery decides again (the failure count is kept) and the Nats-Msg-Id
            # above keeps a repeated publish to one letter.
            log.warning("dead letter not written, will retry", subject=subject, reason=reason, error=repr(exc))
            await self._nak(msg, self.transient_delay(delivered))
            return
        CONSUMER_DEAD_LETTERS.labels(self._service, subject, reason).inc()
        log.error("dead-lettering message", subject=subject, reason=reason, detail=detail[:500])
        self._failures.forget(sequence)
        with contextlib.suppress(Exception):  # a lost term only means one more delivery, deduplicated above
            await msg.term()


def _sequence(msg: Msg) -> int:
    return msg.metadata.sequence.stream if msg.metadata.sequence else 0


class FailureCounts:
    """Non-transient failures per stream sequence, for the messages failing right now."""

    def __init__(self, kept: int = FAILURE_COUNTS_KEPT) -> None:
        self._counts: OrderedDict[int, int] = OrderedDict()
        self._kept = kept

    def record(self, sequence: int) -> int:
        count = self._counts.pop(sequence, 0) + 1
        self._counts[sequence] = count
        while len(self._counts) > self._kept:
            self._counts.popitem(last=False)
        return count

    def forget(self, sequence: int) -> None:
        self._counts.pop(sequence, None)


def transactional(
    pool: asyncpg.Pool,
    consumer: str,
    effect: Callable[[asyncpg.Connection, EventContext, Message], Awaitable[None]],
) -> Handler:
    """A handler whose effect and the ``processed_events`` row commit together:
    an event delivered twice acts once."""

    async def handle(context: EventContext, payload: Message) -> None:
        async with pool.acquire() as conn, conn.transaction():
            first_time = await conn.fetchval(
                "INSERT INTO processed_events (consumer, event_id, event_type) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING RETURNING true",
                consumer,
                context.event_id,
                context.event_type,
            )
            if not first_time:
                CONSUMER_DUPLICATES.labels(consumer, context.subject).inc()
                return
            await effect(conn, context, payload)

    return handle


async def publish_caused(
    js: JetStreamContext,
    context: EventContext,
    payload: Message,
    *,
    source: str,
    discriminators: tuple[str, ...] = (),
) -> str:
    """How a stateless relay (ELS, NLP) publishes what an event caused: the event id
    is derived from the cause, so a redelivery republishes the same id and JetStream
    drops it. Returns once JetStream acknowledged (ack the cause only after)."""
    event_id = contracts.derived_event_id(context.event_id, type(payload), *discriminators)
    await publish(
        js,
        payload,
        source=source,
        correlation_id=context.correlation_id,
        causation_id=context.event_id,
        event_id=event_id,
    )
    return event_id


async def publish(
    js: JetStreamContext,
    payload: Message,
    *,
    source: str,
    correlation_id: str,
    causation_id: str = "",
    event_id: str | None = None,
) -> str:
    """Publish one event directly (services without a database) and wait for the PubAck."""
    event = contracts.seal(
        payload, source=source, correlation_id=correlation_id, causation_id=causation_id, event_id=event_id
    )
    await bus.publish_sealed(js, event)
    return event.event_id
