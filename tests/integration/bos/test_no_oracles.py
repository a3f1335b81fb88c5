"""Another teacher's batch or class is answered by BOS exactly like a missing one: the same
code, message and details (the id asked about aside), for every RPC that takes an id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from essayflow.bos.v1 import bos_pb2
from essayflow_runtime.auth import Role
from tests.integration.bos.helpers import Client, FakeDirectory, register_request
from tests.support import refusal_shape

OWNER, INTRUDER = "teacher-owner", "teacher-intruder"


async def refusal(call: Callable[[str], Any], the_id: str) -> tuple[Any, ...]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        result = call(the_id)
        if hasattr(result, "__aiter__"):
            [_ async for _ in result]
        else:
            await result
    return refusal_shape(caught.value, the_id)


def batch_calls(client: Client) -> dict[str, Callable[[str], Any]]:
    as_intruder = client.auth(INTRUDER, Role.TEACHER)
    stub = client.stub
    return {
        "GetBatch": lambda b: stub.GetBatch(bos_pb2.GetBatchRequest(batch_id=b), metadata=as_intruder),
        "ListBatchTransitions": lambda b: stub.ListBatchTransitions(
            bos_pb2.ListBatchTransitionsRequest(batch_id=b), metadata=as_intruder
        ),
        "CancelBatch": lambda b: stub.CancelBatch(bos_pb2.CancelBatchRequest(batch_id=b), metadata=as_intruder),
        "RequestPipeline": lambda b: stub.RequestPipeline(
            bos_pb2.RequestPipelineRequest(batch_id=b, idempotency_key="k"), metadata=as_intruder
        ),
        "WatchBatch": lambda b: stub.WatchBatch(bos_pb2.WatchBatchRequest(batch_id=b), metadata=as_intruder),
    }


async def test_another_teachers_batch_is_answered_like_a_missing_one(client: Client) -> None:
    owned = (await client.call("RegisterBatch", register_request(2), OWNER)).batch.batch_id
    for name, call in batch_calls(client).items():
        foreign, missing = await refusal(call, owned), await refusal(call, str(uuid.uuid4()))
        assert foreign == missing, name
        assert foreign[0] == grpc.StatusCode.NOT_FOUND, name


async def test_another_teachers_class_is_answered_like_a_missing_one(client: Client, directory: FakeDirectory) -> None:
    theirs = directory.add(OWNER)

    def register(class_id: str) -> Any:
        return client.call("RegisterBatch", register_request(2, class_id=class_id), INTRUDER)

    foreign, missing = await refusal(register, theirs), await refusal(register, str(uuid.uuid4()))
    assert foreign == missing
    assert foreign[0] == grpc.StatusCode.NOT_FOUND
