"""Who may upload to and read a batch, and how malformed requests are answered."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from nats.js import JetStreamContext

from essayflow.els.v1 import els_pb2, els_pb2_grpc
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.service import start_service
from services.els.main import build_parts
from services.els.store import SlotStore, Versioned
from tests.integration.els.helpers import Caller, caller, essay_text, new_ids, register_batch
from tests.support import eventually, refusal_shape


def reason_of(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return str(info.reason)


async def owned_batch(js: JetStreamContext, service_caller: Caller, owner: str = "teacher-1") -> str:
    batch_id = str(uuid.uuid4())
    await register_batch(js, batch_id, new_ids(2), owner_id=owner)
    await eventually(lambda: service_caller.slots_or_none(batch_id))
    return batch_id


async def test_the_owning_teacher_uploads_and_reads_their_batch(
    js: JetStreamContext, service_caller: Caller, teacher: Caller
) -> None:
    batch_id = await owned_batch(js, service_caller)
    response = await teacher.provision(batch_id, "mine.txt", essay_text(1).encode())
    assert response.outcome == els_pb2.PROVISION_OUTCOME_BOUND
    assert (await teacher.slots(batch_id)).slots[0].file_name == "mine.txt"


async def test_another_teachers_batch_looks_like_no_batch_at_all(
    js: JetStreamContext, service_caller: Caller, channel: grpc.aio.Channel, els_settings: Settings
) -> None:
    batch_id = await owned_batch(js, service_caller, owner="teacher-1")
    stranger = caller(channel, els_settings, "teacher-2", Role.TEACHER)

    with pytest.raises(grpc.aio.AioRpcError) as upload:
        await stranger.provision(batch_id, "x.txt", essay_text(1).encode())
    with pytest.raises(grpc.aio.AioRpcError) as unregistered:
        await stranger.provision(str(uuid.uuid4()), "x.txt", essay_text(1).encode())
    with pytest.raises(grpc.aio.AioRpcError) as read:
        await stranger.slots(batch_id)
    missing = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as read_missing:
        await stranger.slots(missing)
    assert refusal_shape(read.value, batch_id) == refusal_shape(read_missing.value, missing)

    assert (upload.value.code(), reason_of(upload.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "BATCH_NOT_REGISTERED",
    )
    assert (unregistered.value.code(), reason_of(unregistered.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "BATCH_NOT_REGISTERED",
    )
    assert (read.value.code(), reason_of(read.value)) == (grpc.StatusCode.NOT_FOUND, "BATCH_NOT_FOUND")
    # Nothing was bound by the refused upload.
    assert all(not slot.file_name for slot in (await service_caller.slots(batch_id)).slots)


async def test_an_unknown_batch_is_not_found(service_caller: Caller) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as read:
        await service_caller.slots(str(uuid.uuid4()))
    assert read.value.code() == grpc.StatusCode.NOT_FOUND


async def test_calls_without_a_valid_token_are_unauthenticated(channel: grpc.aio.Channel) -> None:
    stub = els_pb2_grpc.EssayLifecycleServiceStub(channel)
    request = els_pb2.GetBatchSlotsRequest(batch_id=str(uuid.uuid4()))
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetBatchSlots(request)
    with pytest.raises(grpc.aio.AioRpcError) as forged:
        await stub.GetBatchSlots(request, metadata=(("authorization", "Bearer not-a-jwt"),))
    assert missing.value.code() == forged.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_malformed_upload_names_each_bad_field(service_caller: Caller) -> None:
    # Every field rule declared in proto is checked before the handler runs, each bad field named.
    for content, fields in ((b"x" * 200_001, ["batch_id", "file_name", "content"]), (b"x", ["batch_id", "file_name"])):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service_caller.provision("batch-7", "", content)
        status = rpc_status.from_call(refused.value)
        assert status is not None
        bad_request = error_details_pb2.BadRequest()
        assert status.details[1].Unpack(bad_request)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in bad_request.field_violations] == fields


async def test_an_upload_to_another_teachers_batch_waits_and_answers_like_a_missing_one(
    js: JetStreamContext, els_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No existence oracle: the refusal for another teacher's (registered) batch goes
    through the same registration wait as for a batch that does not exist -- it keeps
    reading until the deadline instead of answering at the first read -- and says the
    same thing. Asserted on the code path (reads per batch), not on the clock."""
    reads: Counter[str] = Counter()
    original = SlotStore.read

    async def counted(self: SlotStore, batch_id: str) -> Versioned | None:
        reads[batch_id] += 1
        return await original(self, batch_id)

    monkeypatch.setattr(SlotStore, "read", counted)
    settings = dataclasses.replace(els_settings, registration_wait_s=0.3)
    service = await start_service("els", settings, build_parts, port=0, with_database=False)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            files = caller(channel, settings, "file-service", Role.SERVICE)
            foreign = await owned_batch(js, files, owner="teacher-1")
            missing = str(uuid.uuid4())
            stranger = caller(channel, settings, "teacher-2", Role.TEACHER)
            answers = {}
            for batch_id in (foreign, missing):
                before = reads[batch_id]
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stranger.provision(batch_id, "x.txt", essay_text(1).encode())
                answers[batch_id] = refused.value
                assert reads[batch_id] - before > 1, f"{batch_id}: refused at the first read, without the wait"
    finally:
        await service.stop()

    assert refusal_shape(answers[foreign], foreign) == refusal_shape(answers[missing], missing)
    assert reason_of(answers[foreign]) == "BATCH_NOT_REGISTERED"
