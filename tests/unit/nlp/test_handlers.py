"""The matching-request handler with fakes at its edges: what it publishes, and when it gives up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2, nlp_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.consumer import EventContext
from essayflow_runtime.contracts import PoisonMessage
from essayflow_runtime.failures import is_transient
from services.nlp.handlers import FetchFailed, RetryPolicy, StudentMatchingHandler
from services.nlp.roster import RosterUnavailable
from tests.unit.nlp.inline_matcher import InlineMatcher

ROSTER = [
    common_pb2.Student(student_id="s-tova", first_name="Tova", last_name="Ekdahl"),
    common_pb2.Student(student_id="s-ture", first_name="Ture", last_name="Wikström"),
]
TEXTS = {"t-tova": "Namn: Tova Ekdahl\n\nOm skolan.", "t-ture": "Ture Wikström\n\nOm skolan."}
NO_PAUSE = RetryPolicy(attempts=3, pauses_s=(0.0,))


class FakeJetStream:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str], **_: Any) -> None:
        self.published.append((subject, payload, headers))

    def suggestions(self) -> list[tuple[contracts.EventEnvelope, nlp_events_pb2.BatchAuthorMatchesSuggested]]:
        found = []
        for subject, data, headers in self.published:
            envelope, payload = contracts.unwrap(data)
            assert subject == contracts.subject_of(nlp_events_pb2.BatchAuthorMatchesSuggested)
            assert headers["Nats-Msg-Id"] == envelope.event_id
            assert isinstance(payload, nlp_events_pb2.BatchAuthorMatchesSuggested)
            found.append((envelope, payload))
        return found


class FakeRoster:
    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def students(self, class_id: str) -> list[common_pb2.Student]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return ROSTER


class FakeTexts:
    def __init__(self, texts: dict[str, str], failing: dict[str, list[Exception]] | None = None) -> None:
        self.texts = texts
        self.failing = failing or {}
        self.calls: dict[str, int] = {}

    async def get(self, text_storage_id: str) -> str:
        self.calls[text_storage_id] = self.calls.get(text_storage_id, 0) + 1
        failures = self.failing.get(text_storage_id)
        if failures:
            raise failures.pop(0)
        try:
            return self.texts[text_storage_id]
        except KeyError:
            raise LookupError(f"no text {text_storage_id}") from None


def context(delivery: int = 1, event_id: str | None = None) -> EventContext:
    return EventContext(
        event_id=event_id or str(uuid.uuid4()),
        event_type=els_events_pb2.BatchStudentMatchingRequested.DESCRIPTOR.full_name,
        subject=contracts.subject_of(els_events_pb2.BatchStudentMatchingRequested),
        correlation_id="corr-1",
        causation_id="",
        source="els",
        occurred_at=datetime.now(UTC),
        delivery=delivery,
    )


def request(*essays: tuple[str, str, str], class_id: str = "c-1") -> els_events_pb2.BatchStudentMatchingRequested:
    return els_events_pb2.BatchStudentMatchingRequested(
        batch_id="b-1",
        class_id=class_id,
        course_code=common_pb2.COURSE_CODE_SV1,
        essays=[common_pb2.EssayRef(essay_id=e, text_storage_id=t, file_name=f) for e, t, f in essays],
    )


def handler(js: FakeJetStream, roster: Any, texts: Any) -> StudentMatchingHandler:
    return StudentMatchingHandler(
        js,  # type: ignore[arg-type]
        roster,
        texts,
        matcher=InlineMatcher(),
        retry=NO_PAUSE,
    )


TWO_ESSAYS = (("e-1", "t-tova", "a.docx"), ("e-2", "t-ture", "b.docx"))


async def test_one_event_per_request_with_every_essay_in_order_and_a_derived_id() -> None:
    js = FakeJetStream()
    ctx = context()
    await handler(js, FakeRoster(), FakeTexts(TEXTS))(ctx, request(*TWO_ESSAYS))

    [(envelope, event)] = js.suggestions()
    assert envelope.event_id == contracts.derived_event_id(ctx.event_id, nlp_events_pb2.BatchAuthorMatchesSuggested)
    assert (envelope.causation_id, envelope.correlation_id, envelope.source) == (ctx.event_id, "corr-1", "nlp")
    assert (event.batch_id, event.class_id, event.course_code) == ("b-1", "c-1", common_pb2.COURSE_CODE_SV1)
    assert [r.essay_id for r in event.results] == ["e-1", "e-2"]
    assert [r.suggestions[0].student.student_id for r in event.results] == ["s-tova", "s-ture"]


async def test_the_same_request_delivered_again_publishes_the_same_event_id() -> None:
    js = FakeJetStream()
    ctx = context()
    await handler(js, FakeRoster(), FakeTexts(TEXTS))(ctx, request(*TWO_ESSAYS))
    await handler(js, FakeRoster(), FakeTexts(TEXTS))(context(delivery=2, event_id=ctx.event_id), request(*TWO_ESSAYS))
    assert len({envelope.event_id for envelope, _ in js.suggestions()}) == 1


async def test_a_roster_that_fails_briefly_is_fetched_again() -> None:
    js, roster = FakeJetStream(), FakeRoster(RosterUnavailable("CMS away", retryable=True))
    await handler(js, roster, FakeTexts(TEXTS))(context(), request(*TWO_ESSAYS))
    assert roster.calls == 2
    [(_, event)] = js.suggestions()
    assert all(r.suggestions for r in event.results)


async def test_a_roster_still_missing_is_left_to_redelivery_however_many_deliveries_failed() -> None:
    js = FakeJetStream()
    for delivery in (1, 5, 50):
        roster = FakeRoster(*[RosterUnavailable("CMS away", retryable=True)] * 3)
        with pytest.raises(FetchFailed) as failed:
            await handler(js, roster, FakeTexts(TEXTS))(context(delivery=delivery), request(*TWO_ESSAYS))
        assert roster.calls == NO_PAUSE.attempts
        assert is_transient(failed.value), "the consumer retries it indefinitely"
    assert js.published == [], "a peer that is away is never reported as ROSTER_UNAVAILABLE"


async def test_a_roster_failure_that_is_neither_an_answer_nor_an_outage_is_raised_as_it_is() -> None:
    js = FakeJetStream()
    bug = RuntimeError("CMS answered something unreadable")
    with pytest.raises(RuntimeError) as raised:
        await handler(js, FakeRoster(bug, bug, bug), FakeTexts(TEXTS))(context(), request(*TWO_ESSAYS))
    assert raised.value is bug and not is_transient(raised.value)
    assert js.published == []


async def test_an_unknown_class_is_reported_at_once_without_waiting_for_redelivery() -> None:
    js, roster = FakeJetStream(), FakeRoster(RosterUnavailable("NOT_FOUND: no class c-1", retryable=False))
    await handler(js, roster, FakeTexts(TEXTS))(context(delivery=1), request(*TWO_ESSAYS))
    assert roster.calls == 1
    [(_, event)] = js.suggestions()
    assert {r.no_match_reason for r in event.results} == {common_pb2.NO_MATCH_REASON_ROSTER_UNAVAILABLE}


async def test_a_request_without_a_class_is_reported_roster_unavailable() -> None:
    js = FakeJetStream()
    await handler(js, FakeRoster(), FakeTexts(TEXTS))(context(), request(*TWO_ESSAYS, class_id=""))
    [(_, event)] = js.suggestions()
    assert {r.no_match_reason for r in event.results} == {common_pb2.NO_MATCH_REASON_ROSTER_UNAVAILABLE}


async def test_a_missing_text_is_reported_for_its_essay_only_and_not_retried() -> None:
    js, texts = FakeJetStream(), FakeTexts({"t-tova": TEXTS["t-tova"]})
    await handler(js, FakeRoster(), texts)(context(), request(*TWO_ESSAYS))
    [(_, event)] = js.suggestions()
    assert event.results[0].suggestions[0].student.student_id == "s-tova"
    assert event.results[1].no_match_reason == common_pb2.NO_MATCH_REASON_TEXT_UNAVAILABLE
    assert "t-ture" in event.results[1].detail
    assert texts.calls["t-ture"] == 1


async def test_a_text_that_fails_briefly_is_fetched_again() -> None:
    js, texts = FakeJetStream(), FakeTexts(TEXTS, failing={"t-ture": [TimeoutError(), TimeoutError()]})
    await handler(js, FakeRoster(), texts)(context(), request(*TWO_ESSAYS))
    [(_, event)] = js.suggestions()
    assert all(r.suggestions for r in event.results)
    assert texts.calls["t-ture"] == 3


async def test_a_text_still_failing_waits_for_redelivery_and_is_never_reported_unavailable() -> None:
    failing: dict[str, list[Exception]] = {"t-ture": [TimeoutError()] * 6}
    js, texts = FakeJetStream(), FakeTexts(TEXTS, failing=failing)
    for delivery in (1, 9):
        with pytest.raises(FetchFailed):
            await handler(js, FakeRoster(), texts)(context(delivery=delivery), request(*TWO_ESSAYS))
    assert js.published == []
    await handler(js, FakeRoster(), texts)(context(delivery=10), request(*TWO_ESSAYS))  # the store is back
    [(_, event)] = js.suggestions()
    assert all(r.suggestions for r in event.results)


async def test_an_essay_without_a_storage_id_and_a_shared_text_are_both_handled() -> None:
    js, texts = FakeJetStream(), FakeTexts(TEXTS)
    essays = (("e-1", "t-tova", "a.docx"), ("e-2", "", "b.docx"), ("e-3", "t-tova", "c.docx"))
    await handler(js, FakeRoster(), texts)(context(), request(*essays))
    [(_, event)] = js.suggestions()
    assert [r.no_match_reason for r in event.results] == [
        common_pb2.NO_MATCH_REASON_UNSPECIFIED,
        common_pb2.NO_MATCH_REASON_TEXT_UNAVAILABLE,
        common_pb2.NO_MATCH_REASON_UNSPECIFIED,
    ]
    assert texts.calls == {"t-tova": 1}


async def test_a_request_without_a_batch_is_poison() -> None:
    js = FakeJetStream()
    bad = request(*TWO_ESSAYS)
    bad.batch_id = ""
    with pytest.raises(PoisonMessage) as poison:
        await handler(js, FakeRoster(), FakeTexts(TEXTS))(context(), bad)
    assert poison.value.reason == "INVALID_REQUEST"
    assert js.published == []
