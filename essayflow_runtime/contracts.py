"""What proto declares about events, read once from the descriptors.

Each event message in ``essayflow.events.v1`` names its NATS subject with the
``(essayflow.common.v1.event_subject)`` option; this module is the only place that
reads it. Nothing else in Python spells a subject or an event type.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from types import ModuleType

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import DecodeError, Message

import essayflow.events.v1 as events_package
from essayflow.common.v1 import options_pb2
from essayflow.events.v1 import envelope_pb2
from essayflow_runtime import tracing
from essayflow_runtime.errors import InvalidArgument

DLQ_SUBJECT_PREFIX = "essayflow.dlq"
# A re-driven dead letter goes back to its one consumer on ``essayflow.redrive.<durable>``.
REDRIVE_SUBJECT_PREFIX = "essayflow.redrive"
# Namespace of deterministic (name-based) event ids.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1b2e-5d0e-4c55-9a43-6a1f0c9e7d21")

EventEnvelope = envelope_pb2.EventEnvelope

# NATS's default max_payload: what a sealed event may weigh until a connection tells
# the server's own (see set_max_payload).
DEFAULT_MAX_PAYLOAD = 1024 * 1024
# Kept free below max_payload for headers: Nats-Msg-Id, and a dead letter's reason,
# detail (up to 1,000 characters), subject and consumer, so that any event that could
# be published can also be dead-lettered.
HEADER_ROOM = 4096
_max_payload = DEFAULT_MAX_PAYLOAD


class PoisonMessage(Exception):
    """A message that can never be handled: it goes to the dead-letter subject."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class EventTooLarge(InvalidArgument):
    """A sealed event the bus would refuse: the request that would produce it is refused
    before anything commits (INVALID_ARGUMENT through the gRPC interceptor)."""


def set_max_payload(max_payload: int) -> None:
    """Called once connected: the server's max_payload bounds every event sealed from now on."""
    global _max_payload
    _max_payload = max_payload if max_payload > 0 else DEFAULT_MAX_PAYLOAD


def max_event_bytes() -> int:
    return max(_max_payload - HEADER_ROOM, 0)


@dataclass(frozen=True)
class EventType:
    message_class: type[Message]
    full_name: str
    subject: str
    producer: str
    consumers: tuple[str, ...]


def event_modules() -> list[ModuleType]:
    """Every generated module of ``essayflow.events.v1``: a new events file needs no list here."""
    names = sorted(m.name for m in pkgutil.iter_modules(events_package.__path__) if m.name.endswith("_pb2"))
    return [importlib.import_module(f"{events_package.__name__}.{name}") for name in names]


@cache
def event_types() -> dict[str, EventType]:
    """Every event message that declares a subject, by full proto name."""
    found: dict[str, EventType] = {}
    for module in event_modules():
        for desc in module.DESCRIPTOR.message_types_by_name.values():
            options = desc.GetOptions()
            subject = options.Extensions[options_pb2.event_subject]
            if subject:
                found[desc.full_name] = EventType(
                    message_class=getattr(module, desc.name),
                    full_name=desc.full_name,
                    subject=subject,
                    producer=options.Extensions[options_pb2.event_producer],
                    consumers=tuple(options.Extensions[options_pb2.event_consumers]),
                )
    return found


def event_type_of(message_class: type[Message]) -> EventType:
    name = message_class.DESCRIPTOR.full_name
    try:
        return event_types()[name]
    except KeyError:
        raise ValueError(f"{name} is not an event (it declares no event_subject)") from None


def subject_of(message_class: type[Message]) -> str:
    return event_type_of(message_class).subject


def all_subjects() -> list[str]:
    return sorted(t.subject for t in event_types().values())


def dlq_subject(service: str) -> str:
    return f"{DLQ_SUBJECT_PREFIX}.{service}"


def redrive_subject(durable: str) -> str:
    """Where a dead letter of consumer ``durable`` is re-driven: only that consumer listens."""
    return f"{REDRIVE_SUBJECT_PREFIX}.{durable}"


def durable_name(service: str) -> str:
    """The durable consumer a service reads the events stream with."""
    return f"{service}-events"


def consuming_services() -> list[str]:
    """Every service that proto declares as a consumer of some event."""
    return sorted({service for t in event_types().values() for service in t.consumers})


def consumed_by(service: str) -> list[EventType]:
    """The events proto declares ``service`` consumes, by subject."""
    return sorted((t for t in event_types().values() if service in t.consumers), key=lambda t: t.subject)


def new_event_id() -> str:
    return str(uuid.uuid4())


def derived_event_id(causation_id: str, output: type[Message], *discriminators: str) -> str:
    """A name-based id for an event caused by another: a redelivery of the cause
    derives the same id, so JetStream drops the second publish."""
    name = ":".join((causation_id, output.DESCRIPTOR.full_name, *discriminators))
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def timestamp(moment: datetime | None = None) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment or datetime.now(UTC))
    return ts


@dataclass(frozen=True)
class SealedEvent:
    """An event in its envelope, serialized: what goes on the wire, or into an outbox row."""

    event_id: str
    subject: str
    event_type: str
    data: bytes


def seal(
    payload: Message,
    *,
    source: str,
    correlation_id: str,
    causation_id: str = "",
    event_id: str | None = None,
) -> SealedEvent:
    """:func:`wrap` ``payload`` and serialize the envelope, with the subject it goes to."""
    envelope = wrap(payload, source=source, correlation_id=correlation_id, causation_id=causation_id, event_id=event_id)
    event_type = event_type_of(type(payload))
    # The trace context of the RPC or handler that writes the event (in its transaction, for the outbox).
    tracing.stamp(envelope, event_type.subject)
    data = envelope.SerializeToString()
    if len(data) > max_event_bytes():
        raise EventTooLarge(
            f"the {event_type.full_name} event this would publish is {len(data)} bytes; "
            f"the bus takes at most {max_event_bytes()}",
            reason="EVENT_TOO_LARGE",
            metadata={"event_type": event_type.full_name, "size": str(len(data)), "limit": str(max_event_bytes())},
        )
    return SealedEvent(envelope.event_id, event_type.subject, event_type.full_name, data)


def wrap(
    payload: Message,
    *,
    source: str,
    correlation_id: str,
    causation_id: str = "",
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> EventEnvelope:
    """Put an event payload in its envelope."""
    event_type = event_type_of(type(payload))
    packed = any_pb2.Any()
    packed.Pack(payload, type_url_prefix="type.googleapis.com/")
    return EventEnvelope(
        event_id=event_id or new_event_id(),
        event_type=event_type.full_name,
        correlation_id=correlation_id,
        causation_id=causation_id,
        occurred_at=timestamp(occurred_at),
        source=source,
        payload=packed,
    )


def unwrap(data: bytes) -> tuple[EventEnvelope, Message]:
    """Decode an envelope and its payload, or raise PoisonMessage saying why not."""
    envelope = EventEnvelope()
    try:
        envelope.ParseFromString(data)
    except DecodeError as exc:
        raise PoisonMessage("UNDECODABLE_ENVELOPE", str(exc)) from exc
    if not envelope.event_id:
        raise PoisonMessage("MISSING_EVENT_ID")
    event_type = event_types().get(envelope.event_type)
    if event_type is None:
        raise PoisonMessage("UNKNOWN_EVENT_TYPE", envelope.event_type)
    payload = event_type.message_class()
    if not envelope.payload.Is(payload.DESCRIPTOR):
        raise PoisonMessage(
            "PAYLOAD_TYPE_MISMATCH",
            f"{envelope.event_type} envelope carries {envelope.payload.type_url}",
        )
    try:
        envelope.payload.Unpack(payload)
    except DecodeError as exc:
        raise PoisonMessage("UNDECODABLE_PAYLOAD", str(exc)) from exc
    return envelope, payload
