"""A batch with one hostile essay next to a normal batch, through the running stack: the normal
batch gets its suggestions and becomes READY, the hostile essay is answered (no suggestion, with
its reason) and the rest of its batch is matched, and NLP's health check answers throughout."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.hostile_essays import near_names, whitespace_runs
from essayflow.common.v1 import common_pb2
from essayflow.common.v1 import common_pb2 as c
from essayflow.events.v1 import nlp_events_pb2
from essayflow_cli.waits import wait_associations, wait_status
from essayflow_runtime import contracts
from tests.e2e.conftest import E2EStack
from tests.e2e.flows import ROSTER, create_class, essay_text, register, upload
from tests.e2e.test_resilience import confirm_all, find_event
from tests.support import watching_health

pytestmark = pytest.mark.e2e

# 50,000 characters of whitespace runs and names close to, but not, anybody in the roster: minutes
# of quadratic backtracking for the old extraction, milliseconds for the linear one.
HOSTILE = whitespace_runs(25_000) + near_names(25_000)


async def test_a_hostile_essay_stalls_nobody(
    stack_ready: E2EStack, record_property: Callable[[str, object], None]
) -> None:
    assert len(HOSTILE) == 50_000
    teacher = stack_ready.clients("teacher-hostile")
    try:
        class_id, student_ids = await create_class(teacher)
        hostile_batch = await register(teacher, len(ROSTER), class_id)
        normal_batch = await register(teacher, len(ROSTER), class_id)
        texts = [essay_text(first, last, i) for i, (first, last) in enumerate(ROSTER)]

        async with watching_health(f"127.0.0.1:{stack_ready.ports['nlp'][0]}") as health:
            # The hostile essay first, so the normal batch is matched while it is being read.
            hostile_uploads = await upload(teacher, hostile_batch.batch_id, [HOSTILE, *texts[1:]])
            await upload(teacher, normal_batch.batch_id, texts)
            await wait_status(teacher, normal_batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
            associations = await wait_associations(teacher, normal_batch.batch_id, len(ROSTER))
            suggested = await find_event(
                stack_ready, nlp_events_pb2.BatchAuthorMatchesSuggested, hostile_batch.batch_id
            )

        assert {a.suggested_student.student_id for a in associations} == set(student_ids)
        confirmed = await teacher.cms.ValidateAssociations(
            confirm_all(normal_batch.batch_id, associations), metadata=teacher.metadata
        )
        assert confirmed.batch_confirmed
        await wait_status(teacher, normal_batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)

        _, event = contracts.unwrap(suggested)
        assert isinstance(event, nlp_events_pb2.BatchAuthorMatchesSuggested)
        by_essay = {r.essay_id: r for r in event.results}
        hostile = by_essay[hostile_uploads[0].essay_id]
        assert not hostile.suggestions
        # Read whole and in linear time, it names nobody in the roster; a matcher that ran out of
        # time would say ANALYSIS_BUDGET_EXCEEDED instead.
        assert hostile.no_match_reason == common_pb2.NO_MATCH_REASON_NOT_IN_ROSTER
        others = [by_essay[u.essay_id] for u in hostile_uploads[1:]]
        assert [r.suggestions[0].student.student_id for r in others] == student_ids[1:]
        hostile_associations = await wait_associations(teacher, hostile_batch.batch_id, len(ROSTER))
        [unsuggested] = [a for a in hostile_associations if not a.HasField("suggested_student")]
        assert unsuggested.essay_id == hostile.essay_id
        assert unsuggested.status == c.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION

        assert health.failures == []
        assert health.latencies_s, "the health check was never answered"
        record_property("worst_health_latency_s", round(health.worst_s, 3))
        print(f"worst NLP health latency: {health.worst_s:.3f} s over {len(health.latencies_s)} checks")
    finally:
        await teacher.close()
