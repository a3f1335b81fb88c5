"""The validation deadline: what the sweep resolves, what it leaves alone, and that a
batch is published once whoever (teacher, this sweeper, another sweeper) gets there first."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from nats.js import JetStreamContext

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import db
from essayflow_runtime.config import Settings
from services.cms.sweep import DeadlineSweep
from tests.integration.cms.conftest import (
    Cms,
    confirm,
    error_details,
    new_id,
    outbox_confirmations,
    outbox_drained,
    override,
    reject,
    stream_confirmations,
    suggestions,
)
from tests.support import eventually

S = common_pb2
# Past every deadline the default settings (24 h) give.
LATER = datetime.now(UTC) + timedelta(days=2)


async def test_teacher_decisions_survive_the_sweep(cms: Cms, js: JetStreamContext) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 6)
    batch_id = new_id()
    e = [new_id() for _ in range(7)]
    await cms.receive_suggestions(
        suggestions(
            batch_id,
            class_id,
            [
                (e[0], st[0], 0.5),  # teacher confirms a LOW suggestion
                (e[1], st[1], 0.95),  # teacher rejects a HIGH one
                (e[2], st[2], 0.3),  # teacher overrides
                (e[3], st[3], 0.7),  # pending, exactly at the threshold: kept
                (e[4], st[4], 0.69),  # pending, just below: no match
                (e[5], None, 0.0),  # pending, no suggestion: no match
                (e[6], st[5], 0.91),  # pending, HIGH: kept
            ],
        )
    )
    await cms.validate("teacher-1", batch_id, [confirm(e[0]), reject(e[1]), override(e[2], st[5].student_id)])

    assert await DeadlineSweep(cms.settings, cms.pool).sweep_once(as_of=LATER) == 1

    listed = {a.essay_id: a for a in (await cms.associations("teacher-1", batch_id)).associations}
    human, timeout = S.ASSOCIATION_VALIDATION_METHOD_HUMAN, S.ASSOCIATION_VALIDATION_METHOD_TIMEOUT
    expected = {
        e[0]: (S.STUDENT_ASSOCIATION_STATUS_CONFIRMED, st[0].student_id, human, "teacher-1"),
        e[1]: (S.STUDENT_ASSOCIATION_STATUS_REJECTED, "", human, "teacher-1"),
        e[2]: (S.STUDENT_ASSOCIATION_STATUS_CONFIRMED, st[5].student_id, human, "teacher-1"),
        e[3]: (S.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED, st[3].student_id, timeout, "system:timeout"),
        e[4]: (S.STUDENT_ASSOCIATION_STATUS_NO_MATCH, "", timeout, "system:timeout"),
        e[5]: (S.STUDENT_ASSOCIATION_STATUS_NO_MATCH, "", timeout, "system:timeout"),
        e[6]: (S.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED, st[5].student_id, timeout, "system:timeout"),
    }
    actual = {
        essay: (a.status, a.student.student_id, a.validation_method, a.validated_by) for essay, a in listed.items()
    }
    assert actual == expected

    await eventually(lambda: outbox_drained(cms.pool))
    [event] = (await stream_confirmations(js, [batch_id]))[batch_id]
    assert event.timeout_triggered
    assert [(c.validation_method, c.count) for c in event.summary] == [(human, 3), (timeout, 4)]
    assert {a.essay_id: (a.status, a.student_id, a.validation_method, a.validated_by) for a in event.associations} == (
        expected
    )
    status = await cms.stub.GetBatchValidation(
        cms_pb2.GetBatchValidationRequest(batch_id=batch_id), metadata=cms.as_("teacher-1")
    )
    assert status.state == cms_pb2.BATCH_VALIDATION_STATE_CONFIRMED
    assert status.timeout_triggered
    assert status.HasField("confirmed_at")


async def test_the_sweep_leaves_batches_before_their_deadline_alone(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 1)
    batch_id, essay = new_id(), new_id()
    await cms.receive_suggestions(suggestions(batch_id, class_id, [(essay, st[0], 0.8)]))
    assert await DeadlineSweep(cms.settings, cms.pool).sweep_once() == 0
    assert await outbox_confirmations(cms.pool, [batch_id]) == {}


async def test_teacher_last_decision_racing_the_sweep_publishes_once(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 3)
    sweeper = DeadlineSweep(cms.settings, cms.pool)
    outcomes: set[str] = set()
    for _ in range(30):
        batch_id = new_id()
        e = [new_id() for _ in range(3)]
        await cms.receive_suggestions(
            suggestions(batch_id, class_id, [(e[0], st[0], 0.95), (e[1], st[1], 0.4), (e[2], st[2], 0.8)])
        )
        await cms.validate("teacher-1", batch_id, [confirm(e[0]), reject(e[1])])

        results: tuple[Any, Any] = await asyncio.gather(
            cms.validate("teacher-1", batch_id, [override(e[2], st[0].student_id)]),
            sweeper.sweep_once(as_of=LATER),
            return_exceptions=True,
        )
        teacher, swept = results
        listed = {a.essay_id: a for a in (await cms.associations("teacher-1", batch_id)).associations}
        if isinstance(teacher, BaseException):
            assert isinstance(teacher, grpc.aio.AioRpcError), teacher
            assert teacher.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert error_details(teacher)[0].reason == "BATCH_ALREADY_CONFIRMED"
            assert swept == 1
            assert listed[e[2]].status == S.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED
            assert listed[e[2]].student.student_id == st[2].student_id
            outcomes.add("sweep")
        else:
            assert teacher.batch_confirmed
            assert swept == 0
            assert listed[e[2]].status == S.STUDENT_ASSOCIATION_STATUS_CONFIRMED
            assert listed[e[2]].student.student_id == st[0].student_id
            outcomes.add("teacher")
        assert listed[e[0]].status == S.STUDENT_ASSOCIATION_STATUS_CONFIRMED
        assert listed[e[1]].status == S.STUDENT_ASSOCIATION_STATUS_REJECTED
        assert all(a.status != S.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION for a in listed.values())
        assert await outbox_confirmations(cms.pool, [batch_id]) == {batch_id: 1}
    # Not asserted: which side wins is up to the scheduler; both outcomes were checked when they happened.
    assert outcomes


async def test_two_sweepers_over_fifty_overdue_batches_publish_each_once(
    cms: Cms, settings: Settings, js: JetStreamContext
) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 2)
    batch_ids = [new_id() for _ in range(50)]
    for batch_id in batch_ids:
        await cms.receive_suggestions(
            suggestions(batch_id, class_id, [(new_id(), st[0], 0.75), (new_id(), st[1], 0.2), (new_id(), None, 0)])
        )

    pools = [await db.create_pool(settings.database_url, "cms", min_size=1, max_size=4) for _ in range(2)]
    try:
        sweepers = [DeadlineSweep(settings, pool) for pool in pools]
        counts = await asyncio.gather(*(s.sweep_once(as_of=LATER) for s in sweepers))
    finally:
        for pool in pools:
            await pool.close()

    assert sum(counts) == 50
    assert await outbox_confirmations(cms.pool, batch_ids) == dict.fromkeys(batch_ids, 1)
    await eventually(lambda: outbox_drained(cms.pool))
    published = await stream_confirmations(js, batch_ids)
    assert {b: len(events) for b, events in published.items()} == dict.fromkeys(batch_ids, 1)


async def test_a_short_deadline_is_swept_by_the_running_service(
    settings: Settings,
    start_cms: Callable[[Settings], contextlib.AbstractAsyncContextManager[Cms]],
    js: JetStreamContext,
) -> None:
    quick = replace(settings, validation_deadline_s=2.0, deadline_sweep_interval_s=0.1, grpc_shutdown_grace_s=0.5)
    async with start_cms(quick) as cms:
        class_id = await cms.create_class("teacher-1")
        st = await cms.add_students("teacher-1", class_id, 2)
        batch_id, e = new_id(), [new_id(), new_id()]
        await cms.receive_suggestions(suggestions(batch_id, class_id, [(e[0], st[0], 0.2), (e[1], st[1], 0.8)]))
        await cms.validate("teacher-1", batch_id, [confirm(e[0])])

        await eventually(lambda: outbox_confirmations(cms.pool, [batch_id]), timeout_s=15)
        await eventually(lambda: outbox_drained(cms.pool))
        [event] = (await stream_confirmations(js, [batch_id]))[batch_id]
        final = {a.essay_id: (a.status, a.validation_method) for a in event.associations}
        assert final == {
            e[0]: (S.STUDENT_ASSOCIATION_STATUS_CONFIRMED, S.ASSOCIATION_VALIDATION_METHOD_HUMAN),
            e[1]: (S.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED, S.ASSOCIATION_VALIDATION_METHOD_TIMEOUT),
        }
        # The deadline was counted from the suggestions' arrival with the configured length.
        listed = await cms.associations("teacher-1", batch_id)
        created = min(a.created_at.ToDatetime(UTC) for a in listed.associations)
        deadline = listed.validation_deadline.ToDatetime(UTC)
        assert timedelta(seconds=1.5) < deadline - created < timedelta(seconds=2.5)


@pytest.mark.parametrize("score", [0.7, 0.700001, 0.99])
async def test_scores_at_or_above_the_threshold_are_kept(cms: Cms, score: float) -> None:
    class_id = await cms.create_class("teacher-1")
    st = await cms.add_students("teacher-1", class_id, 1)
    batch_id, essay = new_id(), new_id()
    await cms.receive_suggestions(suggestions(batch_id, class_id, [(essay, st[0], score)]))
    assert await DeadlineSweep(cms.settings, cms.pool).sweep_once(as_of=LATER) == 1
    [association] = (await cms.associations("teacher-1", batch_id)).associations
    assert association.status == S.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED
