"""``essayflow events tail``: every event on the bus, decoded through the proto
descriptors, and the dead letters with their reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import nats
from google.protobuf.json_format import MessageToDict
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import HEADER_DELIVERY_COUNT, HEADER_ORIGINAL_SUBJECT, HEADER_REASON


def describe(msg: Msg) -> dict[str, object]:
    """A JSON-ready view of one message (event or dead letter)."""
    headers = msg.headers or {}
    view: dict[str, object] = {"subject": msg.subject}
    if HEADER_REASON in headers:
        view["dead_letter"] = {
            "reason": headers[HEADER_REASON],
            "original_subject": headers.get(HEADER_ORIGINAL_SUBJECT),
            "delivery_count": headers.get(HEADER_DELIVERY_COUNT),
        }
    try:
        envelope, payload = contracts.unwrap(msg.data or b"")
    except contracts.PoisonMessage as poison:
        view["undecodable"] = poison.reason
        view["bytes"] = len(msg.data or b"")
        return view
    view.update(
        event_type=envelope.event_type,
        event_id=envelope.event_id,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        source=envelope.source,
        occurred_at=envelope.occurred_at.ToJsonString(),
        payload=MessageToDict(payload, preserving_proto_field_name=True),
    )
    return view


async def tail(
    settings: Settings,
    subject: str = ">",
    *,
    dead_letters: bool = False,
    from_start: bool = False,
    limit: int | None = None,
    emit: Callable[[str], None] = print,
) -> int:
    client = await nats.connect(settings.nats_url)
    js = client.jetstream()
    stream = settings.dlq_stream_name if dead_letters else settings.stream_name
    if subject == ">":
        subject = f"{contracts.DLQ_SUBJECT_PREFIX}.>" if dead_letters else ">"
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL if from_start else DeliverPolicy.NEW)
    seen = 0
    done = asyncio.Event()

    async def on_message(msg: Msg) -> None:
        nonlocal seen
        emit(json.dumps(describe(msg), ensure_ascii=False))
        seen += 1
        if limit is not None and seen >= limit:
            done.set()

    subscription = await js.subscribe(subject, stream=stream, cb=on_message, config=config, ordered_consumer=True)
    try:
        await done.wait()
    except asyncio.CancelledError:
        pass
    finally:
        await subscription.unsubscribe()
        await client.close()
    return seen
