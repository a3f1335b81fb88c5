"""Request checks: malformed requests become INVALID_ARGUMENT naming every bad field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime.errors import InvalidArgument
from services.bos import validation
from tests.support import checked

S = common_pb2.BatchStatus


def fields(exc: pytest.ExceptionInfo[InvalidArgument]) -> set[str]:
    return {path for path, _ in exc.value.field_violations}


def test_registration_reports_every_bad_field() -> None:
    request = bos_pb2.RegisterBatchRequest(
        expected_essay_count=501, class_id="not-a-uuid", title="x" * 201, idempotency_key="k" * 201
    )
    with pytest.raises(InvalidArgument) as exc:
        checked(validation.registration, request)
    assert fields(exc) == {"expected_essay_count", "course_code", "class_id", "title", "idempotency_key"}


@pytest.mark.parametrize("count", [0, -1, 501])
def test_essay_count_bounds(count: int) -> None:
    with pytest.raises(InvalidArgument):
        checked(
            validation.registration,
            bos_pb2.RegisterBatchRequest(expected_essay_count=count, course_code=common_pb2.COURSE_CODE_ENG5),
        )


def test_valid_registration() -> None:
    class_id = str(uuid.uuid4()).upper()
    parsed = checked(
        validation.registration,
        bos_pb2.RegisterBatchRequest(
            expected_essay_count=500, course_code=common_pb2.COURSE_CODE_SV2, class_id=class_id, title="t" * 200
        ),
    )
    assert parsed.class_id == class_id.lower()
    assert parsed.expected_essay_count == 500


def test_transition_needs_key_and_statuses() -> None:
    with pytest.raises(InvalidArgument) as exc:
        checked(validation.transition, bos_pb2.TransitionBatchRequest(batch_id="nope", target_status=99))  # type: ignore[arg-type]
    assert fields(exc) == {"batch_id", "expected_status", "target_status", "idempotency_key"}


def test_transition_expected_version_is_optional() -> None:
    base: dict[str, Any] = {
        "batch_id": str(uuid.uuid4()),
        "expected_status": S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION,
        "target_status": S.BATCH_STATUS_CANCELLED,
        "idempotency_key": "k",
    }
    assert checked(validation.transition, bos_pb2.TransitionBatchRequest(**base)).expected_version is None
    assert (
        checked(validation.transition, bos_pb2.TransitionBatchRequest(**base, expected_version=0)).expected_version == 0
    )
    with pytest.raises(InvalidArgument):
        checked(validation.transition, bos_pb2.TransitionBatchRequest(**base, expected_version=-1))


def test_pipeline_defaults_and_names() -> None:
    batch_id = str(uuid.uuid4())
    assert checked(validation.pipeline, bos_pb2.RequestPipelineRequest(batch_id=batch_id)).pipelines == ("spellcheck",)
    with pytest.raises(InvalidArgument) as exc:
        checked(validation.pipeline, bos_pb2.RequestPipelineRequest(batch_id=batch_id, pipelines=["ok", "Not OK"]))
    assert fields(exc) == {"pipelines[1]"}


def test_page_token_round_trip_and_garbage() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    batch_id = str(uuid.uuid4())
    token = validation.encode_page_token(moment, batch_id)
    page = checked(validation.page, bos_pb2.ListBatchesRequest(page_token=token))
    assert page.after == (moment, batch_id)
    assert page.size == validation.DEFAULT_PAGE_SIZE
    with pytest.raises(InvalidArgument) as exc:
        checked(validation.page, bos_pb2.ListBatchesRequest(page_token="garbage!", page_size=201))
    assert fields(exc) == {"page_size"}  # the field rules first (bos.proto), before the token is read
    with pytest.raises(InvalidArgument) as exc:
        checked(validation.page, bos_pb2.ListBatchesRequest(page_token="garbage!"))
    assert fields(exc) == {"page_token"}
