"""Random interleavings of the three events, their duplicates, TransitionBatch calls and
RequestPipeline against one batch, with the invariants checked after every step."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from essayflow.common.v1 import common_pb2
from essayflow_runtime import db
from essayflow_runtime.contracts import PoisonMessage
from essayflow_runtime.errors import Aborted, FailedPrecondition
from services.bos import commands, state_machine, validation
from tests.integration.bos.scenario import OWNER, SERVICE, Batch

S = common_pb2.BatchStatus
A = common_pb2.StudentAssociationStatus
STATUSES = [v.number for v in S.DESCRIPTOR.values if v.number]
READY = S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
# How far along the Phase 1 road a status is; a legal move always goes further.
PROGRESS = {
    S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION: 0,
    S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION: 1,
    S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED: 2,
    READY: 3,
    S.BATCH_STATUS_PROCESSING_PIPELINES: 4,
} | {status: 5 for status in state_machine.TERMINAL_STATUSES}
READY_OR_LATER = {
    READY,
    S.BATCH_STATUS_PROCESSING_PIPELINES,
    S.BATCH_STATUS_COMPLETED_SUCCESSFULLY,
    S.BATCH_STATUS_COMPLETED_WITH_FAILURES,
    S.BATCH_STATUS_FAILED_CRITICALLY,
}
FINAL_ASSOCIATIONS = {
    A.STUDENT_ASSOCIATION_STATUS_CONFIRMED,
    A.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED,
    A.STUDENT_ASSOCIATION_STATUS_REJECTED,
    A.STUDENT_ASSOCIATION_STATUS_NO_MATCH,
}

copies = st.integers(0, 2)  # the same copy again is a redelivery; another copy a duplicate event
failed_uploads = st.sampled_from([0, 0, 0, 1, 3])  # 3 = every upload failed
steps = st.one_of(
    st.tuples(st.just("content"), copies, failed_uploads),
    st.tuples(st.just("confirmed"), copies),
    st.tuples(st.just("ready"), copies),
    st.tuples(st.just("transition"), st.sampled_from(["current", *STATUSES]), st.sampled_from(STATUSES)),
    st.tuples(st.just("pipeline")),
)


@st.composite
def plans(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    """The three events once each in any order, with any other steps (duplicates, late copies,
    TransitionBatch, RequestPipeline) slipped in anywhere."""
    plan: list[tuple[Any, ...]] = list(
        draw(st.permutations([("content", 0, draw(failed_uploads)), ("confirmed", 0), ("ready", 0)]))
    )
    for step in draw(st.lists(steps, max_size=10)):
        plan.insert(draw(st.integers(0, len(plan))), step)
    return plan


@dataclass
class Watcher:
    """What must stay true of the batch, step after step."""

    frozen_essays: list[Any] | None = None
    seen: list[tuple[Any, ...]] = field(default_factory=list)

    async def check(self, batch: Batch) -> None:
        record, history, essays = await batch.current(), await batch.history(), await batch.essays()
        # version = number of history rows, one row per version, each continuing the last.
        assert record.version == len(history)
        assert [t.version for t in history] == list(range(1, len(history) + 1))
        previous = state_machine.INITIAL_STATUS
        for t in history:
            assert t.from_status == previous
            assert state_machine.edge(t.from_status, t.to_status) is not None
            assert PROGRESS[t.to_status] > PROGRESS[t.from_status], "a batch moved backwards"
            previous = t.to_status
        assert record.status == previous
        # READY or later ⇒ essays stored (invariant 1), and for REGULAR each with its final association.
        reached_ready = record.status in READY_OR_LATER or any(t.to_status == READY for t in history)
        if reached_ready:
            assert essays and record.essays_stored_at is not None
            if not record.is_guest:
                for essay in essays:
                    assert essay.association_status in FINAL_ASSOCIATIONS
                    has_student = essay.association_status in (
                        A.STUDENT_ASSOCIATION_STATUS_CONFIRMED,
                        A.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED,
                    )
                    assert bool(essay.student_id) == has_student
            # Nothing rewrites the essays of a batch that reached READY.
            if self.frozen_essays is None:
                self.frozen_essays = essays
            assert essays == self.frozen_essays


async def run(database_url: str, regular: bool, plan: list[tuple[Any, ...]]) -> int:
    """Play ``plan`` against a new batch; returns the batch's final status."""
    pool = await db.create_pool(database_url, "bos", min_size=1, max_size=2)
    try:
        batch = await Batch.register(pool, regular=regular)
        watcher = Watcher()
        delivered: set[str] = set()
        first_content_failed: bool | None = None
        for step in plan:
            kind = step[0]
            status_before = (await batch.current()).status
            if kind == "content":
                await batch.deliver(batch.content_completed(failed=step[2]), batch.event_id("content", step[1]))
                if first_content_failed is None:
                    first_content_failed = step[2] == 3
            elif kind in ("confirmed", "ready"):
                payload = batch.confirmed() if kind == "confirmed" else batch.essays_ready(variant=step[1])
                try:
                    await batch.deliver(payload, batch.event_id(kind, step[1]))
                except PoisonMessage as poison:
                    assert not regular and poison.reason == "NOT_A_REGULAR_BATCH"
            elif kind == "transition":
                expected = status_before if step[1] == "current" else step[1]
                request = validation.TransitionRequest(
                    batch.batch_id, expected, step[2], None, str(step), "", str(step).encode()
                )
                with contextlib.suppress(Aborted, FailedPrecondition):  # refusals are fine; wrong moves are not
                    await commands.transition(pool, SERVICE, request)
            else:
                try:
                    await commands.request_pipeline(
                        pool, OWNER, validation.PipelineRequest(batch.batch_id, ("nlp",), "", b"")
                    )
                    assert status_before == READY
                except FailedPrecondition:
                    assert status_before != READY
            delivered.add(kind)
            await watcher.check(batch)
        # Whatever the order, the facts complete readiness unless someone stopped the batch.
        final = await batch.current()
        needed = {"content"} | ({"confirmed", "ready"} if regular else set())
        stopped = {t.to_status for t in await batch.history()} & {S.BATCH_STATUS_CANCELLED}
        if needed <= delivered and first_content_failed is False and not stopped:
            assert final.status in READY_OR_LATER, (plan, final.status)
        return final.status
    finally:
        await pool.close()


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(regular=st.booleans(), plan=plans())
def test_invariants_hold_under_any_interleaving(database_url: str, regular: bool, plan: list[tuple[Any, ...]]) -> None:
    final = asyncio.run(run(database_url, regular, plan))
    event(f"{'REGULAR' if regular else 'GUEST'} ended {S.Name(final)}")


def test_the_bad_order_upstream_got_stuck_in(database_url: str) -> None:
    """The interleaving that left upstream batches in STUDENT_VALIDATION_COMPLETED forever."""
    plan = [("content", 0, 0), ("ready", 0), ("confirmed", 0), ("pipeline",)]
    assert asyncio.run(run(database_url, True, plan)) == S.BATCH_STATUS_PROCESSING_PIPELINES
