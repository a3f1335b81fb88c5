"""Reading and writing events on the real stream, and waiting for them with a deadline."""

from __future__ import annotations

import uuid
from typing import TypeVar

from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from essayflow_runtime import contracts
from essayflow_runtime.config import Settings

T = TypeVar("T")
Event = tuple[contracts.EventEnvelope, Message]


async def publish_envelope(
    js: JetStreamContext, envelope: contracts.EventEnvelope, *, msg_id: str | None = None
) -> int:
    """Publish as a producer would; another ``msg_id`` makes JetStream store it again (a redelivery)."""
    subject = contracts.event_types()[envelope.event_type].subject
    ack = await js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": msg_id or envelope.event_id})
    return int(ack.seq)


def new_request_envelope(payload: Message, *, source: str = "els") -> contracts.EventEnvelope:
    return contracts.wrap(payload, source=source, correlation_id=str(uuid.uuid4()))


async def read_events(settings: Settings, js: JetStreamContext, message_class: type[Message]) -> list[Event]:
    """Every event of this type on the stream now."""
    messages = await _scan(js, contracts.subject_of(message_class), settings.stream_name)
    return [contracts.unwrap(m.data) for m in messages]


async def dead_letters_of(settings: Settings, js: JetStreamContext, service: str, data: bytes) -> list[dict[str, str]]:
    """Headers of the dead letters a service's consumer made of this message."""
    messages = await _scan(js, contracts.dlq_subject(service), settings.dlq_stream_name)
    return [dict(m.headers or {}) for m in messages if m.data == data]


async def _scan(js: JetStreamContext, subject: str, stream: str) -> list[Msg]:
    """Every message on a subject now (an ephemeral consumer, nothing acknowledged)."""
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=10.0)
    subscription = await js.pull_subscribe(subject, stream=stream, config=config)
    found: list[Msg] = []
    try:
        while ((await subscription.consumer_info()).num_pending or 0) > 0:
            try:
                found.extend(await subscription.fetch(256, timeout=1.0))
            except NatsTimeoutError:
                continue
    finally:
        await subscription.unsubscribe()
    return found


async def acknowledged_up_to(settings: Settings, js: JetStreamContext, durable: str, sequence: int) -> bool:
    """Whether the durable consumer has acknowledged every stream message up to ``sequence``."""
    info = await js.consumer_info(settings.stream_name, durable)
    return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= sequence
