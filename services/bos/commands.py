"""What each RPC does to the batch aggregate, in its own transaction.

The servicer decodes and encodes; this module decides who may see a batch, keeps
idempotency keys, and moves batches only through ``transitions.apply``.

A teacher asking about another teacher's batch gets NOT_FOUND, exactly as for a batch
that does not exist, so batch ids cannot be probed.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import idempotency, outbox
from essayflow_runtime.auth import Principal
from essayflow_runtime.contracts import derived_event_id
from essayflow_runtime.errors import Aborted, FailedPrecondition, NotFound
from essayflow_runtime.metrics import CAS_CONFLICTS
from services.bos import encoding, store, transitions, validation
from services.bos.directory import ClassDirectory, ClassEntry
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


def _check_course(request: validation.Registration, found: ClassEntry) -> None:
    """A batch of one course against a class of another is a mistake unless the caller says
    it is meant (allow_other_course): the matcher and the pipelines go by the batch's course."""
    if not found.course_code or found.course_code == request.course_code or request.allow_other_course:
        return
    batch_course = common_pb2.CourseCode.Name(request.course_code)
    class_course = common_pb2.CourseCode.Name(found.course_code)
    raise FailedPrecondition(
        f"class {request.class_id} is a {class_course} class; this batch is {batch_course} "
        "(register it with the class's course, or set allow_other_course)",
        reason="CLASS_COURSE_MISMATCH",
        metadata={"class_id": request.class_id, "class_course": class_course, "batch_course": batch_course},
        violations=[("CLASS_COURSE_MISMATCH", f"classes/{request.class_id}", f"the class's course is {class_course}")],
    )


async def register(
    pool: asyncpg.Pool, directory: ClassDirectory, principal: Principal, request: validation.Registration
) -> BatchRecord:
    """A new batch with one slot per expected essay; announces it with BatchEssaysRegistered."""
    if request.class_id:
        entry = await directory.find(request.class_id)
        # Someone else's class looks exactly like a missing one: class ids cannot be probed either.
        if entry is None or (not principal.is_privileged and entry.owner_id != principal.subject):
            raise NotFound(
                f"class {request.class_id} not found",
                reason="CLASS_NOT_FOUND",
                metadata={"class_id": request.class_id},
            )
        _check_course(request, entry)
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
        registration_role=principal.role.value,
        registration_fingerprint=request.fingerprint,
    )
    async with pool.acquire() as conn, conn.transaction():
        created = await store.insert_batch(conn, new, INITIAL_STATUS)
        if created is None:  # this caller used the key before: the same request gets the first batch
            found = await store.find_registration(
                conn, principal.subject, principal.role.value, request.idempotency_key
            )
            assert found is not None
            first, fingerprint = found
            idempotency.check_same_request(REGISTER_BATCH, request.idempotency_key, fingerprint, request.fingerprint)
            return first
        await outbox.enqueue(
            conn,
            encoding.registered(created),
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
        statuses=page.statuses,
        after=page.after,
        limit=page.size + 1,
        waited_longer_than=page.waited_longer_than,
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


REGISTER_BATCH = "RegisterBatch"
TRANSITION_BATCH = "TransitionBatch"
REQUEST_PIPELINE = "RequestPipeline"
# How often a keyed request reads again when the batch changed between its read and its write.
_REREADS = 3

R = TypeVar("R", bound=Message)


def caller_of(principal: Principal) -> store.Caller:
    return store.Caller(role=principal.role.value, subject=principal.subject)


async def _keyed_change(
    pool: asyncpg.Pool,
    principal: Principal,
    batch_id: str,
    operation: str,
    key: str,
    fingerprint: bytes,
    write: Callable[[asyncpg.Connection, store.Seen], Awaitable[tuple[Transitioned, R] | None]],
    replay: Callable[[bytes], R],
) -> tuple[Transitioned | None, R]:
    """Optimistic, without a row lock: read the batch (with the answer this caller was
    already given for ``key``, if any), then ``write``, which plans and writes only if the
    row is still the version that was read, or returns None. The row changed after the
    read (its status, or a fact that a guard reads): read again, and plan with what is
    there now. A retry racing its original finds the original's answer on that second
    read; a different request racing under the same key finds it too, and is refused."""
    caller = caller_of(principal)
    async with pool.acquire() as conn:
        for _ in range(_REREADS):
            seen = await store.read_for_request(conn, batch_id, operation, caller, key)
            if seen.batch is None or not visible_to(principal, seen.batch):
                raise _not_found(batch_id)
            if seen.first_response is not None:
                idempotency.check_same_request(operation, key, seen.first_fingerprint or b"", fingerprint)
                return None, replay(seen.first_response)
            done = await write(conn, seen)
            if done is not None:
                return done
            CAS_CONFLICTS.labels(SOURCE, "batch").inc()
    raise Aborted(f"batch {batch_id} keeps changing; retry", reason="BATCH_CHANGED", metadata={"batch_id": batch_id})


async def transition(
    pool: asyncpg.Pool, principal: Principal, request: validation.TransitionRequest
) -> bos_pb2.TransitionBatchResponse:
    """TransitionBatch: the request's key makes a retry return the first result, even after
    a restart or when it races its original. Two round trips: the read and one statement."""

    async def write(
        conn: asyncpg.Connection, seen: store.Seen
    ) -> tuple[Transitioned, bos_pb2.TransitionBatchResponse] | None:
        assert seen.batch is not None
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
        answer = store.Answer(
            TRANSITION_BATCH,
            request.idempotency_key,
            caller_of(principal),
            request.fingerprint,
            response.SerializeToString(),
        )
        recorded = await transitions.record(conn, step, answer, unchanged_since=seen.row_xmin)
        return (step, response) if recorded else None

    response: bos_pb2.TransitionBatchResponse
    step, response = await _keyed_change(
        pool,
        principal,
        request.batch_id,
        TRANSITION_BATCH,
        request.idempotency_key,
        request.fingerprint,
        write,
        bos_pb2.TransitionBatchResponse.FromString,
    )
    if step is None:
        response.replayed = True
    else:
        transitions.count_committed([step])
    return response


async def request_pipeline(
    pool: asyncpg.Pool, principal: Principal, request: validation.PipelineRequest
) -> bos_pb2.RequestPipelineResponse:
    """READY → PROCESSING_PIPELINES and BatchPipelineRequested with the stored essays."""

    async def write(
        conn: asyncpg.Connection, seen: store.Seen
    ) -> tuple[Transitioned, bos_pb2.RequestPipelineResponse] | None:
        batch = seen.batch
        assert batch is not None
        if batch.status != READY:
            raise FailedPrecondition(
                f"batch {batch.batch_id} is {status_name(batch.status)}; a pipeline needs {status_name(READY)}",
                reason="BATCH_NOT_READY",
                metadata={"current_status": status_name(batch.status), "current_version": str(batch.version)},
                violations=[("BATCH_NOT_READY", f"batches/{batch.batch_id}", f"status is {status_name(batch.status)}")],
            )
        change = _change(
            principal,
            batch,
            REQUEST_PIPELINE,
            PROCESSING,
            reason="pipelines: " + ", ".join(request.pipelines),
            idempotency_key=request.idempotency_key,
        )
        step = transitions.plan(batch, change)
        essays = await store.list_essays(conn, request.batch_id)
        requested = bos_events_pb2.BatchPipelineRequested(
            batch_id=batch.batch_id,
            pipelines=request.pipelines,
            requested_by=principal.subject,
            course_code=batch.course_code,
            essays=[encoding.ready_essay(e) for e in essays],
        )
        response = bos_pb2.RequestPipelineResponse(batch=encoding.batch(step.batch, essays), request=requested)
        answer = (
            store.Answer(
                REQUEST_PIPELINE,
                request.idempotency_key,
                caller_of(principal),
                request.fingerprint,
                response.SerializeToString(),
            )
            if request.idempotency_key
            else None
        )
        async with conn.transaction():  # the change and the pipeline request: both or neither
            if not await transitions.record(conn, step, answer, unchanged_since=seen.row_xmin):
                return None
            await outbox.enqueue(
                conn,
                requested,
                source=SOURCE,
                correlation_id=batch.correlation_id,
                causation_id=change.causation_id,
                event_id=derived_event_id(
                    f"{batch.batch_id}:{step.transition.version}", bos_events_pb2.BatchPipelineRequested
                ),
            )
        return step, response

    response: bos_pb2.RequestPipelineResponse
    step, response = await _keyed_change(
        pool,
        principal,
        request.batch_id,
        REQUEST_PIPELINE,
        request.idempotency_key,
        request.fingerprint,
        write,
        bos_pb2.RequestPipelineResponse.FromString,
    )
    if step is not None:
        transitions.count_committed([step])
    return response


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
