"""ReconcileBatch: an operator's way to un-stick a batch without SQL.

BOS does not guess which event was lost. It announces BatchReconciliationRequested (through
its outbox, with the batch's status) and every service re-emits, from its own durable state,
what the batch waits for: ELS its content completion from the slot tracker, CMS its
confirmation when it is final (ELS relays that into BatchEssaysReady again). BOS itself
re-issues what it produced: the registration while the content is awaited (ELS may never have
got it) and the match request while the students are awaited and nothing shows CMS confirmed
(CMS ignores suggestions for a batch it already has, so a second match is harmless).

Every re-emitted event's id is derived from the reconcile request and what it replaces: an
original that was lost inside JetStream's duplicate window would otherwise swallow the copy.
The receivers treat the same fact twice as a no-op, so reconciling a healthy batch, or
reconciling twice, changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from google.protobuf.message import Message

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import outbox
from essayflow_runtime.auth import Principal
from essayflow_runtime.contracts import derived_event_id
from essayflow_runtime.errors import NotFound
from essayflow_runtime.logs import get_logger
from services.bos import encoding, store
from services.bos.state_machine import ACV, ASV, SVC
from services.bos.store import BatchRecord
from services.bos.transitions import SOURCE

log = get_logger(__name__)

# The statuses a lost event can leave a batch in; later ones wait for people or Phase 2.
RECONCILABLE = frozenset({ACV, ASV, SVC})


@dataclass(frozen=True)
class Reconciled:
    batch: BatchRecord
    reconcile_id: str
    requested: bool
    reissued: tuple[str, ...]


def reissues(batch: BatchRecord) -> tuple[type[Message], ...]:
    """What BOS re-issues itself for a batch in its status. Pure."""
    if batch.status == ACV:
        return (bos_events_pb2.BatchEssaysRegistered,)
    facts = batch.facts()
    if batch.status == ASV and not facts.associations_confirmed and not facts.essays_stored:
        # Essays stored with their students would mean CMS confirmed: no match is missing then.
        return (bos_events_pb2.StudentMatchingInitiate,)
    return ()


async def reconcile(pool: asyncpg.Pool, principal: Principal, batch_id: str, reason: str) -> Reconciled:
    reconcile_id = str(uuid.uuid4())
    async with pool.acquire() as conn, conn.transaction():
        # The row lock: the status announced is the status the batch has when this commits.
        batch = await store.lock_batch(conn, batch_id)
        if batch is None:
            raise NotFound(f"batch {batch_id} not found", reason="BATCH_NOT_FOUND", metadata={"batch_id": batch_id})
        if batch.status not in RECONCILABLE:
            log.info("reconcile: nothing to re-emit", batch_id=batch_id, status=batch.status, reason=reason)
            return Reconciled(batch, reconcile_id, False, ())
        kinds = reissues(batch)
        for kind in kinds:
            await _enqueue(conn, batch, reconcile_id, await _reissued(conn, batch, kind))
        await _enqueue(
            conn,
            batch,
            reconcile_id,
            bos_events_pb2.BatchReconciliationRequested(
                batch_id=batch.batch_id,
                status=batch.status,
                version=batch.version,
                reconcile_id=reconcile_id,
                class_id=batch.class_id,
                batch_type=batch.batch_type,
                requested_by=principal.subject,
            ),
        )
    names = tuple(k.DESCRIPTOR.name for k in kinds)
    log.info("reconcile requested", batch_id=batch_id, reconcile_id=reconcile_id, reissued=names, reason=reason)
    return Reconciled(batch, reconcile_id, True, names)


async def _reissued(conn: asyncpg.Connection, batch: BatchRecord, kind: type[Message]) -> Message:
    if kind is bos_events_pb2.StudentMatchingInitiate:
        return encoding.matching_initiate(batch, await store.list_essays(conn, batch.batch_id))
    return encoding.registered(batch)


async def _enqueue(conn: asyncpg.Connection, batch: BatchRecord, reconcile_id: str, event: Message) -> None:
    await outbox.enqueue(
        conn,
        event,
        source=SOURCE,
        correlation_id=batch.correlation_id,
        causation_id=reconcile_id,
        event_id=derived_event_id(reconcile_id, type(event), batch.batch_id),
    )
