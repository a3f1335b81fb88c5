"""`essayflow events tail` prints events decoded through the descriptors, and dead letters with
their reason; it stops at its limit, says when it waits, and rides out a lost NATS with one line."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import nats
import pytest

from essayflow.events.v1 import bos_events_pb2
from essayflow_cli.tail import NoNats, tail
from essayflow_runtime import bus, contracts
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.consumer import HEADER_DELIVERY_COUNT, HEADER_ORIGINAL_SUBJECT, HEADER_REASON, publish
from essayflow_runtime.embedded import EmbeddedNats, free_port


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


def _own_settings(url: str) -> Settings:
    return load_settings({}, nats_url=url)


async def _publish(url: str, count: int) -> list[str]:
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        await bus.ensure_streams(_own_settings(url), js)  # the durables keep what they have not taken
        return [
            await publish(
                js,
                bos_events_pb2.BatchEssaysRegistered(batch_id=f"b-{uuid.uuid4().hex[:6]}", expected_essay_count=1),
                source="bos",
                correlation_id="flow",
            )
            for _ in range(count)
        ]
    finally:
        await client.close()


async def _until(condition: Callable[[], bool], timeout_s: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_limit_holds_with_a_replay_too(private_nats: EmbeddedNats) -> None:
    published = await _publish(private_nats.url, 5)
    lines: list[str] = []
    notices: list[str] = []
    settings = _own_settings(private_nats.url)
    assert await tail(settings, from_start=True, limit=2, emit=lines.append, notify=notices.append) == 2
    assert [json.loads(line)["event_id"] for line in lines] == published[:2]
    assert any("replaying" in notice for notice in notices), notices


async def test_it_says_it_waits_and_stops_at_the_limit(private_nats: EmbeddedNats) -> None:
    await _publish(private_nats.url, 1)  # before the tail: not shown
    lines: list[str] = []
    notices: list[str] = []
    task = asyncio.create_task(
        tail(_own_settings(private_nats.url), limit=3, emit=lines.append, notify=notices.append)
    )
    await _until(lambda: any("waiting for events" in n for n in notices))
    published = await _publish(private_nats.url, 4)
    assert await asyncio.wait_for(task, 15) == 3
    assert [json.loads(line)["event_id"] for line in lines] == published[:3]


async def test_a_lost_nats_is_one_line_and_the_tail_resumes_without_repeats(private_nats: EmbeddedNats) -> None:
    await _publish(private_nats.url, 0)  # the streams exist
    lines: list[str] = []
    notices: list[str] = []
    task = asyncio.create_task(
        tail(
            _own_settings(private_nats.url), limit=2, emit=lines.append, notify=notices.append, retry_interval_s=0.2
        )
    )
    await _until(lambda: any("waiting for events" in n for n in notices))
    first = await _publish(private_nats.url, 1)
    await _until(lambda: len(lines) == 1)
    private_nats.stop()
    await _until(lambda: any("lost NATS" in n for n in notices))
    await asyncio.sleep(1.0)  # several reconnect attempts while it is down
    private_nats.start()  # the same port and store: the stream is still there
    await _until(lambda: any("reconnected" in n for n in notices))
    second = await _publish(private_nats.url, 1)
    assert await asyncio.wait_for(task, 20) == 2
    assert [json.loads(line)["event_id"] for line in lines] == first + second
    assert sum("lost NATS" in n for n in notices) == 1, notices
    assert len(notices) <= 4, notices  # waiting, lost, reconnected (no line per attempt)


async def test_nats_unreachable_at_first_is_one_line_then_it_connects(tmp_path: Path) -> None:
    port = free_port()
    lines: list[str] = []
    notices: list[str] = []
    task = asyncio.create_task(
        tail(
            _own_settings(f"nats://127.0.0.1:{port}"),
            limit=1,
            emit=lines.append,
            notify=notices.append,
            retry_interval_s=0.1,
        )
    )
    await _until(lambda: any("cannot reach NATS" in n for n in notices))
    # Said once, however many attempts fail: ten retry intervals more without a second line.
    await asyncio.sleep(1.0)
    assert sum("cannot reach NATS" in n for n in notices) == 1, notices
    server = EmbeddedNats(tmp_path / "late-nats", port=port).start()
    try:
        await _publish(server.url, 0)  # the streams exist
        await _until(lambda: any("waiting for events" in n for n in notices))
        published = await _publish(server.url, 1)
        assert await asyncio.wait_for(task, 15) == 1
        assert json.loads(lines[0])["event_id"] == published[0]
        assert any(n.startswith("connected to NATS") for n in notices), notices
    finally:
        if not task.done():
            task.cancel()
        server.stop()


async def test_no_nats_configured_is_an_error_not_a_traceback() -> None:
    with pytest.raises(NoNats, match="make run"):
        await tail(load_settings({}))
