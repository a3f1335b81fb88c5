"""A skeleton server of each service on the shared bootstrap: reflection lists the
service, health and reflection; calls need a token of an allowed role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2, els_pb2_grpc
from essayflow.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.grpc_server import RunningServer, ServiceBinding, start_server

# (service full name, register function, skeleton servicer, stub, one method and its request)
SKELETONS: list[tuple[str, Any, Any, Any, str, Any]] = [
    (
        "essayflow.bos.v1.BatchOrchestratorService",
        bos_pb2_grpc.add_BatchOrchestratorServiceServicer_to_server,
        bos_pb2_grpc.BatchOrchestratorServiceServicer(),
        bos_pb2_grpc.BatchOrchestratorServiceStub,
        "GetBatch",
        bos_pb2.GetBatchRequest(batch_id="6f1c1b2e-5d0e-4c55-9a43-6a1f0c9e7d21"),
    ),
    (
        "essayflow.els.v1.EssayLifecycleService",
        els_pb2_grpc.add_EssayLifecycleServiceServicer_to_server,
        els_pb2_grpc.EssayLifecycleServiceServicer(),
        els_pb2_grpc.EssayLifecycleServiceStub,
        "GetBatchSlots",
        els_pb2.GetBatchSlotsRequest(batch_id="6f1c1b2e-5d0e-4c55-9a43-6a1f0c9e7d21"),
    ),
    (
        "essayflow.cms.v1.ClassManagementService",
        cms_pb2_grpc.add_ClassManagementServiceServicer_to_server,
        cms_pb2_grpc.ClassManagementServiceServicer(),
        cms_pb2_grpc.ClassManagementServiceStub,
        "GetClass",
        cms_pb2.GetClassRequest(class_id="x"),
    ),
    (
        "essayflow.nlp.v1.StudentMatcherService",
        nlp_pb2_grpc.add_StudentMatcherServiceServicer_to_server,
        nlp_pb2_grpc.StudentMatcherServiceServicer(),
        nlp_pb2_grpc.StudentMatcherServiceStub,
        "MatchAuthors",
        nlp_pb2.MatchAuthorsRequest(
            roster=[common_pb2.Student(student_id="s1", first_name="Ann")], essays=[nlp_pb2.EssayText(essay_id="e1")]
        ),
    ),
]


@pytest.fixture
def plain_settings() -> Settings:
    return load_settings(metrics_enabled=False)


@pytest.fixture(params=SKELETONS, ids=[s[0].split(".")[1] for s in SKELETONS])
async def skeleton(request: pytest.FixtureRequest, plain_settings: Settings) -> AsyncIterator[tuple[Any, ...]]:
    name, register, servicer, stub_class, method, message = request.param
    binding = ServiceBinding(name, register, servicer, {method: frozenset({Role.ADMIN})})
    running: RunningServer = await start_server(plain_settings, "test", [binding], port=0)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield name, channel, getattr(stub_class(channel), method), message
    finally:
        await channel.close()
        await running.stop(0)


async def test_reflection_lists_the_service_health_and_reflection(skeleton: tuple[Any, ...]) -> None:
    name, channel, _, _ = skeleton
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    services = set()
    async for response in stub.ServerReflectionInfo(ask()):
        services |= {s.name for s in response.list_services_response.service}
    assert {name, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services


async def test_health_is_serving_without_a_token(skeleton: tuple[Any, ...]) -> None:
    name, channel, _, _ = skeleton
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=name))
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_no_token_is_unauthenticated(skeleton: tuple[Any, ...]) -> None:
    _, _, call, message = skeleton
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(message)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    status = rpc_status.from_call(error.value)
    assert status is not None and status.details, "rich details ride along"


async def test_forged_token_is_unauthenticated(skeleton: tuple[Any, ...]) -> None:
    _, _, call, message = skeleton
    forged = mint_token(load_settings(jwt_secret="someone-else"), "mallory", Role.ADMIN)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(message, metadata=[("authorization", f"Bearer {forged}")])
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_role_is_permission_denied(skeleton: tuple[Any, ...], plain_settings: Settings) -> None:
    _, _, call, message = skeleton
    token = mint_token(plain_settings, "teacher-1", Role.TEACHER)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(message, metadata=[("authorization", f"Bearer {token}")])
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_allowed_role_reaches_the_servicer(skeleton: tuple[Any, ...], plain_settings: Settings) -> None:
    _, _, call, message = skeleton
    token = mint_token(plain_settings, "root", Role.ADMIN)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(message, metadata=[("authorization", f"Bearer {token}")])
    # The skeleton servicer itself answers: authentication and role checks passed.
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_oversized_requests_are_refused(plain_settings: Settings) -> None:
    small = load_settings(metrics_enabled=False, grpc_max_message_bytes=1024)
    name, register, servicer, stub_class, _, _ = SKELETONS[3]
    running = await start_server(small, "test", [ServiceBinding(name, register, servicer, {})], port=0)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            big = nlp_pb2.MatchAuthorsRequest(essays=[nlp_pb2.EssayText(text="x" * 4096)])
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stub_class(channel).MatchAuthors(big)
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await running.stop(0)
