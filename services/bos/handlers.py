"""The events BOS consumes. Each effect records a fact on the batch, then lets the
state machine carry the batch as far as its facts allow (``transitions.advance``),
all in the transaction that also records the event as processed.

Order does not matter: BatchEssaysReady may come before StudentAssociationsConfirmed
(or even before the content is complete); the essays are kept and whichever fact
arrives second completes readiness. A duplicate or late event never moves a batch
backwards and never rewrites the essays of a batch that is READY or later. An event
that can never apply (unknown batch, a REGULAR-only event for a GUEST batch, essays
that are not the batch's slots, an association that is not final) is dead-lettered
with the reason, never logged and forgotten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
from google.protobuf.message import Message

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2
from essayflow_runtime import outbox
from essayflow_runtime.consumer import EventContext, Handler, transactional
from essayflow_runtime.contracts import PoisonMessage, derived_event_id
from essayflow_runtime.ids import is_uuid
from essayflow_runtime.logs import get_logger
from services.bos import encoding, store
from services.bos.state_machine import (
    ACV,
    ASV,
    ESSAYS_FROZEN_STATUSES,
    TERMINAL_STATUSES,
    status_name,
)
from services.bos.store import BatchRecord, EssayRecord
from services.bos.transitions import SERVICE_ACTOR, SOURCE, Change, Transitioned, advance, count_committed
from services.bos.validation import canonical_uuid

log = get_logger(__name__)

# Name under which processed event ids are recorded.
CONSUMER = "bos"

A = common_pb2.StudentAssociationStatus
# Associations that name the essay's author; the others leave the essay without a student.
WITH_STUDENT = frozenset({A.STUDENT_ASSOCIATION_STATUS_CONFIRMED, A.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED})
WITHOUT_STUDENT = frozenset({A.STUDENT_ASSOCIATION_STATUS_REJECTED, A.STUDENT_ASSOCIATION_STATUS_NO_MATCH})
NO_ASSOCIATION = A.STUDENT_ASSOCIATION_STATUS_UNSPECIFIED
NO_METHOD = common_pb2.AssociationValidationMethod.ASSOCIATION_VALIDATION_METHOD_UNSPECIFIED

Effect = Callable[[asyncpg.Connection, EventContext, Any], Awaitable[list[Transitioned]]]


def _change(ctx: EventContext) -> Change:
    return Change(
        to_status=ACV,  # a placeholder: advance() picks each target from the facts
        cause=f"event:{ctx.event_id}",
        actor=SERVICE_ACTOR,
        correlation_id=ctx.correlation_id,
        causation_id=ctx.event_id,
        reason=ctx.event_type.rpartition(".")[2],
    )


async def _lock(conn: asyncpg.Connection, batch_id: str) -> BatchRecord:
    if not is_uuid(batch_id):
        raise PoisonMessage("INVALID_BATCH_ID", repr(batch_id))
    batch = await store.lock_batch(conn, canonical_uuid(batch_id))
    if batch is None:
        # BOS commits a batch before announcing it, so an unknown id never becomes known later.
        raise PoisonMessage("BATCH_NOT_FOUND", batch_id)
    return batch


def _slot_ids(batch: BatchRecord, essay_ids: Sequence[str]) -> list[str]:
    """The essays' ids, checked to be distinct slots of the batch."""
    slots = set(batch.essay_ids)
    ids = [canonical_uuid(e) if is_uuid(e) else e for e in essay_ids]
    strangers = [e for e in ids if e not in slots]
    if strangers:
        raise PoisonMessage("UNKNOWN_ESSAY", f"not slots of batch {batch.batch_id}: {', '.join(strangers[:5])}")
    if len(set(ids)) != len(ids):
        raise PoisonMessage("DUPLICATE_ESSAY", f"an essay appears twice for batch {batch.batch_id}")
    return ids


def _ignored(batch: BatchRecord, ctx: EventContext, why: str) -> list[Transitioned]:
    log.info("event leaves the batch as it is", batch_id=batch.batch_id, status=status_name(batch.status), why=why)
    return []


async def on_content_completed(
    conn: asyncpg.Connection, ctx: EventContext, event: els_events_pb2.BatchContentProvisioningCompleted
) -> list[Transitioned]:
    """GUEST: store the essays and go READY. REGULAR: keep the essays, go
    AWAITING_STUDENT_VALIDATION and ask for student matching. Every upload failed:
    CONTENT_INGESTION_FAILED."""
    batch = await _lock(conn, event.batch_id)
    if batch.status != ACV or batch.content_completed_at is not None:
        return _ignored(batch, ctx, "content already complete")
    ids = _slot_ids(batch, [e.essay_id for e in event.stored_essays])
    _slot_ids(batch, [f.essay_id for f in event.failed_uploads])
    if not event.stored_essays and not event.failed_uploads:
        raise PoisonMessage("EMPTY_CONTENT", f"batch {batch.batch_id}: neither essays nor failed uploads")
    if any(not e.text_storage_id for e in event.stored_essays):
        raise PoisonMessage("MISSING_TEXT_STORAGE_ID", f"batch {batch.batch_id}")
    await store.record_content_completed(
        conn,
        batch.batch_id,
        every_upload_failed=not event.stored_essays,
        failed_upload_count=len(event.failed_uploads),
    )
    # REGULAR essays that already came with their students (BatchEssaysReady first) stay as they are.
    if event.stored_essays and batch.essays_stored_at is None:
        await store.replace_essays(
            conn,
            batch.batch_id,
            [
                EssayRecord(essay_id, e.text_storage_id, e.file_name, "", NO_ASSOCIATION, NO_METHOD)
                for essay_id, e in zip(ids, event.stored_essays, strict=True)
            ],
        )
        if batch.is_guest:
            await store.record_essays_stored(conn, batch.batch_id)
    refreshed = await store.lock_batch(conn, batch.batch_id)
    assert refreshed is not None
    steps = await advance(conn, refreshed, _change(ctx))
    entered_validation = any(s.transition.to_status == ASV for s in steps)
    if entered_validation and refreshed.associations_confirmed_at is None:
        essays = await store.list_essays(conn, batch.batch_id)
        await outbox.enqueue(
            conn,
            encoding.matching_initiate(batch, essays),
            source=SOURCE,
            correlation_id=ctx.correlation_id,
            causation_id=ctx.event_id,
            event_id=derived_event_id(ctx.event_id, bos_events_pb2.StudentMatchingInitiate),
        )
    return steps


async def on_associations_confirmed(
    conn: asyncpg.Connection, ctx: EventContext, event: cms_events_pb2.StudentAssociationsConfirmed
) -> list[Transitioned]:
    """AWAITING_STUDENT_VALIDATION → STUDENT_VALIDATION_COMPLETED, and on to READY when
    the essays with their students are already stored."""
    batch = await _lock(conn, event.batch_id)
    if batch.is_guest:
        raise PoisonMessage("NOT_A_REGULAR_BATCH", f"batch {batch.batch_id} has no class")
    if event.class_id and (not is_uuid(event.class_id) or canonical_uuid(event.class_id) != batch.class_id):
        raise PoisonMessage("CLASS_MISMATCH", f"batch {batch.batch_id} belongs to class {batch.class_id}")
    if batch.status in TERMINAL_STATUSES or batch.associations_confirmed_at is not None:
        return _ignored(batch, ctx, "associations already confirmed")
    await store.record_associations_confirmed(conn, batch.batch_id)
    refreshed = await store.lock_batch(conn, batch.batch_id)
    assert refreshed is not None
    return await advance(conn, refreshed, _change(ctx))


def _ready_essay(essay_id: str, ready: bos_events_pb2.ReadyEssay, batch_id: str) -> EssayRecord:
    status = ready.association_status
    if status == NO_ASSOCIATION and not ready.student_id:
        # The confirmation did not mention this essay (ELS joins what CMS sent): nobody was
        # confirmed as its author, which is what no_match means. Dropping the event instead
        # would leave the batch stuck short of READY.
        status = A.STUDENT_ASSOCIATION_STATUS_NO_MATCH
    if status not in WITH_STUDENT and status not in WITHOUT_STUDENT:
        raise PoisonMessage(
            "ASSOCIATION_NOT_FINAL",
            f"batch {batch_id} essay {essay_id}: {A.Name(status)}",
        )
    if status in WITH_STUDENT and not ready.student_id:
        raise PoisonMessage("MISSING_STUDENT", f"batch {batch_id} essay {essay_id}: {A.Name(status)} without student")
    if not ready.essay.text_storage_id:
        raise PoisonMessage("MISSING_TEXT_STORAGE_ID", f"batch {batch_id} essay {essay_id}")
    return EssayRecord(
        essay_id=essay_id,
        text_storage_id=ready.essay.text_storage_id,
        file_name=ready.essay.file_name,
        student_id=ready.student_id if status in WITH_STUDENT else "",
        association_status=status,
        validation_method=ready.validation_method,
    )


async def on_essays_ready(
    conn: asyncpg.Connection, ctx: EventContext, event: els_events_pb2.BatchEssaysReady
) -> list[Transitioned]:
    """Store the essays with their final associations; STUDENT_VALIDATION_COMPLETED → READY.
    Earlier than that, the essays are kept and the confirmation completes readiness."""
    batch = await _lock(conn, event.batch_id)
    if batch.is_guest:
        raise PoisonMessage("NOT_A_REGULAR_BATCH", f"batch {batch.batch_id} has no class")
    if batch.status in ESSAYS_FROZEN_STATUSES:
        return _ignored(batch, ctx, "essays are final")
    if not event.essays:
        raise PoisonMessage("NO_ESSAYS", f"batch {batch.batch_id}")
    ids = _slot_ids(batch, [e.essay.essay_id for e in event.essays])
    essays = [_ready_essay(i, e, batch.batch_id) for i, e in zip(ids, event.essays, strict=True)]
    await store.replace_essays(conn, batch.batch_id, essays)
    await store.record_essays_stored(conn, batch.batch_id)
    refreshed = await store.lock_batch(conn, batch.batch_id)
    assert refreshed is not None
    return await advance(conn, refreshed, _change(ctx))


EFFECTS: Mapping[type[Message], Effect] = {
    els_events_pb2.BatchContentProvisioningCompleted: on_content_completed,
    cms_events_pb2.StudentAssociationsConfirmed: on_associations_confirmed,
    els_events_pb2.BatchEssaysReady: on_essays_ready,
}


def effect_handler(pool: asyncpg.Pool, effect: Effect) -> Handler:
    """The effect and its processed_events row in one transaction; the metric after commit."""

    async def handle(ctx: EventContext, payload: Message) -> None:
        committed: list[Transitioned] = []

        async def run(conn: asyncpg.Connection, ctx: EventContext, payload: Message) -> None:
            committed.extend(await effect(conn, ctx, payload))

        await transactional(pool, CONSUMER, run)(ctx, payload)
        count_committed(committed)

    return handle


def handlers(pool: asyncpg.Pool) -> dict[type[Message], Handler]:
    return {event: effect_handler(pool, effect) for event, effect in EFFECTS.items()}
