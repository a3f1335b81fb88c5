"""Another teacher's class or batch is answered exactly like a missing one, in every CMS
RPC that takes an id: the same code, message and details (ids aside), and the same
reads — a foreign batch is not even locked, so waiting on its lock cannot tell it apart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from essayflow.cms.v1 import cms_pb2
from tests.integration.cms.conftest import Cms, confirm, new_id, suggestions
from tests.support import eventually, refusal_shape

OWNER, INTRUDER = "teacher-owner", "teacher-intruder"


async def refusal(cms: Cms, call: Callable[[str], Any], the_id: str) -> tuple[Any, ...]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(the_id)
    return refusal_shape(caught.value, the_id)


async def owned_batch(cms: Cms) -> tuple[str, str, list[str]]:
    class_id = await cms.create_class(OWNER)
    students = await cms.add_students(OWNER, class_id, 2)
    batch_id, essays = new_id(), [new_id(), new_id()]
    await cms.receive_suggestions(
        suggestions(batch_id, class_id, [(essays[0], students[0], 0.95), (essays[1], students[1], 0.5)])
    )
    return class_id, batch_id, essays


def class_calls(cms: Cms) -> dict[str, Callable[[str], Any]]:
    intruder = cms.as_(INTRUDER)
    student = cms_pb2.NewStudent(first_name="A", last_name="B", email="a@b.example")
    return {
        "GetClass": lambda cid: cms.stub.GetClass(cms_pb2.GetClassRequest(class_id=cid), metadata=intruder),
        "AddStudents": lambda cid: cms.stub.AddStudents(
            cms_pb2.AddStudentsRequest(class_id=cid, students=[student]), metadata=intruder
        ),
        "ListClassStudents": lambda cid: cms.stub.ListClassStudents(
            cms_pb2.ListClassStudentsRequest(class_id=cid), metadata=intruder
        ),
    }


def batch_calls(cms: Cms, essay_id: str) -> dict[str, Callable[[str], Any]]:
    intruder = cms.as_(INTRUDER)
    return {
        "ListBatchAssociations": lambda bid: cms.stub.ListBatchAssociations(
            cms_pb2.ListBatchAssociationsRequest(batch_id=bid), metadata=intruder
        ),
        "GetBatchValidation": lambda bid: cms.stub.GetBatchValidation(
            cms_pb2.GetBatchValidationRequest(batch_id=bid), metadata=intruder
        ),
        "ValidateAssociations": lambda bid: cms.validate(INTRUDER, bid, [confirm(essay_id)]),
    }


async def test_another_teachers_class_is_answered_like_a_missing_one(cms: Cms) -> None:
    class_id, _, _ = await owned_batch(cms)
    for name, call in class_calls(cms).items():
        foreign, missing = await refusal(cms, call, class_id), await refusal(cms, call, new_id())
        assert foreign == missing, name
        assert foreign[0] == grpc.StatusCode.NOT_FOUND, name


async def test_another_teachers_batch_is_answered_like_a_missing_one(cms: Cms) -> None:
    _, batch_id, essays = await owned_batch(cms)
    for name, call in batch_calls(cms, essays[0]).items():
        foreign, missing = await refusal(cms, call, batch_id), await refusal(cms, call, new_id())
        assert foreign == missing, name
        assert foreign[0] == grpc.StatusCode.NOT_FOUND, name
    # Nothing the intruder sent was applied.
    listed = await cms.associations(OWNER, batch_id)
    assert all(not a.validated_by for a in listed.associations)


async def test_a_foreign_batch_is_not_locked_by_the_refusal(cms: Cms) -> None:
    """The owner's decision holds the batch's row lock; the intruder's is refused without
    waiting for it, as for a missing batch (which has no lock to wait on)."""
    _, batch_id, essays = await owned_batch(cms)
    async with cms.pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM batch_validations WHERE batch_id = $1 FOR UPDATE", batch_id)
        call = asyncio.ensure_future(cms.validate(INTRUDER, batch_id, [confirm(essays[0])]))
        await eventually(lambda: asyncio.sleep(0, result=call.done()), message="the refusal waited on the lock")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
