"""A reconcile request in CMS: the confirmation again, only once it is final, under an id of
its own, with the content of the original; twice is harmless, a redelivery does nothing."""

from __future__ import annotations

import uuid
from dataclasses import replace

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.consumer import transactional
from services.cms import confirmation
from services.cms.reconcile import CONSUMER, effect
from tests.integration.cms.conftest import (
    Cms,
    confirm,
    event_context,
    new_id,
    outbox_confirmations,
    reject,
    suggestions,
)

S = common_pb2.BatchStatus


def request(batch_id: str, status: common_pb2.BatchStatus) -> bos_events_pb2.BatchReconciliationRequested:
    return bos_events_pb2.BatchReconciliationRequested(
        batch_id=batch_id,
        status=status,
        reconcile_id=str(uuid.uuid4()),
    )


async def reconcile(cms: Cms, message: bos_events_pb2.BatchReconciliationRequested, event_id: str = "") -> str:
    context = replace(
        event_context(event_id or contracts.new_event_id()),
        event_type=bos_events_pb2.BatchReconciliationRequested.DESCRIPTOR.full_name,
        source="bos",
    )
    await transactional(cms.pool, CONSUMER, effect)(context, message)
    return context.event_id


async def confirmations(cms: Cms, batch_id: str) -> list[tuple[str, cms_events_pb2.StudentAssociationsConfirmed]]:
    rows = await cms.pool.fetch(
        "SELECT event_id, envelope FROM outbox WHERE event_type = $1 ORDER BY id",
        cms_events_pb2.StudentAssociationsConfirmed.DESCRIPTOR.full_name,
    )
    found = []
    for row in rows:
        _, payload = contracts.unwrap(row["envelope"])
        assert isinstance(payload, cms_events_pb2.StudentAssociationsConfirmed)
        if payload.batch_id == batch_id:
            found.append((row["event_id"], payload))
    return found


async def test_the_confirmation_is_reemitted_only_when_final(cms: Cms) -> None:
    teacher = "teacher-reconcile"
    class_id = await cms.create_class(teacher)
    students = await cms.add_students(teacher, class_id, 2)
    batch_id, essays = new_id(), [new_id(), new_id()]
    await cms.receive_suggestions(
        suggestions(batch_id, class_id, [(essays[0], students[0], 0.95), (essays[1], None, 0)])
    )
    waiting = S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION

    # Still the teacher's (or the deadline's): nothing to re-emit. An unknown batch: nothing either.
    await reconcile(cms, request(batch_id, waiting))
    await reconcile(cms, request(new_id(), waiting))
    assert await outbox_confirmations(cms.pool, [batch_id]) == {}

    assert (await cms.validate(teacher, batch_id, [confirm(essays[0]), reject(essays[1])])).batch_confirmed
    ((original_id, original),) = await confirmations(cms, batch_id)
    assert original_id == confirmation.confirmation_event_id(batch_id)

    # A batch BOS already has past the confirmation: nothing.
    await reconcile(cms, request(batch_id, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION))
    assert len(await confirmations(cms, batch_id)) == 1

    first = request(batch_id, waiting)
    cause = await reconcile(cms, first)
    await reconcile(cms, first, event_id=cause)  # a redelivery of the same request: processed once
    await reconcile(cms, request(batch_id, S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED))  # a second request
    found = await confirmations(cms, batch_id)
    assert len(found) == 3
    ids = [event_id for event_id, _ in found]
    assert len(set(ids)) == 3 and ids[1] == contracts.derived_event_id(
        cause, cms_events_pb2.StudentAssociationsConfirmed, original_id
    )
    # The same fact: the same associations and confirmation time as the original.
    assert all(payload == original for _, payload in found)
