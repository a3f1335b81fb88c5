"""The matcher's suggestions arriving over JetStream: one row per essay, redelivery
changes nothing, auto-confirmation, and dead letters for what can never be stored."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import nlp_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.consumer import HEADER_REASON, transactional
from services.cms.handlers import CONSUMER, suggestions_effect
from tests.integration.cms.conftest import (
    Cms,
    event_context,
    new_id,
    outbox_confirmations,
    outbox_drained,
    stream_confirmations,
    suggestions,
)
from tests.support import eventually

S = common_pb2
SUGGESTED = contracts.subject_of(nlp_events_pb2.BatchAuthorMatchesSuggested)


async def _publish(
    js: JetStreamContext, event: nlp_events_pb2.BatchAuthorMatchesSuggested, event_id: str, msg_id: str | None = None
) -> None:
    envelope = contracts.wrap(event, source="nlp", correlation_id="corr-1", event_id=event_id)
    await js.publish(SUGGESTED, envelope.SerializeToString(), headers={"Nats-Msg-Id": msg_id or event_id})


async def _rows(cms: Cms, batch_id: str) -> list[tuple[object, ...]]:
    rows = await cms.pool.fetch(
        "SELECT essay_id, suggested_student_id, student_id, confidence_score, match_reasons, validation_status, "
        "validation_method, validated_by, validated_at FROM essay_student_associations WHERE batch_id = $1 "
        "ORDER BY essay_id",
        batch_id,
    )
    return [tuple(r.values()) for r in rows]


async def test_every_essay_gets_a_row_and_redelivery_changes_nothing(cms: Cms, js: JetStreamContext) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 2)
    batch_id, e = new_id(), [new_id() for _ in range(3)]
    event = suggestions(batch_id, class_id, [(e[0], st[0], 0.95), (e[1], None, 0.0), (e[2], st[1], 0.72)])
    event_id = contracts.new_event_id()
    await _publish(js, event, event_id)

    listed = await eventually(lambda: _listed(cms, batch_id))
    by_essay = {a.essay_id: a for a in listed.associations}
    assert set(by_essay) == set(e)
    assert all(a.status == S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION for a in by_essay.values())
    assert by_essay[e[1]].confidence_level == S.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH
    assert not by_essay[e[1]].HasField("student")
    assert by_essay[e[2]].confidence_level == S.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM
    before = await _rows(cms, batch_id)
    await cms.validate("teacher-1", batch_id, [cms_confirm(e[0])])
    decided = await _rows(cms, batch_id)

    # The same event again (a redelivery past the stream's duplicate check), and a second
    # suggestions event for the same batch: neither touches the stored rows or the decision.
    await _publish(js, event, event_id, msg_id=new_id())
    other_id = contracts.new_event_id()
    second = suggestions(batch_id, class_id, [(e[0], st[1], 0.99), (e[1], st[0], 0.99), (new_id(), st[0], 0.9)])
    await _publish(js, second, other_id)
    await eventually(lambda: _processed(cms, other_id))
    await eventually(lambda: _consumer_idle(js, cms))
    assert await _rows(cms, batch_id) == decided
    assert len(before) == len(decided) == 3
    assert await cms.pool.fetchval("SELECT count(*) FROM processed_events WHERE event_id = $1", event_id) == 1


def cms_confirm(essay_id: str) -> cms_pb2.AssociationDecision:
    return cms_pb2.AssociationDecision(essay_id=essay_id, confirm=cms_pb2.ConfirmDecision())


async def _listed(cms: Cms, batch_id: str) -> Any:
    exists = await cms.pool.fetchval("SELECT 1 FROM batch_validations WHERE batch_id = $1", batch_id)
    return await cms.associations("teacher-1", batch_id) if exists else None


async def _processed(cms: Cms, event_id: str) -> bool:
    return bool(await cms.pool.fetchval("SELECT 1 FROM processed_events WHERE event_id = $1", event_id))


async def _consumer_idle(js: JetStreamContext, cms: Cms) -> bool:
    info = await js.consumer_info(cms.settings.stream_name, "cms-events")
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def test_handler_acts_once_per_event(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 1)
    batch_id, essay = new_id(), new_id()
    handler = transactional(cms.pool, CONSUMER, suggestions_effect(cms.settings))
    context = event_context(contracts.new_event_id())
    await handler(context, suggestions(batch_id, class_id, [(essay, st[0], 0.8)]))
    first = await _rows(cms, batch_id)
    await handler(context, suggestions(batch_id, class_id, [(essay, None, 0.0)]))
    assert await _rows(cms, batch_id) == first


async def test_a_suggestion_naming_someone_outside_the_roster_is_no_suggestion(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    await cms.add_students("teacher-1", class_id, 1)
    stranger = S.Student(student_id=new_id(), first_name="X", last_name="Y", email="x@y.se")
    batch_id, essay = new_id(), new_id()
    await cms.receive_suggestions(suggestions(batch_id, class_id, [(essay, stranger, 0.99)]))
    [association] = (await cms.associations("teacher-1", batch_id)).associations
    assert association.confidence_level == S.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH
    assert association.status == S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION


async def test_auto_confirmation_confirms_high_suggestions_on_arrival(cms: Cms, js: JetStreamContext) -> None:
    class_id = await cms.create_class("teacher-1", auto_confirm=True)
    st = await cms.add_students("teacher-1", class_id, 3)

    mixed, e = new_id(), [new_id() for _ in range(3)]
    await cms.receive_suggestions(
        suggestions(mixed, class_id, [(e[0], st[0], 0.95), (e[1], st[1], 0.9), (e[2], None, 0)])
    )
    by_essay = {a.essay_id: a for a in (await cms.associations("teacher-1", mixed)).associations}
    assert by_essay[e[0]].status == S.STUDENT_ASSOCIATION_STATUS_CONFIRMED
    assert by_essay[e[0]].validation_method == S.ASSOCIATION_VALIDATION_METHOD_AUTO
    assert by_essay[e[0]].validated_by == "system:auto"
    assert by_essay[e[1]].status == S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION  # 0.9 is MEDIUM
    assert by_essay[e[2]].status == S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION
    assert await outbox_confirmations(cms.pool, [mixed]) == {}

    all_high = new_id()
    await cms.receive_suggestions(suggestions(all_high, class_id, [(new_id(), st[0], 0.97), (new_id(), st[1], 0.93)]))
    assert await outbox_confirmations(cms.pool, [all_high]) == {all_high: 1}
    await eventually(lambda: outbox_drained(cms.pool))
    [event] = (await stream_confirmations(js, [all_high]))[all_high]
    assert [(c.validation_method, c.count) for c in event.summary] == [(S.ASSOCIATION_VALIDATION_METHOD_AUTO, 2)]
    assert not event.timeout_triggered


async def test_auto_confirmation_is_off_by_default(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 1)
    batch_id = new_id()
    await cms.receive_suggestions(suggestions(batch_id, class_id, [(new_id(), st[0], 0.99)]))
    [association] = (await cms.associations("teacher-1", batch_id)).associations
    assert association.status == S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION


async def test_suggestions_for_an_unknown_class_are_dead_lettered(cms: Cms, js: JetStreamContext, nc: NATS) -> None:
    letters: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def collect(msg: object) -> None:
        await letters.put((msg.headers.get(HEADER_REASON, ""), msg.data))  # type: ignore[attr-defined]

    subscription = await nc.subscribe(contracts.dlq_subject("cms"), cb=collect)
    try:
        event_id = contracts.new_event_id()
        await _publish(js, suggestions(new_id(), new_id(), [(new_id(), None, 0)]), event_id)

        async def ours() -> str | None:
            while not letters.empty():
                reason, data = letters.get_nowait()
                if contracts.unwrap(data)[0].event_id == event_id:
                    return reason
            return None

        assert await eventually(ours) == "UNKNOWN_CLASS"
    finally:
        await subscription.unsubscribe()
    # And the service keeps serving.
    assert await cms.create_class("teacher-1")
