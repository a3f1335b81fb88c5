"""`essayflow events redrive`: dead letters listed by service, subject, reason, event id
and time, a dry run first, then re-driven to their consumer once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import nats
import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext

from essayflow.events.v1 import els_events_pb2
from essayflow_cli import redrive
from essayflow_runtime import bus, contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import Consumer, EventContext, publish
from essayflow_runtime.embedded import EmbeddedNats
from tests.support import eventually

READY = els_events_pb2.BatchEssaysReady
COMPLETED = els_events_pb2.BatchContentProvisioningCompleted


@pytest.fixture
def own(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(settings, nats_url=private_nats.url)


@pytest.fixture
async def js(own: Settings) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(own.nats_url)
    context = client.jetstream()
    await bus.ensure_streams(own, context)
    try:
        yield context
    finally:
        await client.close()


@dataclass
class Bos:
    """A BOS consumer whose handler has a bug for some batches until it is fixed."""

    broken: set[str]
    handled: list[tuple[str, str]]  # (event id, subject as the handler saw it)

    async def handle(self, context: EventContext, payload: Message) -> None:
        batch_id = getattr(payload, "batch_id", "")
        if batch_id in self.broken:
            raise contracts.PoisonMessage("HANDLER_BUG", f"cannot handle {batch_id}")
        self.handled.append((context.event_id, context.subject))


@pytest.fixture
async def bos(own: Settings, js: JetStreamContext) -> AsyncIterator[Bos]:
    state = Bos(broken=set(), handled=[])
    consumer = Consumer(own, js, service="bos", handlers={READY: state.handle, COMPLETED: state.handle})
    task = asyncio.create_task(consumer.run())
    try:
        yield state
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=10)


async def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """The real command in its own process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "essayflow_cli.main",
        "events",
        "redrive",
        *args,
        env={**os.environ, "ESSAYFLOW_NATS_URL": settings.nats_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def dead_letters(settings: Settings, js: JetStreamContext, **criteria: object) -> list[redrive.DeadLetter]:
    return await redrive.list_dead_letters(settings, js, redrive.Selection(**criteria))  # type: ignore[arg-type]


async def test_dead_letters_are_selected_dry_run_first_and_re_driven_once(
    own: Settings, js: JetStreamContext, bos: Bos
) -> None:
    batches = [str(uuid.uuid4()) for _ in range(3)]
    bos.broken.update(batches)
    ready_ids = [
        await publish(js, READY(batch_id=b), source="els", correlation_id=b) for b in batches[:2]
    ]
    completed_id = await publish(js, COMPLETED(batch_id=batches[2]), source="els", correlation_id=batches[2])
    # Another service's dead letter, made the way its consumer makes them.
    await js.publish(
        contracts.dlq_subject("nlp"),
        b"\x00not an envelope",
        headers={"Essayflow-Dlq-Reason": "UNDECODABLE_ENVELOPE", "Essayflow-Original-Subject": "x.y"},
    )
    await eventually(lambda: _count(own, js, 4), message="dead letters not made")

    # Selection by each criterion.
    assert {d.event_id for d in await dead_letters(own, js, service="bos")} == {*ready_ids, completed_id}
    by_subject = await dead_letters(own, js, subject=contracts.subject_of(READY))
    assert sorted(d.event_id for d in by_subject) == sorted(ready_ids)
    assert [d.event_id for d in await dead_letters(own, js, subject="essayflow.els.batch.content.>")] == [completed_id]
    assert [d.service for d in await dead_letters(own, js, reason="UNDECODABLE_ENVELOPE")] == ["nlp"]
    assert [d.event_id for d in await dead_letters(own, js, event_ids=frozenset({completed_id}))] == [completed_id]
    now = datetime.now(UTC)
    assert len(await dead_letters(own, js, since=now - timedelta(minutes=5))) == 4
    assert await dead_letters(own, js, since=now + timedelta(minutes=5)) == []
    assert await dead_letters(own, js, until=now - timedelta(minutes=5)) == []
    letter = (await dead_letters(own, js, event_ids=frozenset({ready_ids[0]})))[0]
    assert letter.reason == "HANDLER_BUG" and letter.durable == "bos-events"
    assert letter.original_subject == contracts.subject_of(READY)

    # A dry run lists and changes nothing.
    code, out, _ = await cli(own, "--service", "bos", "--output", "json")
    report = json.loads(out)
    assert code == 0 and report["dry_run"] and report["matched"] == 3 and report["redriven"] == 0
    assert {d["event_id"] for d in report["dead_letters"]} == {*ready_ids, completed_id}
    code, out, _ = await cli(own, "--service", "bos")
    assert code == 0 and "would be re-driven" in out
    assert len(await dead_letters(own, js)) == 4 and bos.handled == []

    # The bug fixed: re-drive the BatchEssaysReady ones.
    bos.broken.clear()
    code, out, _ = await cli(own, "--subject", contracts.subject_of(READY), "--yes", "--output", "json")
    report = json.loads(out)
    assert code == 0 and report["redriven"] == 2 and not report["dry_run"]
    await eventually(lambda: _handled(bos, 2), message="re-driven events not handled")
    # Handled as if they had come on their own subject.
    assert sorted(bos.handled) == sorted((i, contracts.subject_of(READY)) for i in ready_ids)
    assert [d.event_id for d in await dead_letters(own, js, service="bos")] == [completed_id]

    # A second re-drive finds nothing and does nothing.
    code, out, _ = await cli(own, "--subject", contracts.subject_of(READY), "--execute", "--output", "json")
    assert code == 0 and json.loads(out)["matched"] == 0
    code, out, _ = await cli(own, "--subject", contracts.subject_of(READY), "--yes")
    assert code == 0 and "no dead letters match" in out
    assert len(bos.handled) == 2


async def test_a_redrive_that_fails_again_is_dead_lettered_again_and_can_be_re_driven_later(
    own: Settings, js: JetStreamContext, bos: Bos
) -> None:
    batch = str(uuid.uuid4())
    bos.broken.add(batch)
    event_id = await publish(js, READY(batch_id=batch), source="els", correlation_id=batch)
    await eventually(lambda: _count(own, js, 1), message="not dead-lettered")
    code, _, _ = await cli(own, "--yes")  # still broken
    assert code == 0
    [again] = await eventually(lambda: dead_letters(own, js), message="not dead-lettered again")
    assert again.event_id == event_id and again.original_subject == contracts.subject_of(READY)
    bos.broken.clear()
    code, _, _ = await cli(own, "--event-id", event_id, "--yes")
    assert code == 0
    await eventually(lambda: _handled(bos, 1), message="not handled after the second re-drive")
    assert bos.handled == [(event_id, contracts.subject_of(READY))]


async def test_usage_errors_exit_2_and_an_unreachable_nats_exits_1(own: Settings) -> None:
    code, _, err = await cli(own, "--output", "yaml")
    assert code == 2 and "table or json" in err
    code, _, err = await cli(own, "--since", "yesterday-ish")
    assert code == 2 and "--since" in err
    unreachable = dataclasses.replace(own, nats_url="nats://127.0.0.1:1")
    code, _, err = await cli(unreachable)
    assert code == 1 and "cannot read the dead letters" in err and "Traceback" not in err


def test_subject_patterns_and_moments() -> None:
    assert redrive.subject_matches("essayflow.els.>", "essayflow.els.batch.essays.ready.v1")
    assert redrive.subject_matches("essayflow.*.batch.essays.ready.v1", "essayflow.els.batch.essays.ready.v1")
    assert not redrive.subject_matches("essayflow.els.*", "essayflow.els.batch.essays.ready.v1")
    assert not redrive.subject_matches("essayflow.els.>", "essayflow.els")
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert redrive.parse_moment("15m", now) == now - timedelta(minutes=15)
    assert redrive.parse_moment("2026-01-01T10:00:00", now) == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        redrive.parse_moment("soon", now)


async def _count(settings: Settings, js: JetStreamContext, count: int) -> bool:
    return (await js.stream_info(settings.dlq_stream_name)).state.messages == count


async def _handled(bos: Bos, count: int) -> bool:
    return len(bos.handled) >= count
