"""Gauges of the bus: each stream's fill, the dead letters per service, and each durable
consumer's backlog (pending, of it acknowledgement-pending and redelivered) with the age of
its oldest unprocessed event.

Every service with a consumer runs one :class:`BusStats` (service.start_service adds it),
reporting both streams and every declared durable consumer, not only its own: a stopped
service's backlog is exactly what must stay visible, and any running service shows it.
The figures are the same from every service; aggregate with max.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.api import StreamInfo
from nats.js.errors import NotFoundError

from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import (
    CONSUMER_ACK_PENDING,
    CONSUMER_OLDEST_AGE,
    CONSUMER_PENDING,
    CONSUMER_REDELIVERED,
    DEAD_LETTERS,
    STREAM_BYTES,
    STREAM_FILL,
    STREAM_MESSAGES,
)
from essayflow_runtime.periodic import Periodic

log = get_logger(__name__)


def fill_ratio(info: StreamInfo) -> float:
    """How full a stream is against its own limits (0 when it has none)."""
    ratios = [0.0]
    if info.config.max_bytes and info.config.max_bytes > 0:
        ratios.append(info.state.bytes / info.config.max_bytes)
    if info.config.max_msgs and info.config.max_msgs > 0:
        ratios.append(info.state.messages / info.config.max_msgs)
    return max(ratios)


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_age_s: float
    # Of ``pending``: delivered and not yet acknowledged, and of those, delivered more than once.
    ack_pending: int = 0
    redelivered: int = 0


async def consumer_backlog(js: JetStreamContext, stream: str, durable: str, now: datetime) -> Backlog:
    """Events not yet processed by ``durable`` and how long the oldest has waited: the
    first message on one of its subjects after its acknowledgement floor."""
    info = await js.consumer_info(stream, durable)
    ack_pending, redelivered = info.num_ack_pending or 0, info.num_redelivered or 0
    pending = (info.num_pending or 0) + ack_pending
    if not pending:
        return Backlog(0, 0.0, 0, redelivered)
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    subjects = info.config.filter_subjects or ([info.config.filter_subject] if info.config.filter_subject else [">"])
    times = []
    for subject in subjects:
        with contextlib.suppress(NotFoundError):
            message = await js.get_msg(stream, seq=floor + 1, subject=subject, next=True)
            if message.time is not None:
                times.append(message.time)
    oldest = min(times, default=now)
    return Backlog(pending, max(0.0, (now - oldest).total_seconds()), ack_pending, redelivered)


class BusStats:
    """The periodic worker that sets the gauges."""

    def __init__(self, settings: Settings, js: JetStreamContext, durables: Sequence[str]) -> None:
        self._settings = settings
        self._js = js
        declared = [contracts.durable_name(service) for service in contracts.consuming_services()]
        self._durables = sorted({*declared, *durables})
        self._warned: set[str] = set()
        # NATS away: a pass fails and the gauges keep their last values until the next.
        self._loop = Periodic("stream and consumer gauges", settings.bus_stats_interval_s, self.refresh)

    def stop(self) -> None:
        self._loop.stop()

    async def run(self) -> None:
        await self._loop.run()

    async def refresh(self) -> None:
        settings = self._settings
        for stream in (settings.stream_name, settings.dlq_stream_name):
            info = await self._js.stream_info(stream)
            self._report_stream(stream, info)
        dead = await self._js.stream_info(settings.dlq_stream_name, subjects_filter=f"{contracts.DLQ_SUBJECT_PREFIX}.>")
        for subject, count in (dead.state.subjects or {}).items():
            DEAD_LETTERS.labels(subject.removeprefix(f"{contracts.DLQ_SUBJECT_PREFIX}.")).set(count)
        for service in contracts.consuming_services():  # a service with none left reads 0
            if contracts.dlq_subject(service) not in (dead.state.subjects or {}):
                DEAD_LETTERS.labels(service).set(0)
        now = datetime.now(UTC)
        for durable in self._durables:
            backlog = await consumer_backlog(self._js, settings.stream_name, durable, now)
            CONSUMER_PENDING.labels(durable).set(backlog.pending)
            CONSUMER_OLDEST_AGE.labels(durable).set(backlog.oldest_age_s)
            CONSUMER_ACK_PENDING.labels(durable).set(backlog.ack_pending)
            CONSUMER_REDELIVERED.labels(durable).set(backlog.redelivered)

    def _report_stream(self, stream: str, info: StreamInfo) -> None:
        ratio = fill_ratio(info)
        STREAM_MESSAGES.labels(stream).set(info.state.messages)
        STREAM_BYTES.labels(stream).set(info.state.bytes)
        STREAM_FILL.labels(stream).set(ratio)
        if ratio >= self._settings.stream_fill_warning and stream not in self._warned:
            self._warned.add(stream)
            log.warning(
                "stream nearly full: at its limit it refuses new messages, which then wait and retry",
                stream=stream,
                fill=round(ratio, 3),
                messages=info.state.messages,
                bytes=info.state.bytes,
            )
        elif ratio < self._settings.stream_fill_warning and stream in self._warned:
            self._warned.discard(stream)
            log.info("stream below its fill warning again", stream=stream, fill=round(ratio, 3))
