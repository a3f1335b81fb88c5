"""The health probe against a real nats-server that is stopped and started again, and a
database that is not there: grpc.health.v1 follows, for "" and every service name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from essayflow.nlp.v1 import nlp_pb2_grpc
from essayflow_runtime import bus
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import EmbeddedNats, free_port
from essayflow_runtime.grpc_server import RunningServer, ServiceBinding, start_server
from essayflow_runtime.health_probe import DatabaseCheck, HealthProbe, nats_check
from tests.support import eventually

NAME = "essayflow.nlp.v1.StudentMatcherService"


@pytest.fixture
def probe_settings(private_nats: EmbeddedNats) -> Settings:
    return load_settings(
        nats_url=private_nats.url, metrics_enabled=False, health_probe_interval_s=0.1, health_probe_timeout_s=0.5
    )


@pytest.fixture
async def server(probe_settings: Settings) -> AsyncIterator[RunningServer]:
    binding = ServiceBinding(
        NAME, nlp_pb2_grpc.add_StudentMatcherServiceServicer_to_server, nlp_pb2_grpc.StudentMatcherServiceServicer(), {}
    )
    running = await start_server(probe_settings, "test", [binding], port=0)
    try:
        yield running
    finally:
        await running.stop(0)


async def statuses(port: int) -> set[int]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return {(await stub.Check(health_pb2.HealthCheckRequest(service=name))).status for name in ("", NAME)}


async def test_nats_down_is_not_serving_and_back_is_serving(
    probe_settings: Settings, private_nats: EmbeddedNats, server: RunningServer
) -> None:
    nc = await bus.connect(probe_settings, "test")
    probe = HealthProbe(probe_settings, "test", server.health, server.service_names, {"nats": nats_check(nc)})
    task = asyncio.create_task(probe.run())
    serving, not_serving = {health_pb2.HealthCheckResponse.SERVING}, {health_pb2.HealthCheckResponse.NOT_SERVING}
    try:
        await eventually(lambda: _reports(server.port, serving))
        private_nats.stop()
        await eventually(lambda: _reports(server.port, not_serving), timeout_s=15, message="NOT_SERVING")
        private_nats.start()
        await eventually(lambda: _reports(server.port, serving), timeout_s=30, message="SERVING again")
    finally:
        probe.stop()
        await task
        await nc.close()


async def test_a_database_that_does_not_answer_is_not_serving(
    probe_settings: Settings, server: RunningServer
) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    database = DatabaseCheck(nowhere, "test", probe_settings.health_probe_timeout_s)
    probe = HealthProbe(probe_settings, "test", server.health, server.service_names, {"database": database})
    assert await probe.check_once() is True, "one failed check is not yet an outage"
    assert await probe.check_once() is False
    assert await statuses(server.port) == {health_pb2.HealthCheckResponse.NOT_SERVING}


async def _reports(port: int, expected: set[int]) -> bool:
    return await statuses(port) == expected
