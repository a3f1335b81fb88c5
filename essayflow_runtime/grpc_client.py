"""Channels to essayflow services: the one place that decides plaintext or TLS.

With ``ESSAYFLOW_TLS_CA_FILE`` set, channels verify the servers' certificates against
that CA (servers get theirs from ``ESSAYFLOW_TLS_CERT_FILE`` / ``_KEY_FILE``);
development stays plaintext on 127.0.0.1; a plaintext channel beyond loopback is refused
(:func:`essayflow_runtime.exposure.check_client`), since it would carry bearer tokens in the
clear.
"""

from __future__ import annotations

import asyncio
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from essayflow_runtime import tracing
from essayflow_runtime.config import Settings
from essayflow_runtime.exposure import check_client


def open_channel(settings: Settings, address: str) -> grpc.aio.Channel:
    options = [
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        # gRPC's default reconnect backoff grows to 120 s: a peer that was down for a minute
        # would stay unreachable long after it is back. Capped, it is found within seconds.
        ("grpc.max_reconnect_backoff_ms", 5000),
    ]
    # The trace context goes with every call when this process traces (tracing.configure).
    interceptors = tracing.client_interceptors() or None
    if settings.tls_ca_file:
        with open(settings.tls_ca_file, "rb") as ca:
            credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
        return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)
    check_client(settings, address)
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)


async def is_serving(settings: Settings, address: str, timeout_s: float = 1.0) -> bool:
    """Whether the server at ``address`` answers its health check with SERVING."""
    async with open_channel(settings, address) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def wait_until_serving(settings: Settings, addresses: list[str], timeout_s: float = 60.0) -> None:
    """Wait for every server's health check to say SERVING (processes just started)."""
    deadline = time.monotonic() + timeout_s
    for address in addresses:
        while not await is_serving(settings, address):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} is not serving after {timeout_s:.0f}s")
            await asyncio.sleep(0.1)
