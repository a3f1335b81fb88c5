"""How a batch's status changes: the one door every status change goes through.

Every change is :func:`plan` (pure: the edge, the caller's expectation, the guards)
then :func:`record` (one statement: compare-and-set the row, append the history row,
enqueue BatchStatusChanged, keep a keyed request's answer). CancelBatch and BOS's event
handlers hold the row lock (``store.lock_batch``) in their transaction and call
:func:`apply`; the keyed RPCs (TransitionBatch, RequestPipeline) read without a lock and
record with ``unchanged_since``, so the write compare-and-sets on the row version they
read. After the commit :func:`count_committed` records the metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.contracts import derived_event_id, seal
from essayflow_runtime.enums import to_db
from essayflow_runtime.errors import Aborted, FailedPrecondition
from essayflow_runtime.metrics import BATCH_TRANSITIONS
from services.bos import encoding, store
from services.bos.state_machine import check_transition, edge, next_automatic_step, status_name
from services.bos.store import BatchRecord, TransitionRecord

SOURCE = "bos"
# Actor of the changes BOS makes on its own, from events.
SERVICE_ACTOR = "service:bos"


@dataclass(frozen=True)
class Change:
    """Who asks for a status change, and why."""

    to_status: common_pb2.BatchStatus
    cause: str  # "rpc:<Method>" or "event:<event_id>"
    actor: str
    correlation_id: str
    causation_id: str = ""
    reason: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class Transitioned:
    batch: BatchRecord  # after the change
    transition: TransitionRecord
    causation_id: str = ""


def _where(batch: BatchRecord) -> dict[str, str]:
    return {"current_status": status_name(batch.status), "current_version": str(batch.version)}


def plan(
    locked: BatchRecord,
    change: Change,
    *,
    expected_status: int | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Transitioned:
    """The step ``change`` asks of ``locked``, checked against the table, the caller's
    expectation and the guards; nothing is written. Pure.

    Raises FailedPrecondition for a move the table does not have or a guard that fails,
    Aborted when the batch is no longer at the expected status or version."""
    from_status = locked.status if expected_status is None else expected_status
    subject = f"batches/{locked.batch_id}"
    if edge(from_status, change.to_status) is None:
        violation = check_transition(locked.facts(), from_status, change.to_status)
        assert violation is not None
        raise FailedPrecondition(
            violation.message,
            reason=violation.reason,
            metadata={**_where(locked), "target_status": status_name(change.to_status)},
            violations=violation.precondition_violations(subject),
        )
    if locked.status != from_status or (expected_version is not None and locked.version != expected_version):
        raise Aborted(
            f"batch {locked.batch_id} is {status_name(locked.status)} at version {locked.version}; "
            "someone else changed it first",
            reason="BATCH_CHANGED",
            metadata=_where(locked),
        )
    violation = check_transition(locked.facts(), locked.status, change.to_status)
    if violation is not None:
        raise FailedPrecondition(
            violation.message,
            reason=violation.reason,
            metadata={**_where(locked), "target_status": status_name(change.to_status)},
            violations=violation.precondition_violations(subject),
        )
    # BOS's clock, not the database's: the event and the caller's answer carry this
    # time and are written in the same statement. The version orders the history.
    occurred_at = now or datetime.now(UTC)
    transition = TransitionRecord(
        batch_id=locked.batch_id,
        version=locked.version + 1,
        from_status=locked.status,
        to_status=change.to_status,
        cause=change.cause,
        actor=change.actor,
        idempotency_key=change.idempotency_key,
        correlation_id=change.correlation_id,
        reason=change.reason,
        occurred_at=occurred_at,
    )
    after = dataclasses.replace(
        locked,
        status=change.to_status,
        version=transition.version,
        updated_at=occurred_at,
        status_changed_at=occurred_at,
    )
    return Transitioned(after, transition, change.causation_id)


async def record(
    conn: asyncpg.Connection,
    step: Transitioned,
    answer: store.Answer | None = None,
    *,
    unchanged_since: int | None = None,
) -> bool:
    """Write a planned step: the batch row, its history row and BatchStatusChanged (with
    an id derived from the row: never two events for one version), and ``answer``.

    False, and nothing written, if the batch changed since it was read: never for a
    caller holding the row lock; for one that read without it (``unchanged_since``), the
    sign to read again."""
    t = step.transition
    event = seal(
        encoding.status_changed(t, step.batch.owner_id),
        source=SOURCE,
        correlation_id=t.correlation_id,
        causation_id=step.causation_id,
        event_id=derived_event_id(f"{t.batch_id}:{t.version}", bos_events_pb2.BatchStatusChanged),
    )
    return await store.record_transition(conn, t, event, answer, unchanged_since=unchanged_since)


async def apply(
    conn: asyncpg.Connection,
    locked: BatchRecord,
    change: Change,
    *,
    expected_status: int | None = None,
    expected_version: int | None = None,
) -> Transitioned:
    """Move ``locked`` (read ``FOR UPDATE`` in this transaction) to ``change.to_status``:
    :func:`plan`, then :func:`record`."""
    step = plan(locked, change, expected_status=expected_status, expected_version=expected_version)
    if not await record(conn, step):  # only if the caller forgot to lock: the compare-and-set holds
        raise Aborted(f"batch {locked.batch_id} changed concurrently", reason="BATCH_CHANGED", metadata=_where(locked))
    return step


async def advance(conn: asyncpg.Connection, locked: BatchRecord, change: Change) -> list[Transitioned]:
    """Take every step the batch's recorded facts allow (``change.to_status`` is ignored)."""
    done: list[Transitioned] = []
    current = locked
    while (target := next_automatic_step(current.facts(), current.status)) is not None:
        step = await apply(conn, current, dataclasses.replace(change, to_status=target))
        done.append(step)
        current = step.batch
    return done


def count_committed(steps: Iterable[Transitioned]) -> None:
    """Call after the transaction committed."""
    status = common_pb2.BatchStatus
    for step in steps:
        t = step.transition
        BATCH_TRANSITIONS.labels(to_db(status, t.from_status), to_db(status, t.to_status)).inc()
