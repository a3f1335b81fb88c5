"""A hostile essay through the real NLP service: its worker is stuck in a pattern (the old quadratic
separator), the essay is reported over budget, everything else is answered, and the health check
answers throughout."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from nats.js import JetStreamContext

from bench.hostile_essays import near_names, whitespace_runs
from essayflow.common.v1 import common_pb2
from essayflow.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService, start_service
from services.els.content_store import ContentStore
from services.nlp import pool as pool_module
from services.nlp.main import make_build_parts
from tests.integration.nlp import stuck_workers
from tests.integration.nlp.conftest import RosterPeer
from tests.integration.nlp.events import new_request_envelope, publish_envelope
from tests.integration.nlp.test_matching_requests import matching_request, roster, the_suggestion
from tests.support import watching_health

BUDGET_S = 1.0
OVER_BUDGET = common_pb2.NO_MATCH_REASON_ANALYSIS_BUDGET_EXCEEDED
NORMAL = {
    "tova": "Namn: Tova Ekdahl\nKlass: 9B\n\nSkolan i framtiden\n\nDet här är en text om skolan.",
    "ture": "Ture Wikström\n\nOm läxor\n\nMånga tycker att läxor är onödiga.",
}
# Whitespace runs and near-names: stuck for minutes in the old separator, whichever way it is sent.
HOSTILE = whitespace_runs(25_000) + near_names(25_000)


@pytest.fixture
async def nlp_with_budget(
    settings: Settings, cms: tuple[RosterPeer, int], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    monkeypatch.setattr(pool_module, "_worker_match", stuck_workers.match_with_the_historic_separator)
    service_settings = dataclasses.replace(
        settings, cms_address=f"127.0.0.1:{cms[1]}", matcher_workers=1, matcher_essay_budget_s=BUDGET_S
    )
    running = await start_service("nlp", service_settings, make_build_parts(), port=0, with_database=False)
    try:
        yield running
    finally:
        await running.stop()


async def stored(settings: Settings, js: JetStreamContext, texts: list[str]) -> list[common_pb2.EssayRef]:
    store = ContentStore(js, settings.content_bucket)
    return [
        common_pb2.EssayRef(essay_id=str(uuid.uuid4()), text_storage_id=await store.put(text), file_name="uppsats.docx")
        for text in texts
    ]


def student_of(class_id: str) -> Callable[[common_pb2.EssayMatchResult], str]:
    return lambda result: result.suggestions[0].student.student_id.removeprefix(f"{class_id}-")


async def test_a_batch_with_a_hostile_essay_next_to_a_normal_batch(
    nlp_with_budget: RunningService,
    roster_peer: RosterPeer,
    settings: Settings,
    js: JetStreamContext,
    record_property: Callable[[str, object], None],
) -> None:
    hostile_class, normal_class = f"class-{uuid.uuid4()}", f"class-{uuid.uuid4()}"
    roster_peer.rosters[hostile_class] = roster(hostile_class)
    roster_peer.rosters[normal_class] = roster(normal_class)
    with_hostile = matching_request(
        hostile_class, await stored(settings, js, [NORMAL["tova"], HOSTILE, NORMAL["ture"]])
    )
    normal = matching_request(normal_class, await stored(settings, js, [NORMAL["ture"], NORMAL["tova"]]))

    async with watching_health(f"127.0.0.1:{nlp_with_budget.port}") as health:
        await publish_envelope(js, new_request_envelope(with_hostile))
        await publish_envelope(js, new_request_envelope(normal))
        (_, normal_suggested), (_, hostile_suggested) = await asyncio.gather(
            the_suggestion(settings, js, normal.batch_id), the_suggestion(settings, js, with_hostile.batch_id)
        )

    assert [student_of(normal_class)(r) for r in normal_suggested.results] == ["ture", "tova"]
    first, stuck, last = hostile_suggested.results
    assert (student_of(hostile_class)(first), student_of(hostile_class)(last)) == ("tova", "ture")
    assert stuck.essay_id == with_hostile.essays[1].essay_id
    assert not stuck.suggestions
    assert stuck.no_match_reason == OVER_BUDGET
    assert health.failures == []
    assert health.latencies_s, "the health check was never answered"
    record_property("worst_health_latency_s", round(health.worst_s, 3))
    print(
        f"worst NLP health latency while a worker was stuck: {health.worst_s:.3f} s ({len(health.latencies_s)} checks)"
    )


async def test_match_authors_reports_the_hostile_essay_and_answers_the_others(
    nlp_with_budget: RunningService, settings: Settings, record_property: Callable[[str, object], None]
) -> None:
    students = roster("c")
    request = nlp_pb2.MatchAuthorsRequest(
        roster=students,
        essays=[
            nlp_pb2.EssayText(essay_id="e-hostile", file_name="uppsats.docx", text=HOSTILE),
            nlp_pb2.EssayText(essay_id="e-tova", file_name="uppsats.docx", text=NORMAL["tova"]),
        ],
    )
    token = mint_token(settings, "teacher-1", Role.TEACHER)
    address = f"127.0.0.1:{nlp_with_budget.port}"
    async with watching_health(address) as health, grpc.aio.insecure_channel(address) as channel:
        response = await nlp_pb2_grpc.StudentMatcherServiceStub(channel).MatchAuthors(
            request, metadata=[("authorization", f"Bearer {token}")]
        )

    hostile, tova = response.results
    assert (hostile.essay_id, hostile.no_match_reason, list(hostile.suggestions)) == ("e-hostile", OVER_BUDGET, [])
    assert tova.suggestions[0].student.student_id == "c-tova"
    assert health.failures == []
    assert health.latencies_s, "the health check was never answered"
    record_property("worst_health_latency_s", round(health.worst_s, 3))
    print(f"worst NLP health latency during MatchAuthors: {health.worst_s:.3f} s ({len(health.latencies_s)} checks)")
