"""The BOS gRPC API against the real service, PostgreSQL and nats-server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2
from nats.aio.client import Client as NATS
from prometheus_client import REGISTRY

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService, start_service
from services.bos import store
from services.bos.main import make_build_parts
from tests.integration.bos.helpers import (
    Client,
    FakeDirectory,
    batch_row_locked,
    error_info,
    register_request,
    until_queued_on_lock,
)

S = common_pb2.BatchStatus
ACV = S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
CODE = grpc.StatusCode
ALICE, BOB = "teacher-alice", "teacher-bob"


async def register(client: Client, owner: str = ALICE, **kwargs: Any) -> bos_pb2.Batch:
    response = await client.call("RegisterBatch", register_request(**kwargs), owner)
    batch: bos_pb2.Batch = response.batch
    return batch


def transition_request(
    batch_id: str, expected: Any, target: Any, key: str = "", **kwargs: Any
) -> bos_pb2.TransitionBatchRequest:
    return bos_pb2.TransitionBatchRequest(
        batch_id=batch_id,
        expected_status=expected,
        target_status=target,
        idempotency_key=key or str(uuid.uuid4()),
        **kwargs,
    )


async def failure(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await call
    return exc.value


async def test_register_creates_the_slots_and_announces_the_batch(client: Client, nc: NATS) -> None:
    announced = await nc.subscribe(contracts.subject_of(bos_events_pb2.BatchEssaysRegistered))
    batch = await register(client, count=4)
    assert batch.status == ACV and batch.version == 0
    assert batch.batch_type == common_pb2.BATCH_TYPE_GUEST and batch.owner_id == ALICE
    assert len(set(batch.essay_ids)) == 4 and all(uuid.UUID(e) for e in batch.essay_ids)
    while True:
        msg = await announced.next_msg(timeout=10)
        envelope, event = contracts.unwrap(msg.data)
        if event.batch_id == batch.batch_id:
            break
    assert list(event.essay_ids) == list(batch.essay_ids)
    assert event.expected_essay_count == 4 and event.owner_id == ALICE
    assert envelope.source == "bos" and envelope.correlation_id == batch.batch_id


async def test_register_regular_needs_a_class_the_teacher_owns(client: Client, directory: FakeDirectory) -> None:
    mine, theirs = directory.add(ALICE), directory.add(BOB)
    batch = await register(client, class_id=mine)
    assert batch.batch_type == common_pb2.BATCH_TYPE_REGULAR and batch.class_id == mine
    for class_id in (theirs, str(uuid.uuid4())):
        error = await failure(client.call("RegisterBatch", register_request(class_id=class_id), ALICE))
        assert error.code() == CODE.NOT_FOUND
        assert error_info(error)[0] == "CLASS_NOT_FOUND"


async def test_register_with_a_key_twice_returns_the_first_batch(client: Client) -> None:
    first, again = await asyncio.gather(register(client, key="upload-7"), register(client, key="upload-7"))
    assert first.batch_id == again.batch_id
    other_teacher = await register(client, BOB, key="upload-7")
    assert other_teacher.batch_id != first.batch_id


async def test_malformed_requests_name_the_bad_fields(client: Client) -> None:
    error = await failure(client.call("RegisterBatch", bos_pb2.RegisterBatchRequest(expected_essay_count=0), ALICE))
    assert error.code() == CODE.INVALID_ARGUMENT
    bad = next(d for d in error_info(error)[2] if isinstance(d, error_details_pb2.BadRequest))
    assert {v.field for v in bad.field_violations} == {"expected_essay_count", "course_code"}
    error = await failure(client.call("GetBatch", bos_pb2.GetBatchRequest(batch_id="42"), ALICE))
    assert error.code() == CODE.INVALID_ARGUMENT
    batch = await register(client)
    error = await failure(
        client.call(
            "TransitionBatch",
            bos_pb2.TransitionBatchRequest(batch_id=batch.batch_id, target_status=S.BATCH_STATUS_CANCELLED),
            "els",
            Role.SERVICE,
        )
    )
    assert error.code() == CODE.INVALID_ARGUMENT


async def test_callers_must_authenticate_and_only_services_transition(client: Client) -> None:
    batch = await register(client)
    error = await failure(client.stub.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch.batch_id)))
    assert error.code() == CODE.UNAUTHENTICATED
    request = transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED)
    error = await failure(client.call("TransitionBatch", request, ALICE, Role.TEACHER))
    assert error.code() == CODE.PERMISSION_DENIED
    error = await failure(client.call("RegisterBatch", register_request(), "els", Role.SERVICE))
    assert error.code() == CODE.PERMISSION_DENIED
    done = await client.call("TransitionBatch", request, "root", Role.ADMIN)
    assert done.transition.actor == "root"


async def test_a_teacher_cannot_touch_another_teachers_batch(client: Client) -> None:
    batch = await register(client, ALICE)
    batch_id = batch.batch_id
    attempts: list[tuple[str, Any]] = [
        ("GetBatch", bos_pb2.GetBatchRequest(batch_id=batch_id)),
        ("ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch_id)),
        ("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=batch_id)),
        ("RequestPipeline", bos_pb2.RequestPipelineRequest(batch_id=batch_id)),
    ]
    missing = str(uuid.uuid4())
    for method, request in attempts:
        error = await failure(client.call(method, request, BOB))
        # Exactly what a batch that does not exist looks like.
        assert error.code() == CODE.NOT_FOUND, method
        request.batch_id = missing
        absent = await failure(client.call(method, request, BOB))
        assert (absent.code(), error_info(absent)[0]) == (error.code(), error_info(error)[0])
    watch = client.stub.WatchBatch(
        bos_pb2.WatchBatchRequest(batch_id=batch_id), metadata=client.auth(BOB, Role.TEACHER)
    )
    error = await failure(watch.read())
    assert error.code() == CODE.NOT_FOUND
    listed = await client.call("ListBatches", bos_pb2.ListBatchesRequest(), BOB)
    assert batch_id not in {b.batch_id for b in listed.batches}
    still = await client.call("GetBatch", bos_pb2.GetBatchRequest(batch_id=batch_id), ALICE)
    assert still.batch.status == ACV and still.batch.version == 0
    seen_by_service = await client.call("GetBatch", bos_pb2.GetBatchRequest(batch_id=batch_id), "els", Role.SERVICE)
    assert seen_by_service.batch.batch_id == batch_id


async def test_list_batches_pages_newest_first(client: Client) -> None:
    teacher = f"teacher-{uuid.uuid4()}"
    made = [(await register(client, teacher)).batch_id for _ in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        page = await client.call("ListBatches", bos_pb2.ListBatchesRequest(page_size=2, page_token=token), teacher)
        seen += [b.batch_id for b in page.batches]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(reversed(made))
    cancelled = await client.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=made[0]), teacher)
    assert cancelled.batch.status == S.BATCH_STATUS_CANCELLED
    only = await client.call("ListBatches", bos_pb2.ListBatchesRequest(status=S.BATCH_STATUS_CANCELLED), teacher)
    assert [b.batch_id for b in only.batches] == [made[0]]


async def test_transition_errors_say_what_is_wrong(client: Client) -> None:
    batch = await register(client)

    def call(request: bos_pb2.TransitionBatchRequest) -> Awaitable[Any]:
        return client.call("TransitionBatch", request, "els", Role.SERVICE)

    error = await failure(call(transition_request(str(uuid.uuid4()), ACV, S.BATCH_STATUS_CANCELLED)))
    assert error.code() == CODE.NOT_FOUND

    # Straight to READY without essays: the guard refuses, with the reason.
    error = await failure(call(transition_request(batch.batch_id, ACV, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)))
    assert error.code() == CODE.FAILED_PRECONDITION
    reason, _, details = error_info(error)
    assert reason == "TRANSITION_GUARD_FAILED"
    failure_detail = next(d for d in details if isinstance(d, error_details_pb2.PreconditionFailure))
    assert {"CONTENT_COMPLETE", "ESSAYS_STORED"} <= {v.type for v in failure_detail.violations}

    error = await failure(call(transition_request(batch.batch_id, ACV, S.BATCH_STATUS_PROCESSING_PIPELINES)))
    assert error.code() == CODE.FAILED_PRECONDITION and error_info(error)[0] == "TRANSITION_NOT_ALLOWED"

    error = await failure(call(transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED, expected_version=3)))
    assert error.code() == CODE.ABORTED
    assert error_info(error)[1] == {"current_status": S.Name(ACV), "current_version": "0"}

    moved = await call(transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED, expected_version=0))
    assert moved.batch.status == S.BATCH_STATUS_CANCELLED and moved.batch.version == 1
    assert moved.transition.cause == "rpc:TransitionBatch" and moved.transition.actor == "service:els"

    error = await failure(call(transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED)))
    assert error.code() == CODE.ABORTED
    assert error_info(error)[1] == {"current_status": S.Name(S.BATCH_STATUS_CANCELLED), "current_version": "1"}


async def test_request_pipeline_before_ready_is_refused_with_the_status(client: Client) -> None:
    batch = await register(client)
    error = await failure(
        client.call("RequestPipeline", bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id), ALICE)
    )
    assert error.code() == CODE.FAILED_PRECONDITION
    reason, metadata, _ = error_info(error)
    assert reason == "BATCH_NOT_READY" and metadata["current_status"] == S.Name(ACV)


async def test_fifty_racing_transitions_one_wins(client: Client) -> None:
    batch = await register(client)
    requests = [transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED) for _ in range(50)]
    results = await asyncio.gather(
        *(client.call("TransitionBatch", r, "els", Role.SERVICE) for r in requests), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, bos_pb2.TransitionBatchResponse)]
    codes = [r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == 1 and codes == [CODE.ABORTED] * 49
    history = await client.call(
        "ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), ALICE
    )
    assert len(history.transitions) == 1
    assert history.transitions[0].idempotency_key == ok[0].transition.idempotency_key


async def test_retries_queued_behind_their_original_all_get_the_first_result(
    client: Client, pool: asyncpg.Pool
) -> None:
    # Hold the batch's row lock so that every copy of the request has read the batch
    # (no answer yet) and queues on the lock with its write; then let them through. The
    # one that goes first is the original; every other must replay its answer, not fail
    # because the batch has moved on.
    batch = await register(client)
    request = transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED, key="cancel-racing", reason="dup")
    copies = 8
    async with batch_row_locked(pool, batch.batch_id):
        calls = [
            asyncio.ensure_future(client.call("TransitionBatch", request, "els", Role.SERVICE)) for _ in range(copies)
        ]
        await until_queued_on_lock(pool, copies, "UPDATE batches")
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [r for r in results if not isinstance(r, bos_pb2.TransitionBatchResponse)] == []
    answers = [r for r in results if isinstance(r, bos_pb2.TransitionBatchResponse)]
    assert sum(not r.replayed for r in answers) == 1
    assert all(r.transition == answers[0].transition and r.batch == answers[0].batch for r in answers)
    history = await client.call(
        "ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), ALICE
    )
    assert len(history.transitions) == 1


async def test_a_fact_recorded_while_transition_batch_waits_to_write_makes_it_read_again(
    client: Client, pool: asyncpg.Pool
) -> None:
    # TransitionBatch reads without a lock; its write then queues behind a handler that
    # records a fact (status and version unchanged). The write must notice, read again,
    # plan with the fact, and say so in the conflicts metric.
    def conflicts() -> float:
        labels = {"service": "bos", "record": "batch"}
        return REGISTRY.get_sample_value("essayflow_compare_and_set_conflicts_total", labels) or 0.0

    batch = await register(client)
    before = conflicts()
    request = transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED, reason="late fact")
    async with batch_row_locked(pool, batch.batch_id) as holder:
        call = asyncio.ensure_future(client.call("TransitionBatch", request, "els", Role.SERVICE))
        await until_queued_on_lock(pool, 1, "UPDATE batches")
        await store.record_content_completed(holder, batch.batch_id, every_upload_failed=False, failed_upload_count=0)
    response = await call
    assert response.batch.status == S.BATCH_STATUS_CANCELLED and response.transition.version == 1
    assert conflicts() == before + 1
    history = await client.call(
        "ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), ALICE
    )
    assert len(history.transitions) == 1


async def test_a_repeated_key_returns_the_first_result_even_after_a_restart(
    settings: Settings, directory: FakeDirectory, bos: RunningService, client: Client
) -> None:
    batch = await register(client)
    request = transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED, key="cancel-once", reason="typo")
    first = await client.call("TransitionBatch", request, "els", Role.SERVICE)
    assert not first.replayed
    again = await client.call("TransitionBatch", request, "els", Role.SERVICE)
    assert again.replayed and again.transition == first.transition and again.batch == first.batch

    await bos.stop()
    restarted = await start_service("bos", settings, make_build_parts(directory), port=0, with_database=True)
    other = Client(settings, restarted.port)
    try:
        after = await other.call("TransitionBatch", request, "els", Role.SERVICE)
        assert after.replayed and after.transition == first.transition
        history = await other.call(
            "ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), ALICE
        )
        assert len(history.transitions) == 1
    finally:
        await other.close()
        await restarted.stop()


async def test_watch_streams_the_current_state_then_each_change(client: Client) -> None:
    batch = await register(client)
    stream = client.stub.WatchBatch(
        bos_pb2.WatchBatchRequest(batch_id=batch.batch_id), metadata=client.auth(ALICE, Role.TEACHER)
    )
    first = await asyncio.wait_for(stream.read(), timeout=10)
    assert first.batch.status == ACV and not first.HasField("transition")
    await client.call("CancelBatch", bos_pb2.CancelBatchRequest(batch_id=batch.batch_id, reason="wrong class"), ALICE)
    change = await asyncio.wait_for(stream.read(), timeout=10)
    assert change.transition.to_status == S.BATCH_STATUS_CANCELLED and change.transition.reason == "wrong class"
    assert change.batch.status == S.BATCH_STATUS_CANCELLED and change.batch.version == 1
    # A terminal status ends the stream.
    assert await asyncio.wait_for(stream.read(), timeout=10) is grpc.aio.EOF


async def test_a_change_committed_by_another_replica_reaches_the_watcher(
    settings: Settings, directory: FakeDirectory, client: Client
) -> None:
    batch = await register(client)
    replica = await start_service("bos", settings, make_build_parts(directory), port=0, with_database=True)
    other = Client(settings, replica.port)
    try:
        stream = client.stub.WatchBatch(
            bos_pb2.WatchBatchRequest(batch_id=batch.batch_id), metadata=client.auth(ALICE, Role.TEACHER)
        )
        await asyncio.wait_for(stream.read(), timeout=10)
        await other.call(
            "TransitionBatch", transition_request(batch.batch_id, ACV, S.BATCH_STATUS_CANCELLED), "els", Role.SERVICE
        )
        change = await asyncio.wait_for(stream.read(), timeout=10)
        assert change.transition.to_status == S.BATCH_STATUS_CANCELLED
    finally:
        await other.close()
        await replica.stop()


async def test_describe_state_machine(client: Client) -> None:
    described = await client.call("DescribeStateMachine", bos_pb2.DescribeStateMachineRequest(), ALICE)
    assert described.initial_status == ACV
    moves = {(e.from_status, e.to_status) for e in described.edges}
    assert (S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION) in moves
    assert (S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION) not in moves
