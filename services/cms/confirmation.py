"""How a batch's confirmation leaves CMS: once no essay is pending, the
StudentAssociationsConfirmed event goes into the outbox and the batch flips from
awaiting to confirmed, in the caller's transaction.

Every caller holds the batch's row lock (a teacher's decision, the sweep, or the
suggestions handler that just created the batch), so two publications of one batch
cannot both commit: the second finds the batch confirmed. The derived event id makes a
second outbox row impossible as well.
"""

from __future__ import annotations

from datetime import datetime

from essayflow.events.v1 import cms_events_pb2
from essayflow_runtime import contracts, outbox
from services.cms import store, validation

SOURCE = "cms"


def confirmation_event_id(batch_id: str) -> str:
    return contracts.derived_event_id(batch_id, cms_events_pb2.StudentAssociationsConfirmed)


async def publish_if_complete(conn: store.Connection, batch: store.BatchRecord, at: datetime) -> bool:
    """Publish the batch when its last essay is final; False while any is pending."""
    event = await enqueue(
        conn, batch, at, event_id=confirmation_event_id(batch.batch_id), causation_id=batch.causation_id
    )
    if event is None:
        return False
    await store.mark_confirmed(conn, batch.batch_id, at, event.timeout_triggered)
    return True


async def enqueue(
    conn: store.Connection, batch: store.BatchRecord, at: datetime, *, event_id: str, causation_id: str
) -> cms_events_pb2.StudentAssociationsConfirmed | None:
    """The confirmation built from the batch's associations, into the outbox under ``event_id``;
    None (nothing enqueued) while any essay is pending. A reconcile enqueues it again under
    an id of its own, with the original confirmation time."""
    views = await store.batch_associations(conn, batch.batch_id)
    associations = [v.association for v in views]
    if not associations or validation.pending_count(associations):
        return None
    event = validation.confirmation_event(batch.batch_id, batch.class_id, batch.course_code, associations, at)
    await outbox.enqueue(
        conn, event, source=SOURCE, correlation_id=batch.correlation_id, causation_id=causation_id, event_id=event_id
    )
    return event
