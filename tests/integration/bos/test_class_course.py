"""A REGULAR batch's course is its class's course: another course is refused with a reason,
unless the caller says it is meant (allow_other_course)."""

from __future__ import annotations

import grpc
import pytest

from essayflow.common.v1 import common_pb2
from tests.integration.bos.helpers import Client, FakeDirectory, error_info, register_request

TEACHER = "teacher-course"


async def test_a_class_of_another_course_is_refused_unless_allowed(client: Client, directory: FakeDirectory) -> None:
    class_id = directory.add(TEACHER, common_pb2.COURSE_CODE_SV1)
    request = register_request(2, class_id=class_id)  # an ENG5 batch
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.call("RegisterBatch", request, TEACHER)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, metadata, _ = error_info(caught.value)
    assert reason == "CLASS_COURSE_MISMATCH"
    assert (metadata["class_course"], metadata["batch_course"]) == ("COURSE_CODE_SV1", "COURSE_CODE_ENG5")

    request.allow_other_course = True
    allowed = await client.call("RegisterBatch", request, TEACHER)
    assert allowed.batch.class_id == class_id

    same = register_request(2, class_id=class_id)
    same.course_code = common_pb2.COURSE_CODE_SV1
    assert (await client.call("RegisterBatch", same, TEACHER)).batch.class_id == class_id
