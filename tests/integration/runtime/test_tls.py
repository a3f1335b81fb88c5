"""TLS for the gRPC servers, enabled by configuration: a client that trusts the CA
talks to the server; a plaintext client cannot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from essayflow.nlp.v1 import nlp_pb2_grpc
from essayflow_runtime.config import load_settings
from essayflow_runtime.grpc_client import open_channel
from essayflow_runtime.grpc_server import ServiceBinding, start_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")


def self_signed(directory: Path) -> tuple[Path, Path]:
    key, cert = directory / "server.key", directory / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


async def test_a_tls_server_serves_clients_that_trust_its_ca(tmp_path: Path) -> None:
    key, cert = self_signed(tmp_path)
    server_settings = load_settings(metrics_enabled=False, tls_cert_file=str(cert), tls_key_file=str(key))
    binding = ServiceBinding(
        "essayflow.nlp.v1.StudentMatcherService",
        nlp_pb2_grpc.add_StudentMatcherServiceServicer_to_server,
        nlp_pb2_grpc.StudentMatcherServiceServicer(),
        {},
    )
    running = await start_server(server_settings, "test", [binding], port=0)
    try:
        trusting = load_settings(tls_ca_file=str(cert))
        async with open_channel(trusting, f"127.0.0.1:{running.port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

        async with open_channel(load_settings(), f"127.0.0.1:{running.port}") as plaintext:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(plaintext).Check(health_pb2.HealthCheckRequest(), timeout=3)
            assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        await running.stop(0)
