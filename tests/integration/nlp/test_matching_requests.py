"""A matching request through the real NLP service: real nats-server, real object store, CMS over gRPC."""

from __future__ import annotations

import uuid

from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2, nlp_events_pb2
from essayflow_runtime import consumer, contracts
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService
from services.els.content_store import ContentStore
from tests.integration.nlp.conftest import RosterPeer
from tests.integration.nlp.events import (
    acknowledged_up_to,
    dead_letters_of,
    new_request_envelope,
    publish_envelope,
    read_events,
)
from tests.support import eventually

SUGGESTED = nlp_events_pb2.BatchAuthorMatchesSuggested
TEXTS = {
    "tova": "Namn: Tova Ekdahl\nKlass: 9B\n\nSkolan i framtiden\n\nDet här är en text om skolan och dess elever.",
    "ture": "Ture Wikström\n\nOm läxor\n\nMånga tycker att läxor är onödiga men jag håller inte med.",
    "nobody": "Om vintern\n\nSnön föll hela natten och morgonen var alldeles stilla.",
}


def roster(class_id: str) -> list[common_pb2.Student]:
    # Ids unique per test: every test shares one stream and one CMS peer per test.
    return [
        common_pb2.Student(student_id=f"{class_id}-tova", first_name="Tova", last_name="Ekdahl"),
        common_pb2.Student(student_id=f"{class_id}-ture", first_name="Ture", last_name="Wikström"),
        common_pb2.Student(student_id=f"{class_id}-alva", first_name="Alva", last_name="Berg"),
    ]


async def stored_essays(settings: Settings, js: JetStreamContext, *names: str) -> list[common_pb2.EssayRef]:
    store = ContentStore(js, settings.content_bucket)
    return [
        common_pb2.EssayRef(
            essay_id=str(uuid.uuid4()), text_storage_id=await store.put(TEXTS[name]), file_name=f"{name}.docx"
        )
        for name in names
    ]


def matching_request(class_id: str, essays: list[common_pb2.EssayRef]) -> els_events_pb2.BatchStudentMatchingRequested:
    return els_events_pb2.BatchStudentMatchingRequested(
        batch_id=str(uuid.uuid4()), class_id=class_id, course_code=common_pb2.COURSE_CODE_SV2, essays=essays
    )


async def suggestions_for(settings: Settings, js: JetStreamContext, batch_id: str) -> list[contracts.EventEnvelope]:
    events = await read_events(settings, js, SUGGESTED)
    return [envelope for envelope, payload in events if isinstance(payload, SUGGESTED) and payload.batch_id == batch_id]


async def the_suggestion(
    settings: Settings, js: JetStreamContext, batch_id: str
) -> tuple[contracts.EventEnvelope, nlp_events_pb2.BatchAuthorMatchesSuggested]:
    [envelope] = await eventually(lambda: suggestions_for(settings, js, batch_id), message=f"suggestion for {batch_id}")
    _, payload = contracts.unwrap(envelope.SerializeToString())
    assert isinstance(payload, SUGGESTED)
    return envelope, payload


async def test_a_request_event_becomes_one_suggestion_event(
    nlp: RunningService, roster_peer: RosterPeer, settings: Settings, js: JetStreamContext
) -> None:
    class_id = f"class-{uuid.uuid4()}"
    roster_peer.rosters[class_id] = roster(class_id)
    essays = await stored_essays(settings, js, "tova", "ture", "nobody")
    request = matching_request(class_id, essays)
    envelope = new_request_envelope(request)
    await publish_envelope(js, envelope)

    published, suggested = await the_suggestion(settings, js, request.batch_id)

    assert published.event_id == contracts.derived_event_id(envelope.event_id, SUGGESTED)
    assert (published.causation_id, published.correlation_id, published.source) == (
        envelope.event_id,
        envelope.correlation_id,
        "nlp",
    )
    assert (suggested.class_id, suggested.course_code) == (class_id, common_pb2.COURSE_CODE_SV2)
    assert [r.essay_id for r in suggested.results] == [e.essay_id for e in essays]
    tova, ture, nobody = suggested.results
    assert tova.suggestions[0].student == roster(class_id)[0]
    assert tova.suggestions[0].confidence_level == common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
    assert tova.suggestions[0].match_reasons[0].signal == "header_label"
    assert ture.suggestions[0].student.student_id == f"{class_id}-ture"
    assert not nobody.suggestions
    assert nobody.no_match_reason == common_pb2.NO_MATCH_REASON_NO_CANDIDATES
    # The roster came from CMS, asked with a service token of the matcher.
    [(_, caller)] = [c for c in roster_peer.callers if c[0] == class_id]
    assert (caller.subject, caller.role) == ("nlp", Role.SERVICE)


async def test_a_missing_text_is_reported_for_that_essay_and_the_others_are_matched(
    nlp: RunningService, roster_peer: RosterPeer, settings: Settings, js: JetStreamContext
) -> None:
    class_id = f"class-{uuid.uuid4()}"
    roster_peer.rosters[class_id] = roster(class_id)
    essays = await stored_essays(settings, js, "tova", "ture")
    never_stored = common_pb2.EssayRef(essay_id=str(uuid.uuid4()), text_storage_id="ab" * 32, file_name="lost.docx")
    request = matching_request(class_id, [essays[0], never_stored, essays[1]])
    await publish_envelope(js, new_request_envelope(request))

    _, suggested = await the_suggestion(settings, js, request.batch_id)

    tova, lost, ture = suggested.results
    assert tova.suggestions[0].student.student_id == f"{class_id}-tova"
    assert ture.suggestions[0].student.student_id == f"{class_id}-ture"
    assert lost.essay_id == never_stored.essay_id
    assert not lost.suggestions
    assert lost.no_match_reason == common_pb2.NO_MATCH_REASON_TEXT_UNAVAILABLE
    assert never_stored.text_storage_id in lost.detail


async def test_a_redelivered_request_publishes_no_second_suggestion(
    nlp: RunningService, roster_peer: RosterPeer, settings: Settings, js: JetStreamContext
) -> None:
    class_id = f"class-{uuid.uuid4()}"
    roster_peer.rosters[class_id] = roster(class_id)
    request = matching_request(class_id, await stored_essays(settings, js, "tova"))
    envelope = new_request_envelope(request)
    await publish_envelope(js, envelope)
    await the_suggestion(settings, js, request.batch_id)

    # The same event stored a second time (as a producer retrying after a lost PubAck past the window would).
    again = await publish_envelope(js, envelope, msg_id=f"{envelope.event_id}-again")
    await eventually(lambda: acknowledged_up_to(settings, js, "nlp-events", again), message="redelivery handled")

    assert roster_peer.calls_for(class_id) == 2, "the second copy was really handled"
    published = await suggestions_for(settings, js, request.batch_id)
    assert len(published) == 1
    assert published[0].event_id == contracts.derived_event_id(envelope.event_id, SUGGESTED)


async def test_a_roster_down_past_the_in_place_retries_is_fetched_on_redelivery(
    nlp: RunningService, roster_peer: RosterPeer, settings: Settings, js: JetStreamContext
) -> None:
    class_id = f"class-{uuid.uuid4()}"
    roster_peer.rosters[class_id] = roster(class_id)
    roster_peer.down_for[class_id] = 4  # more than one delivery's three attempts
    request = matching_request(class_id, await stored_essays(settings, js, "tova"))
    await publish_envelope(js, new_request_envelope(request))

    _, suggested = await the_suggestion(settings, js, request.batch_id)

    assert suggested.results[0].suggestions[0].student.student_id == f"{class_id}-tova"
    assert roster_peer.calls_for(class_id) == 5


async def test_a_roster_down_past_the_old_delivery_limit_is_waited_for_not_reported_unavailable(
    nlp: RunningService, roster_peer: RosterPeer, settings: Settings, js: JetStreamContext
) -> None:
    """CMS down for four times the delivery limit's worth of fetches (the old code reported
    ROSTER_UNAVAILABLE after max_deliver deliveries): the request waits and is matched."""
    class_id = f"class-{uuid.uuid4()}"
    roster_peer.rosters[class_id] = roster(class_id)
    outage = 4 * 3 * settings.max_deliver  # three fetches per delivery
    roster_peer.down_for[class_id] = outage
    essays = await stored_essays(settings, js, "tova", "ture")
    request = matching_request(class_id, essays)
    envelope = new_request_envelope(request)
    await publish_envelope(js, envelope)

    _, suggested = await eventually(
        lambda: _suggestion_if_any(settings, js, request.batch_id), timeout_s=90, message="matched after the outage"
    )

    assert roster_peer.calls_for(class_id) == outage + 1
    assert [r.suggestions[0].student.student_id for r in suggested.results] == [
        f"{class_id}-tova",
        f"{class_id}-ture",
    ]
    assert all(r.no_match_reason != common_pb2.NO_MATCH_REASON_ROSTER_UNAVAILABLE for r in suggested.results)
    assert await dead_letters_of(settings, js, "nlp", envelope.SerializeToString()) == []


async def _suggestion_if_any(
    settings: Settings, js: JetStreamContext, batch_id: str
) -> tuple[contracts.EventEnvelope, nlp_events_pb2.BatchAuthorMatchesSuggested] | None:
    if not await suggestions_for(settings, js, batch_id):
        return None
    return await the_suggestion(settings, js, batch_id)


async def test_an_unknown_class_is_reported_without_waiting(
    nlp: RunningService, roster_peer: RosterPeer, settings: Settings, js: JetStreamContext
) -> None:
    class_id = f"class-{uuid.uuid4()}"
    request = matching_request(class_id, await stored_essays(settings, js, "tova"))
    await publish_envelope(js, new_request_envelope(request))

    _, suggested = await the_suggestion(settings, js, request.batch_id)

    assert suggested.results[0].no_match_reason == common_pb2.NO_MATCH_REASON_ROSTER_UNAVAILABLE
    assert "NOT_FOUND" in suggested.results[0].detail
    assert roster_peer.calls_for(class_id) == 1


async def test_a_request_without_a_batch_is_dead_lettered_and_the_service_keeps_serving(
    nlp: RunningService, roster_peer: RosterPeer, settings: Settings, js: JetStreamContext
) -> None:
    class_id = f"class-{uuid.uuid4()}"
    roster_peer.rosters[class_id] = roster(class_id)
    essays = await stored_essays(settings, js, "tova")
    broken = matching_request(class_id, essays)
    broken.batch_id = ""
    broken_envelope = new_request_envelope(broken)
    await publish_envelope(js, broken_envelope)
    request = matching_request(class_id, essays)
    await publish_envelope(js, new_request_envelope(request))

    await the_suggestion(settings, js, request.batch_id)
    letters = await eventually(
        lambda: dead_letters_of(settings, js, "nlp", broken_envelope.SerializeToString()), message="dead letter"
    )
    assert letters[0][consumer.HEADER_REASON] == "INVALID_REQUEST"
