"""Idempotency keys over the real BOS, PostgreSQL and nats-server: a key belongs to its
caller (role and subject) and to the request it was first sent with. The same request
again gets the first answer; a different request under the same key is refused with
IDEMPOTENCY_KEY_REUSED; another caller's identical key is a key of its own."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from nats.js import JetStreamContext

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2
from essayflow_runtime.auth import Role
from essayflow_runtime.consumer import publish
from tests.integration.bos.helpers import Client, error_info, essay_refs, register_request
from tests.support import eventually

S = common_pb2.BatchStatus
ACV = S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
READY = S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
ALICE, BOB = "teacher-alice", "teacher-bob"


def settled(batch: bos_pb2.Batch) -> bos_pb2.Batch:
    """The batch without ``waited``, which is as of each answer (the replay is a later answer)."""
    copy = bos_pb2.Batch()
    copy.CopyFrom(batch)
    copy.ClearField("waited")
    return copy


async def failure(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await call
    return exc.value


async def assert_key_reused(call: Awaitable[Any]) -> None:
    error = await failure(call)
    reason, metadata, _ = error_info(error)
    assert (error.code(), reason) == (grpc.StatusCode.INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED")
    assert "idempotency_key" in metadata


async def registered(client: Client, owner: str = ALICE) -> bos_pb2.Batch:
    batch: bos_pb2.Batch = (await client.call("RegisterBatch", register_request(3), owner)).batch
    return batch


async def ready(client: Client, js: JetStreamContext, owner: str = ALICE) -> bos_pb2.Batch:
    """A GUEST batch whose content arrived, once BOS has made it READY."""
    batch = await registered(client, owner)
    await publish(
        js,
        els_events_pb2.BatchContentProvisioningCompleted(
            batch_id=batch.batch_id,
            stored_essays=essay_refs(list(batch.essay_ids)),
            expected_essay_count=len(batch.essay_ids),
            course_code=batch.course_code,
        ),
        source="test",
        correlation_id=batch.batch_id,
    )

    async def is_ready() -> bos_pb2.Batch | None:
        seen = (await client.call("GetBatch", bos_pb2.GetBatchRequest(batch_id=batch.batch_id), owner)).batch
        return seen if seen.status == READY else None

    return await eventually(is_ready)


def cancel(batch_id: str, key: str, reason: str = "typo") -> bos_pb2.TransitionBatchRequest:
    return bos_pb2.TransitionBatchRequest(
        batch_id=batch_id,
        expected_status=ACV,
        target_status=S.BATCH_STATUS_CANCELLED,
        idempotency_key=key,
        reason=reason,
    )


# -- TransitionBatch ----------------------------------------------------------------------------


async def test_transition_same_key_same_request_replays_the_first_answer(client: Client) -> None:
    batch = await registered(client)
    first = await client.call("TransitionBatch", cancel(batch.batch_id, "k"), "els", Role.SERVICE)
    again = await client.call("TransitionBatch", cancel(batch.batch_id, "k"), "els", Role.SERVICE)
    assert not first.replayed and again.replayed
    assert (again.batch, again.transition) == (first.batch, first.transition)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(dict(target_status=S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION), id="another-target"),
        pytest.param(dict(reason="another reason"), id="another-reason"),
        pytest.param(dict(expected_version=0), id="an-expected-version"),
    ],
)
async def test_transition_same_key_different_request_is_refused(client: Client, other: dict[str, Any]) -> None:
    batch = await registered(client)
    await client.call("TransitionBatch", cancel(batch.batch_id, "k"), "els", Role.SERVICE)
    changed = cancel(batch.batch_id, "k")
    for name, value in other.items():
        setattr(changed, name, value)
    await assert_key_reused(client.call("TransitionBatch", changed, "els", Role.SERVICE))
    history = await client.call(
        "ListBatchTransitions", bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), ALICE
    )
    assert len(history.transitions) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(("els", Role.SERVICE), ("file-service", Role.SERVICE), id="another-subject"),
        pytest.param(("ops", Role.SERVICE), ("ops", Role.ADMIN), id="another-role"),
    ],
)
async def test_transition_keys_of_two_callers_never_meet(
    client: Client, first: tuple[str, Role], second: tuple[str, Role]
) -> None:
    batch = await registered(client)
    original = await client.call("TransitionBatch", cancel(batch.batch_id, "shared"), *first)
    assert not original.replayed
    # The same request under the same key, from someone else: a request of its own, which
    # finds the batch already cancelled, never the first caller's answer.
    error = await failure(client.call("TransitionBatch", cancel(batch.batch_id, "shared"), *second))
    assert error.code() == grpc.StatusCode.ABORTED
    # And a different request from someone else under that key is not "reused" either.
    other = cancel(batch.batch_id, "shared", reason="something else")
    assert (await failure(client.call("TransitionBatch", other, *second))).code() == grpc.StatusCode.ABORTED
    # The first caller still gets its own answer.
    again = await client.call("TransitionBatch", cancel(batch.batch_id, "shared"), *first)
    assert again.replayed and again.transition == original.transition


# -- RequestPipeline ---------------------------------------------------------------------------


def pipeline(batch_id: str, key: str, *names: str) -> bos_pb2.RequestPipelineRequest:
    return bos_pb2.RequestPipelineRequest(batch_id=batch_id, idempotency_key=key, pipelines=list(names))


async def test_pipeline_same_key_same_request_gets_the_first_answer(client: Client, js: JetStreamContext) -> None:
    batch = await ready(client, js)
    first = await client.call("RequestPipeline", pipeline(batch.batch_id, "p", "nlp"), ALICE)
    again = await client.call("RequestPipeline", pipeline(batch.batch_id, "p", "nlp"), ALICE)
    assert first.batch.status == S.BATCH_STATUS_PROCESSING_PIPELINES
    assert again == first


async def test_pipeline_same_key_different_request_is_refused(client: Client, js: JetStreamContext) -> None:
    batch = await ready(client, js)
    await client.call("RequestPipeline", pipeline(batch.batch_id, "p", "nlp"), ALICE)
    await assert_key_reused(client.call("RequestPipeline", pipeline(batch.batch_id, "p", "nlp", "spellcheck"), ALICE))
    await assert_key_reused(client.call("RequestPipeline", pipeline(batch.batch_id, "p"), ALICE))


async def test_pipeline_keys_of_two_callers_never_meet(client: Client, js: JetStreamContext) -> None:
    batch = await ready(client, js)
    first = await client.call("RequestPipeline", pipeline(batch.batch_id, "p", "nlp"), ALICE)
    # An admin with the owner's key and request asks anew: the batch is no longer READY.
    error = await failure(client.call("RequestPipeline", pipeline(batch.batch_id, "p", "nlp"), ALICE, Role.ADMIN))
    assert (error.code(), error_info(error)[0]) == (grpc.StatusCode.FAILED_PRECONDITION, "BATCH_NOT_READY")
    assert await client.call("RequestPipeline", pipeline(batch.batch_id, "p", "nlp"), ALICE) == first


# -- RegisterBatch -----------------------------------------------------------------------------


async def test_register_same_key_same_request_is_the_first_batch(client: Client) -> None:
    key = str(uuid.uuid4())
    first = await client.call("RegisterBatch", register_request(3, key=key), ALICE)
    again = await client.call("RegisterBatch", register_request(3, key=key), ALICE)
    assert settled(again.batch) == settled(first.batch)


async def test_register_same_key_different_request_is_refused(client: Client) -> None:
    key = str(uuid.uuid4())
    first = await client.call("RegisterBatch", register_request(3, key=key), ALICE)
    await assert_key_reused(client.call("RegisterBatch", register_request(4, key=key), ALICE))
    listed = await client.call("ListBatches", bos_pb2.ListBatchesRequest(), ALICE)
    assert [b.batch_id for b in listed.batches] == [first.batch.batch_id]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((ALICE, Role.TEACHER), (BOB, Role.TEACHER), id="another-teacher"),
        pytest.param(("root", Role.TEACHER), ("root", Role.ADMIN), id="another-role"),
    ],
)
async def test_register_keys_of_two_callers_never_meet(
    client: Client, first: tuple[str, Role], second: tuple[str, Role]
) -> None:
    key = str(uuid.uuid4())
    mine = await client.call("RegisterBatch", register_request(3, key=key), *first)
    theirs = await client.call("RegisterBatch", register_request(3, key=key), *second)
    assert mine.batch.batch_id != theirs.batch.batch_id and theirs.batch.owner_id == second[0]
    # Each caller's key now stands for its own request: replayed to it, refused for another.
    replayed = await client.call("RegisterBatch", register_request(3, key=key), *first)
    assert settled(replayed.batch) == settled(mine.batch)
    replayed = await client.call("RegisterBatch", register_request(3, key=key), *second)
    assert settled(replayed.batch) == settled(theirs.batch)
    await assert_key_reused(client.call("RegisterBatch", register_request(5, key=key), *second))
