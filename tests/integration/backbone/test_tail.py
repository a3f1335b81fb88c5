"""`essayflow events tail` prints events decoded through the descriptors, and dead letters with their reason."""

from __future__ import annotations

import dataclasses
import json

import nats

from essayflow.events.v1 import bos_events_pb2
from essayflow_cli.tail import tail
from essayflow_runtime import bus, contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import HEADER_DELIVERY_COUNT, HEADER_ORIGINAL_SUBJECT, HEADER_REASON, publish
from essayflow_runtime.embedded import EmbeddedNats


async def test_tail_decodes_events_and_dead_letters(settings: Settings, private_nats: EmbeddedNats) -> None:
    own = dataclasses.replace(settings, nats_url=private_nats.url)
    client = await nats.connect(own.nats_url)
    try:
        js = client.jetstream()
        await bus.ensure_streams(own, js)
        event_id = await publish(
            js,
            bos_events_pb2.BatchEssaysRegistered(batch_id="b-1", expected_essay_count=2),
            source="bos",
            correlation_id="flow-1",
        )
        subject = contracts.subject_of(bos_events_pb2.BatchEssaysRegistered)
        await js.publish(
            contracts.dlq_subject("els"),
            b"\x00not an envelope",
            headers={
                HEADER_REASON: "UNDECODABLE_ENVELOPE",
                HEADER_ORIGINAL_SUBJECT: subject,
                HEADER_DELIVERY_COUNT: "1",
            },
        )
    finally:
        await client.close()

    lines: list[str] = []
    assert await tail(own, from_start=True, limit=1, emit=lines.append) == 1
    assert await tail(own, dead_letters=True, from_start=True, limit=1, emit=lines.append) == 1
    event, letter = (json.loads(line) for line in lines)
    assert event["event_type"] == "essayflow.events.v1.BatchEssaysRegistered"
    assert event["event_id"] == event_id and event["correlation_id"] == "flow-1"
    assert event["payload"] == {"batch_id": "b-1", "expected_essay_count": 2}
    assert letter["dead_letter"]["reason"] == "UNDECODABLE_ENVELOPE"
    assert letter["dead_letter"]["original_subject"] == subject
    assert letter["undecodable"] == "UNDECODABLE_ENVELOPE"
