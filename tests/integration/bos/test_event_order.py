"""Invariant 2: the order events arrive in does not matter; duplicates and late events change nothing."""

from __future__ import annotations

import asyncpg
import pytest

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.contracts import PoisonMessage
from tests.integration.bos.scenario import Batch

S = common_pb2.BatchStatus
A = common_pb2.StudentAssociationStatus
READY = S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
INITIATE = bos_events_pb2.StudentMatchingInitiate.DESCRIPTOR.full_name


async def test_essays_before_confirmation_end_ready(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=True)
    await batch.deliver(batch.content_completed())
    await batch.deliver(batch.essays_ready())
    kept = await batch.current()
    assert kept.status == S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION  # kept, not forgotten
    assert kept.essays_stored_at is not None
    await batch.deliver(batch.confirmed())
    assert (await batch.current()).status == READY
    assert [t.to_status for t in await batch.history()] == [
        S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION,
        S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED,
        READY,
    ]


async def test_confirmation_before_essays_ends_ready(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=True)
    await batch.deliver(batch.content_completed())
    await batch.deliver(batch.confirmed())
    assert (await batch.current()).status == S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED
    await batch.deliver(batch.essays_ready())
    assert (await batch.current()).status == READY
    essays = await batch.essays()
    assert essays and all(
        e.association_status in (A.STUDENT_ASSOCIATION_STATUS_CONFIRMED, A.STUDENT_ASSOCIATION_STATUS_NO_MATCH)
        for e in essays
    )


async def test_essays_and_confirmation_before_content_complete(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=True)
    await batch.deliver(batch.essays_ready())
    await batch.deliver(batch.confirmed())
    assert (await batch.current()).status == S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
    await batch.deliver(batch.content_completed())
    assert (await batch.current()).status == READY
    assert len(await batch.history()) == 3
    # Matching is already done: nobody is asked to do it again.
    assert INITIATE not in await batch.outbox_types()
    # The essays with their students were kept, not replaced by the bare uploads.
    assert all(e.association_status for e in await batch.essays())


async def test_late_and_duplicate_events_change_nothing(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=True)
    await batch.deliver(batch.content_completed())
    await batch.deliver(batch.confirmed())
    await batch.deliver(batch.essays_ready(variant=1))
    before = (await batch.current(), await batch.essays(), await batch.history())
    assert before[0].status == READY
    await batch.deliver(batch.essays_ready(variant=2))  # a second confirmation's essays, late
    await batch.deliver(batch.confirmed())
    await batch.deliver(batch.content_completed())
    assert (await batch.current(), await batch.essays(), await batch.history()) == before
    assert sum(t == INITIATE for t in await batch.outbox_types()) == 1


async def test_guest_content_stores_essays_and_goes_ready(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=False)
    await batch.deliver(batch.content_completed(failed=1))
    assert (await batch.current()).status == READY
    assert len(await batch.essays()) == 2
    assert INITIATE not in await batch.outbox_types()


async def test_an_essay_the_confirmation_did_not_mention_has_no_author(pool: asyncpg.Pool) -> None:
    batch = await Batch.register(pool, regular=True)
    await batch.deliver(batch.content_completed())
    await batch.deliver(batch.confirmed())
    unmentioned = batch.essays_ready()
    unmentioned.essays[0].ClearField("student_id")
    unmentioned.essays[0].association_status = A.STUDENT_ASSOCIATION_STATUS_UNSPECIFIED
    await batch.deliver(unmentioned)
    assert (await batch.current()).status == READY
    first = next(e for e in await batch.essays() if e.essay_id == batch.record.essay_ids[0])
    assert (first.student_id, first.association_status) == ("", A.STUDENT_ASSOCIATION_STATUS_NO_MATCH)


async def test_events_that_can_never_apply_are_poison_and_leave_no_trace(pool: asyncpg.Pool) -> None:
    guest = await Batch.register(pool, regular=False)
    with pytest.raises(PoisonMessage, match="NOT_A_REGULAR_BATCH"):
        await guest.deliver(guest.essays_ready())
    regular = await Batch.register(pool, regular=True)
    pending = regular.essays_ready()
    pending.essays[0].association_status = A.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION
    with pytest.raises(PoisonMessage, match="ASSOCIATION_NOT_FINAL"):
        await regular.deliver(pending)
    stranger = regular.essays_ready()
    stranger.essays[0].essay.essay_id = guest.record.essay_ids[0]
    with pytest.raises(PoisonMessage, match="UNKNOWN_ESSAY"):
        await regular.deliver(stranger)
    assert not await regular.essays()
    assert (await regular.current()).essays_stored_at is None
    assert await pool.fetchval("SELECT count(*) FROM processed_events") == 0
