"""A service started while nats-server is down, or up but with JetStream not answering
(as right after a restart, while it recovers its streams), waits for it and then serves
instead of exiting: the supervisor, or a test that restarts the bus, need not order the
start-up."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from essayflow.nlp.v1 import nlp_pb2_grpc
from essayflow_runtime import bus, service
from essayflow_runtime.config import load_settings
from essayflow_runtime.embedded import EmbeddedNats, nats_server_binary
from essayflow_runtime.grpc_server import ServiceBinding
from essayflow_runtime.service import Connections, ServiceParts, start_service
from tests.support import eventually


class _RecordingLog:
    """The service module's logger, recording the warnings it is asked to write."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))
        self.inner.warning(event, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _nats_without_jetstream(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("outage", ["nats down", "jetstream not answering"])
async def test_start_waits_for_nats_then_serves(
    private_nats: EmbeddedNats, monkeypatch: pytest.MonkeyPatch, outage: str
) -> None:
    settings = load_settings(
        nats_url=private_nats.url,
        metrics_enabled=False,
        transient_backoff_initial_s=0.05,
        transient_backoff_max_s=0.2,
    )
    # The NATS client retries its first connection itself (it is told to reconnect
    # forever) and reports each failure; the start-up's own loop reports the others.
    recording = _RecordingLog(service.log)
    monkeypatch.setattr(service, "log", recording)
    monkeypatch.setattr(bus, "log", recording)

    async def build(_: Connections) -> ServiceParts:
        servicer = nlp_pb2_grpc.StudentMatcherServiceServicer()
        binding = ServiceBinding(
            "essayflow.nlp.v1.StudentMatcherService",
            nlp_pb2_grpc.add_StudentMatcherServiceServicer_to_server,
            servicer,
            {},
        )
        return ServiceParts(bindings=[binding])

    private_nats.stop()
    plain: subprocess.Popen[bytes] | None = None
    if outage == "jetstream not answering":
        # The same port, JetStream off: connecting works, every JetStream API request
        # finds no responder.
        plain = _nats_without_jetstream(private_nats.port)
    starting = asyncio.create_task(start_service("nlp", settings, build, port=0, with_database=False))
    try:

        async def waited_twice() -> bool:
            assert not starting.done() or starting.exception() is None, f"start-up gave up ({outage})"
            return len(recording.warnings) >= 2

        await eventually(waited_twice, timeout_s=30, message=f"start-up never reported waiting ({outage})")
        assert not starting.done()
    finally:
        if plain is not None:
            plain.terminate()
            plain.wait(timeout=10)
        private_nats.start()
    running = await asyncio.wait_for(starting, timeout=60)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def serving() -> bool:
                answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
                return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

            await eventually(serving, timeout_s=30, message="the service never reported SERVING")
    finally:
        await running.stop()
