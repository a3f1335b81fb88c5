"""Purging a batch: its essay texts and personal data go, its status history stays.

One path for both ways a purge happens: an admin's PurgeBatch and the text retention
sweep (:mod:`services.bos.retention`). In one transaction, under the batch's row lock:
a batch that is not yet terminal is cancelled through the one door (so nothing moves it
on afterwards and late events find it terminal); its stored essays (text references,
file names, students) and the answers kept for its keyed requests are deleted; the purge
is recorded on the batch row; and ``BatchPurged`` goes into the outbox, for CMS (student
links and match reasons) and ELS (tracker, pending uploads, essay texts). Its event id is
derived from the batch, so the services act on one purge once; purging again sends the
same event again (harmless: every consumer's part is idempotent).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import outbox
from essayflow_runtime.contracts import derived_event_id, timestamp
from essayflow_runtime.errors import NotFound
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import BATCHES_PURGED
from services.bos import store, transitions
from services.bos.state_machine import CANCELLED, TERMINAL_STATUSES
from services.bos.store import BatchRecord, PurgeRecord
from services.bos.transitions import SOURCE, Change, Transitioned

log = get_logger(__name__)

RPC_CAUSE = "rpc:PurgeBatch"
RETENTION_CAUSE = "retention"


@dataclass(frozen=True)
class Purged:
    batch: BatchRecord  # after the purge (CANCELLED if it was not terminal)
    record: PurgeRecord
    event: bos_events_pb2.BatchPurged


async def purge(
    pool: asyncpg.Pool, batch_id: str, *, actor: str, cause: str, reason: str = ""
) -> Purged:
    """Purge ``batch_id`` everywhere (BOS now, CMS and ELS through ``BatchPurged``).
    The caller has decided that ``actor`` may (PurgeBatch is admin-only)."""
    step: Transitioned | None = None
    async with pool.acquire() as conn, conn.transaction():
        batch = await store.lock_batch(conn, batch_id)
        if batch is None:
            raise NotFound(f"batch {batch_id} not found", reason="BATCH_NOT_FOUND", metadata={"batch_id": batch_id})
        if batch.status not in TERMINAL_STATUSES:
            step = await transitions.apply(
                conn,
                batch,
                Change(
                    to_status=CANCELLED,
                    cause=cause,  # only PurgeBatch meets a live batch: retention purges terminal ones
                    actor=actor,
                    correlation_id=batch.correlation_id,
                    causation_id=str(uuid.uuid4()),
                    reason=f"purged: {reason}" if reason else "purged",
                ),
            )
            batch = step.batch
        record, text_ids = await store.purge_personal_data(conn, batch_id, purged_by=actor, reason=reason)
        event = bos_events_pb2.BatchPurged(
            batch_id=batch_id,
            class_id=batch.class_id,
            text_storage_ids=text_ids,
            purged_by=record.purged_by,
            cause=cause,
            reason=record.reason,
            purged_at=timestamp(record.purged_at),
        )
        await outbox.enqueue(
            conn,
            event,
            source=SOURCE,
            correlation_id=batch.correlation_id,
            causation_id=batch_id,
            event_id=derived_event_id(batch_id, bos_events_pb2.BatchPurged),
        )
    if step is not None:
        transitions.count_committed([step])
    if record.first_time:
        BATCHES_PURGED.labels(RETENTION_CAUSE if cause == RETENTION_CAUSE else "rpc").inc()
        log.info("batch purged", batch_id=batch_id, cause=cause, texts=len(text_ids))
    return Purged(batch, record, event)
