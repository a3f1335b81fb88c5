"""What a caller sees when a handler raises something no domain error describes: never
UNKNOWN — UNAVAILABLE for a dependency down, INVALID_ARGUMENT for a value the database
refuses, INTERNAL with an error id (which the logged traceback carries) for a bug."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import grpc
import nats.errors
import pytest
import structlog
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.grpc_server import RunningServer, ServiceBinding, start_server

# A request its field rules accept, so the call reaches the handler under test.
VALID_MATCH = nlp_pb2.MatchAuthorsRequest(
    roster=[common_pb2.Student(student_id="s1", first_name="Ann")], essays=[nlp_pb2.EssayText(essay_id="e1")]
)


class Raising(nlp_pb2_grpc.StudentMatcherServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.raise_: Callable[[], BaseException] = lambda: RuntimeError("unset")

    async def MatchAuthors(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise self.raise_()


class RaisingWatch(bos_pb2_grpc.BatchOrchestratorServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.raise_: Callable[[], BaseException] = lambda: RuntimeError("unset")

    async def WatchBatch(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        yield bos_pb2.WatchBatchResponse()
        raise self.raise_()


@pytest.fixture
def plain_settings() -> Settings:
    return load_settings(metrics_enabled=False)


@pytest.fixture
async def server(plain_settings: Settings) -> AsyncIterator[tuple[Raising, RaisingWatch, grpc.aio.Channel]]:
    unary, streaming = Raising(), RaisingWatch()
    bindings = [
        ServiceBinding(
            "essayflow.nlp.v1.StudentMatcherService",
            nlp_pb2_grpc.add_StudentMatcherServiceServicer_to_server,
            unary,
            {"MatchAuthors": frozenset({Role.ADMIN})},
        ),
        ServiceBinding(
            "essayflow.bos.v1.BatchOrchestratorService",
            bos_pb2_grpc.add_BatchOrchestratorServiceServicer_to_server,
            streaming,
            {"WatchBatch": frozenset({Role.ADMIN})},
        ),
    ]
    running: RunningServer = await start_server(plain_settings, "test", bindings, port=0)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield unary, streaming, channel
    finally:
        await channel.close()
        await running.stop(0)


def metadata(settings: Settings) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {mint_token(settings, 'root', Role.ADMIN)}")]


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None, "rich details ride along"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo")


async def call_unary(server: Any, settings: Settings, exc: BaseException) -> grpc.aio.AioRpcError:
    unary, _, channel = server
    unary.raise_ = lambda: exc
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await nlp_pb2_grpc.StudentMatcherServiceStub(channel).MatchAuthors(
            VALID_MATCH, metadata=metadata(settings)
        )
    return raised.value


async def call_stream(server: Any, settings: Settings, exc: BaseException) -> grpc.aio.AioRpcError:
    _, streaming, channel = server
    streaming.raise_ = lambda: exc
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        call = bos_pb2_grpc.BatchOrchestratorServiceStub(channel).WatchBatch(
            bos_pb2.WatchBatchRequest(batch_id=str(uuid.uuid4())), metadata=metadata(settings)
        )
        async for item in call:
            received.append(item)
    assert len(received) == 1, "what was streamed before the failure arrived"
    return raised.value


CALLS = [call_unary, call_stream]
DEPENDENCY_DOWN = [
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    TimeoutError(),
    nats.errors.NoRespondersError(),
]


@pytest.mark.parametrize("call", CALLS, ids=["unary", "stream"])
@pytest.mark.parametrize("exc", DEPENDENCY_DOWN, ids=repr)
async def test_a_dependency_down_is_unavailable(
    server: Any, plain_settings: Settings, call: Any, exc: BaseException
) -> None:
    error = await call(server, plain_settings, exc)
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(error).reason == "DEPENDENCY_UNAVAILABLE"
    assert "5432" not in (error.details() or ""), "no internals in the message"


@pytest.mark.parametrize("call", CALLS, ids=["unary", "stream"])
async def test_a_value_the_database_refuses_is_invalid_argument(
    server: Any, plain_settings: Settings, call: Any
) -> None:
    error = await call(server, plain_settings, asyncpg.DataError('invalid input syntax for type uuid: "x"'))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(error).reason == "INVALID_VALUE"
    assert "uuid" in (error.details() or "")


@pytest.mark.parametrize("call", CALLS, ids=["unary", "stream"])
async def test_a_bug_is_internal_with_an_error_id_the_log_carries(
    server: Any, plain_settings: Settings, call: Any
) -> None:
    with structlog.testing.capture_logs() as logs:
        error = await call(server, plain_settings, KeyError("secret-internal-detail"))
    assert error.code() == grpc.StatusCode.INTERNAL
    info = error_info(error)
    error_id = info.metadata["error_id"]
    assert info.reason == "INTERNAL" and error_id in (error.details() or "")
    assert "secret-internal-detail" not in (error.details() or ""), "the message stays generic"
    [logged] = [entry for entry in logs if entry.get("error_id") == error_id]
    assert isinstance(logged["exc_info"], KeyError), "the traceback is logged with the error id"
