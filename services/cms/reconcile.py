"""BatchReconciliationRequested in CMS: re-emit the batch's confirmation when it is final.

A batch BOS still sees awaiting its students (or their essays) while CMS has confirmed it lost
StudentAssociationsConfirmed, or the BatchEssaysReady ELS builds from it. CMS enqueues the same
confirmation again, rebuilt from its associations and its confirmation time, under an id
derived from the reconcile request and the original (a copy under the original id would be
dropped by JetStream inside its duplicate window). BOS ignores a confirmation it already
recorded; ELS answers it with a fresh BatchEssaysReady, which BOS ignores once the essays are final.

A batch still awaiting validation is the teacher's (or the deadline sweep's): nothing is
re-emitted. A batch CMS never heard of has no suggestions yet; BOS re-issues the match request.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
from google.protobuf.message import Message

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2
from essayflow_runtime.consumer import EventContext, Handler, transactional
from essayflow_runtime.contracts import derived_event_id
from essayflow_runtime.logs import get_logger
from services.cms import confirmation, store

log = get_logger(__name__)

CONSUMER = "cms"
S = common_pb2.BatchStatus
# The statuses in which BOS waits for CMS's confirmation (or what ELS makes of it).
WAITING_FOR_CONFIRMATION = frozenset(
    {S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED}
)


async def effect(conn: asyncpg.Connection, context: EventContext, message: Message) -> None:
    assert isinstance(message, bos_events_pb2.BatchReconciliationRequested)
    if message.status not in WAITING_FOR_CONFIRMATION:
        return
    batch = await store.get_batch(conn, message.batch_id) if message.batch_id else None
    if batch is None or not batch.is_confirmed or batch.confirmed_at is None:
        log.info(
            "reconcile: no final confirmation to re-emit",
            batch_id=message.batch_id,
            known=batch is not None,
        )
        return
    event_id = derived_event_id(
        context.event_id,
        cms_events_pb2.StudentAssociationsConfirmed,
        confirmation.confirmation_event_id(batch.batch_id),
    )
    await confirmation.enqueue(conn, batch, batch.confirmed_at, event_id=event_id, causation_id=context.event_id)
    log.info("reconcile: confirmation re-emitted", batch_id=batch.batch_id, event_id=event_id)


def build_handlers(pool: asyncpg.Pool) -> Mapping[type[Message], Handler]:
    return {bos_events_pb2.BatchReconciliationRequested: transactional(pool, CONSUMER, effect)}
