"""Uploads through the RPC: binding, duplicates, excess, failures, completion."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import els_events_pb2, envelope_pb2, file_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import publish
from tests.integration.els.helpers import (
    Caller,
    essay_text,
    events_on_stream,
    new_ids,
    payloads,
    register_batch,
    sha,
)
from tests.support import eventually


async def registered(js: JetStreamContext, caller: Caller, slot_count: int, **kwargs: str) -> tuple[str, list[str]]:
    batch_id, essay_ids = str(uuid.uuid4()), new_ids(slot_count)
    await register_batch(js, batch_id, essay_ids, **kwargs)
    await eventually(lambda: caller.slots_or_none(batch_id), message="tracker created")
    return batch_id, essay_ids


async def completions(
    js: JetStreamContext, settings: Settings, batch_id: str
) -> list[els_events_pb2.BatchContentProvisioningCompleted]:
    return await payloads(js, settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)


async def test_uploads_fill_the_slots_in_order_and_complete_the_batch_once(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = await registered(js, service_caller, 3)

    responses = [await service_caller.provision(batch_id, f"e{i}.txt", essay_text(i).encode()) for i in range(3)]

    assert [r.outcome for r in responses] == [els_pb2.PROVISION_OUTCOME_BOUND] * 3
    assert [r.essay_id for r in responses] == essay_ids
    assert [r.text_storage_id for r in responses] == [sha(essay_text(i)) for i in range(3)]
    done = await eventually(lambda: completions(js, els_settings, batch_id))
    assert len(done) == 1
    assert [e.essay_id for e in done[0].stored_essays] == essay_ids
    assert done[0].course_code == common_pb2.COURSE_CODE_ENG5
    assigned = await payloads(js, els_settings, els_events_pb2.EssaySlotAssigned, batch_id)
    assert sorted((a.file_name, a.essay_id) for a in assigned) == sorted((f"e{i}.txt", essay_ids[i]) for i in range(3))
    slots = await service_caller.slots(batch_id)
    assert slots.completed and slots.expected_essay_count == 3
    assert {s.status for s in slots.slots} == {common_pb2.ESSAY_STATUS_UPLOADED}


async def test_the_same_text_twice_is_the_same_slot(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = await registered(js, service_caller, 2)

    first = await service_caller.provision(batch_id, "a.txt", essay_text(1).encode())
    again = await service_caller.provision(batch_id, "a-copy.txt", essay_text(1).encode())

    assert again.outcome == els_pb2.PROVISION_OUTCOME_DUPLICATE
    assert again.essay_id == first.essay_id == essay_ids[0]
    slots = await service_caller.slots(batch_id)
    assert [s.status for s in slots.slots] == [
        common_pb2.ESSAY_STATUS_UPLOADED,
        common_pb2.ESSAY_STATUS_AWAITING_CONTENT,
    ]
    assigned = await payloads(js, els_settings, els_events_pb2.EssaySlotAssigned, batch_id)
    assert len(assigned) == 1


async def test_three_uploads_to_two_slots_report_one_excess_and_complete_once(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, _ = await registered(js, service_caller, 2)

    outcomes = [
        (await service_caller.provision(batch_id, f"e{i}.txt", essay_text(i).encode())).outcome for i in range(3)
    ]
    # Asking again changes nothing: neither a second excess nor a second completion.
    await service_caller.provision(batch_id, "e2.txt", essay_text(2).encode())

    assert outcomes == [
        els_pb2.PROVISION_OUTCOME_BOUND,
        els_pb2.PROVISION_OUTCOME_BOUND,
        els_pb2.PROVISION_OUTCOME_EXCESS,
    ]
    excess = await payloads(js, els_settings, els_events_pb2.ExcessContentProvisioned, batch_id)
    assert [(e.file_name, e.text_storage_id, e.expected_essay_count) for e in excess] == [
        ("e2.txt", sha(essay_text(2)), 2)
    ]
    done = await eventually(lambda: completions(js, els_settings, batch_id))
    assert len(done) == 1
    assert len(done[0].stored_essays) == 2
    assert (await service_caller.slots(batch_id)).excess_count == 1


async def test_one_invalid_upload_among_five_still_completes_with_four_stored_and_one_failed(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = await registered(js, service_caller, 5)
    for i in range(2):
        await service_caller.provision(batch_id, f"e{i}.txt", essay_text(i).encode())

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service_caller.provision(batch_id, "short.txt", b"Too short to be an essay.", file_upload_id="u-short")
    for i in range(2, 4):
        await service_caller.provision(batch_id, f"e{i}.txt", essay_text(i).encode())

    error = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(bad_request)
    assert info.reason == "ESSAY_VALIDATION_FAILED"
    assert info.metadata["error_code"] == "content_too_short"
    assert info.metadata["essay_id"] == essay_ids[2]
    assert [v.field for v in bad_request.field_violations] == ["content"]

    done = await eventually(lambda: completions(js, els_settings, batch_id))
    assert len(done) == 1
    assert len(done[0].stored_essays) == 4
    assert [(f.essay_id, f.file_name, f.error_code) for f in done[0].failed_uploads] == [
        (essay_ids[2], "short.txt", common_pb2.ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT)
    ]
    slots = await service_caller.slots(batch_id)
    assert slots.slots[2].status == common_pb2.ESSAY_STATUS_VALIDATION_FAILED


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"\xff\xfe not utf-8 " * 10, "invalid_encoding"),
        (b"   \n\t  ", "empty_content"),
        (("x" * 50_001).encode(), "content_too_long"),
    ],
)
async def test_unusable_text_is_refused_with_its_reason_code(
    js: JetStreamContext, service_caller: Caller, content: bytes, code: str
) -> None:
    batch_id, _ = await registered(js, service_caller, 1)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service_caller.provision(batch_id, "bad.txt", content)

    status = rpc_status.from_call(refused.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert (refused.value.code(), info.metadata["error_code"]) == (grpc.StatusCode.INVALID_ARGUMENT, code)
    assert (await service_caller.slots(batch_id)).completed


async def test_a_failed_upload_event_consumes_a_slot(
    js: JetStreamContext, els_settings: Settings, service_caller: Caller
) -> None:
    batch_id, essay_ids = await registered(js, service_caller, 2)
    await service_caller.provision(batch_id, "good.txt", essay_text(0).encode())
    failure = file_events_pb2.EssayValidationFailed(
        batch_id=batch_id,
        file_name="scan.pdf",
        error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_TEXT_EXTRACTION_FAILED,
        message="no text layer",
        file_upload_id="u-scan",
    )
    await publish(js, failure, source="file", correlation_id=batch_id)

    done = await eventually(lambda: completions(js, els_settings, batch_id))
    assert [(f.essay_id, f.error_code, f.message) for f in done[0].failed_uploads] == [
        (essay_ids[1], common_pb2.ESSAY_VALIDATION_ERROR_CODE_TEXT_EXTRACTION_FAILED, "no text layer")
    ]
    assert contracts.derived_event_id(batch_id, els_events_pb2.BatchContentProvisioningCompleted) == (
        (await eventually(lambda: _completion_envelopes(js, els_settings, batch_id)))[0].event_id
    )


async def _completion_envelopes(
    js: JetStreamContext, settings: Settings, batch_id: str
) -> list[envelope_pb2.EventEnvelope]:
    return [
        e for e, _ in await events_on_stream(js, settings, els_events_pb2.BatchContentProvisioningCompleted, batch_id)
    ]
