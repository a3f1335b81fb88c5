"""What each RPC does to the batch aggregate, in its own transaction.

The servicer decodes and encodes; this module decides who may see a batch, keeps
idempotency keys, and moves batches only through ``transitions.apply``.

A teacher asking about another teacher's batch gets NOT_FOUND, exactly as for a batch
that does not exist, so batch ids cannot be probed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import outbox
from essayflow_runtime.auth import Principal
from essayflow_runtime.contracts import derived_event_id
from essayflow_runtime.errors import Aborted, FailedPrecondition, NotFound
from essayflow_runtime.metrics import CAS_CONFLICTS
from services.bos import encoding, store, transitions, validation
from services.bos.directory import ClassDirectory
from services.bos.state_machine import (
    CANCELLED,
    GUEST,
    INITIAL_STATUS,
    PROCESSING,
    READY,
    REGULAR,
    TERMINAL_STATUSES,
    status_name,
)
from services.bos.store import BatchRecord, EssayRecord, NewBatch
from services.bos.transitions import SOURCE, Change, Transitioned


def _not_found(batch_id: str) -> NotFound:
    return NotFound(f"batch {batch_id} not found", reason="BATCH_NOT_FOUND", metadata={"batch_id": batch_id})


def visible_to(principal: Principal, batch: BatchRecord) -> bool:
    return principal.is_privileged or batch.owner_id == principal.subject


async def _locked_for(conn: asyncpg.Connection, principal: Principal, batch_id: str) -> BatchRecord:
    batch = await store.lock_batch(conn, batch_id)
    if batch is None or not visible_to(principal, batch):
        raise _not_found(batch_id)
    return batch


def _change(
    principal: Principal, batch: BatchRecord, method: str, to_status: common_pb2.BatchStatus, **extra: str
) -> Change:
    return Change(
        to_status=to_status,
        cause=f"rpc:{method}",
        actor=principal.actor,
        correlation_id=batch.correlation_id,
        causation_id=str(uuid.uuid4()),  # this request's id
        **extra,
    )


async def register(
    pool: asyncpg.Pool, directory: ClassDirectory, principal: Principal, request: validation.Registration
) -> BatchRecord:
    """A new batch with one slot per expected essay; announces it with BatchEssaysRegistered."""
    if request.class_id:
        owner = await directory.owner_of(request.class_id)
        # Someone else's class looks exactly like a missing one: class ids cannot be probed either.
        if owner is None or (not principal.is_privileged and owner != principal.subject):
            raise NotFound(
                f"class {request.class_id} not found",
                reason="CLASS_NOT_FOUND",
                metadata={"class_id": request.class_id},
            )
    batch_id = str(uuid.uuid4())
    new = NewBatch(
        batch_id=batch_id,
        owner_id=principal.subject,
        class_id=request.class_id,
        batch_type=REGULAR if request.class_id else GUEST,
        course_code=request.course_code,
        title=request.title,
        essay_ids=[str(uuid.uuid4()) for _ in range(request.expected_essay_count)],
        correlation_id=batch_id,
        registration_key=request.idempotency_key,
    )
    async with pool.acquire() as conn, conn.transaction():
        created = await store.insert_batch(conn, new, INITIAL_STATUS)
        if created is None:  # the same registration again: the first batch is the answer
            first = await store.find_registration(conn, principal.subject, request.idempotency_key)
            assert first is not None
            return first
        await outbox.enqueue(
            conn,
            bos_events_pb2.BatchEssaysRegistered(
                batch_id=created.batch_id,
                essay_ids=created.essay_ids,
                expected_essay_count=created.expected_essay_count,
                course_code=created.course_code,
                class_id=created.class_id,
                batch_type=created.batch_type,
                owner_id=created.owner_id,
            ),
            source=SOURCE,
            correlation_id=created.correlation_id,
            causation_id=created.batch_id,
            event_id=derived_event_id(created.batch_id, bos_events_pb2.BatchEssaysRegistered),
        )
    return created


async def get(pool: asyncpg.Pool, principal: Principal, batch_id: str) -> tuple[BatchRecord, list[EssayRecord]]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        batch = await store.get_batch(conn, batch_id)
        if batch is None or not visible_to(principal, batch):
            raise _not_found(batch_id)
        return batch, await store.essays_of(conn, batch)


@dataclass(frozen=True)
class BatchPage:
    batches: list[BatchRecord]
    next_page_token: str


async def list_batches(pool: asyncpg.Pool, principal: Principal, page: validation.Page) -> BatchPage:
    batches = await store.list_batches(
        pool,
        owner_id=None if principal.is_privileged else principal.subject,
        status=page.status,
        after=page.after,
        limit=page.size + 1,
    )
    more = len(batches) > page.size
    batches = batches[: page.size]
    token = validation.encode_page_token(batches[-1].created_at, batches[-1].batch_id) if more else ""
    return BatchPage(batches, token)


async def history(pool: asyncpg.Pool, principal: Principal, batch_id: str) -> list[store.TransitionRecord]:
    batch = await store.get_batch(pool, batch_id)
    if batch is None or not visible_to(principal, batch):
        raise _not_found(batch_id)
    return await store.list_transitions(pool, batch_id)


TRANSITION_BATCH = "TransitionBatch"
REQUEST_PIPELINE = "RequestPipeline"
# How a keyed RequestPipeline retry fails when its original committed while it waited for the lock.
_LOST_TO_ITS_ORIGINAL = (Aborted, FailedPrecondition, asyncpg.UniqueViolationError)


async def _keyed_lock(
    conn: asyncpg.Connection, principal: Principal, batch_id: str, operation: str, key: str
) -> tuple[BatchRecord, bytes | None]:
    """The locked batch and the response already given for this request's key, if any."""
    batch, first = await store.lock_batch_for_request(conn, batch_id, operation, key)
    if batch is None or not visible_to(principal, batch):
        raise _not_found(batch_id)
    return batch, first


async def _first_answer_or_raise(
    pool: asyncpg.Pool, operation: str, batch_id: str, key: str, failure: Exception
) -> bytes:
    """After a keyed request failed: the answer its original gave, if it has one by now.

    A retry that raced its original waited for the row lock with a snapshot taken
    before the original committed, so its lock query could not see the stored answer;
    its own attempt then fails (the batch has moved on, or the key's row exists). A
    fresh statement sees the commit, and the retry gets the first answer after all."""
    first = await store.find_response(pool, operation, batch_id, key) if key else None
    if first is None:
        raise failure
    return first


async def transition(
    pool: asyncpg.Pool, principal: Principal, request: validation.TransitionRequest
) -> bos_pb2.TransitionBatchResponse:
    """TransitionBatch: the request's key makes a retry return the first result, even after
    a restart, and also when it races its original (its write then fails, and the read
    that follows finds the original's answer)."""
    step, response = await _transition(pool, principal, request)
    if step is None:
        response.replayed = True
    else:
        transitions.count_committed([step])
    return response


# How often TransitionBatch reads again when the batch changed between its read and its write.
_REREADS = 3


async def _transition(
    pool: asyncpg.Pool, principal: Principal, request: validation.TransitionRequest
) -> tuple[Transitioned | None, bos_pb2.TransitionBatchResponse]:
    """Optimistic, without a transaction or a row lock: read, plan, then one statement that
    writes only if the row is still the version that was read (two round trips)."""
    async with pool.acquire() as conn:
        for _ in range(_REREADS):
            seen = await store.read_for_request(conn, request.batch_id, TRANSITION_BATCH, request.idempotency_key)
            if seen.batch is None or not visible_to(principal, seen.batch):
                raise _not_found(request.batch_id)
            if seen.first_response is not None:
                return None, bos_pb2.TransitionBatchResponse.FromString(seen.first_response)
            step = transitions.plan(
                seen.batch,
                _change(
                    principal,
                    seen.batch,
                    TRANSITION_BATCH,
                    request.target_status,
                    reason=request.reason,
                    idempotency_key=request.idempotency_key,
                ),
                expected_status=request.expected_status,
                expected_version=request.expected_version,
            )
            response = bos_pb2.TransitionBatchResponse(
                batch=encoding.batch(step.batch, await store.essays_of(conn, step.batch)),
                transition=encoding.transition(step.transition),
            )
            # The answer is written with the change itself: one statement for both.
            answer = store.Answer(TRANSITION_BATCH, request.idempotency_key, response.SerializeToString())
            if await transitions.record(conn, step, answer, unchanged_since=seen.row_xmin):
                return step, response
            CAS_CONFLICTS.labels(SOURCE, "batch").inc()
            # The row changed after the read (its status, or a fact that a guard reads):
            # read again; plan() then decides with what is there now.
    raise Aborted(
        f"batch {request.batch_id} keeps changing; retry",
        reason="BATCH_CHANGED",
        metadata={"batch_id": request.batch_id},
    )


async def request_pipeline(
    pool: asyncpg.Pool, principal: Principal, request: validation.PipelineRequest
) -> bos_pb2.RequestPipelineResponse:
    """READY → PROCESSING_PIPELINES and BatchPipelineRequested with the stored essays."""
    try:
        step, response = await _request_pipeline(pool, principal, request)
    except _LOST_TO_ITS_ORIGINAL as failure:
        first = await _first_answer_or_raise(pool, REQUEST_PIPELINE, request.batch_id, request.idempotency_key, failure)
        step, response = None, bos_pb2.RequestPipelineResponse.FromString(first)
    if step is not None:
        transitions.count_committed([step])
    return response


async def _request_pipeline(
    pool: asyncpg.Pool, principal: Principal, request: validation.PipelineRequest
) -> tuple[Transitioned | None, bos_pb2.RequestPipelineResponse]:
    async with pool.acquire() as conn, conn.transaction():
        locked, first = await _keyed_lock(conn, principal, request.batch_id, REQUEST_PIPELINE, request.idempotency_key)
        if first is not None:
            return None, bos_pb2.RequestPipelineResponse.FromString(first)
        if locked.status != READY:
            raise FailedPrecondition(
                f"batch {locked.batch_id} is {status_name(locked.status)}; a pipeline needs {status_name(READY)}",
                reason="BATCH_NOT_READY",
                metadata={"current_status": status_name(locked.status), "current_version": str(locked.version)},
                violations=[
                    ("BATCH_NOT_READY", f"batches/{locked.batch_id}", f"status is {status_name(locked.status)}")
                ],
            )
        change = _change(
            principal,
            locked,
            REQUEST_PIPELINE,
            PROCESSING,
            reason="pipelines: " + ", ".join(request.pipelines),
            idempotency_key=request.idempotency_key,
        )
        step = transitions.plan(locked, change)
        essays = await store.list_essays(conn, request.batch_id)
        requested = bos_events_pb2.BatchPipelineRequested(
            batch_id=locked.batch_id,
            pipelines=request.pipelines,
            requested_by=principal.subject,
            course_code=locked.course_code,
            essays=[encoding.ready_essay(e) for e in essays],
        )
        response = bos_pb2.RequestPipelineResponse(batch=encoding.batch(step.batch, essays), request=requested)
        answer = (
            store.Answer(REQUEST_PIPELINE, request.idempotency_key, response.SerializeToString())
            if request.idempotency_key
            else None
        )
        await transitions.record_locked(conn, step, answer)
        await outbox.enqueue(
            conn,
            requested,
            source=SOURCE,
            correlation_id=locked.correlation_id,
            causation_id=change.causation_id,
            event_id=derived_event_id(
                f"{locked.batch_id}:{step.transition.version}", bos_events_pb2.BatchPipelineRequested
            ),
        )
    return step, response


async def cancel(
    pool: asyncpg.Pool, principal: Principal, request: validation.CancelRequest
) -> tuple[BatchRecord, list[EssayRecord]]:
    """Any non-terminal status → CANCELLED; cancelling a cancelled batch is a no-op."""
    step: Transitioned | None = None
    async with pool.acquire() as conn, conn.transaction():
        locked = await _locked_for(conn, principal, request.batch_id)
        if locked.status == CANCELLED:
            return locked, await store.essays_of(conn, locked)
        if locked.status in TERMINAL_STATUSES:
            raise FailedPrecondition(
                f"batch {locked.batch_id} is {status_name(locked.status)}, which is final",
                reason="BATCH_TERMINAL",
                metadata={"current_status": status_name(locked.status), "current_version": str(locked.version)},
                violations=[("BATCH_TERMINAL", f"batches/{locked.batch_id}", "a finished batch cannot be cancelled")],
            )
        step = await transitions.apply(
            conn, locked, _change(principal, locked, "CancelBatch", CANCELLED, reason=request.reason)
        )
        essays = await store.essays_of(conn, step.batch)
    transitions.count_committed([step])
    return step.batch, essays
