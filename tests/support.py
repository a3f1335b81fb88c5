"""Small helpers shared by the test tiers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from essayflow_runtime.auth import Role, mint_service_token, mint_token
from essayflow_runtime.config import Settings

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.05,
    message: str = "condition not reached",
) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"{message} within {timeout_s}s (last value: {last!r})")


def token_for(settings: Settings, subject: str, role: Role, audience: str) -> str:
    """A token for ``subject`` in ``role`` calling service ``audience``: a user token for a
    teacher or admin, a service token minted for that callee (signed with the subject's
    development service key) for a service."""
    if role is Role.SERVICE:
        return mint_service_token(settings, subject, audience)
    return mint_token(settings, subject, role)


def bearer(settings: Settings, subject: str, role: Role, audience: str) -> tuple[tuple[str, str], ...]:
    """Call metadata carrying :func:`token_for`."""
    return (("authorization", f"Bearer {token_for(settings, subject, role, audience)}"),)


def refusal_shape(error: grpc.aio.AioRpcError, the_id: str) -> tuple[object, ...]:
    """Everything a caller learns from a refused call -- code, message, every rich detail --
    with the id it asked about blanked out: equal shapes for two ids mean the answers
    cannot tell them apart."""
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert isinstance(raw, bytes), "the error carries no rich details"
    status = status_pb2.Status.FromString(raw)
    blank = b"<" + b"-" * (len(the_id.encode()) - 2) + b">"  # same length: the framing stays equal
    details = [(d.type_url, d.value.replace(the_id.encode(), blank)) for d in status.details]
    return error.code(), (error.details() or "").replace(the_id, "<id>"), details


@dataclass
class HealthWatch:
    """Answers of a service's gRPC health check, asked again and again while something else runs."""

    latencies_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def worst_s(self) -> float:
        return max(self.latencies_s, default=0.0)


@asynccontextmanager
async def watching_health(
    address: str, *, interval_s: float = 0.05, call_timeout_s: float = 30.0
) -> AsyncIterator[HealthWatch]:
    """Ask ``address``'s health check every ``interval_s`` until the block ends; record every answer.

    A check that fails, times out or answers anything but SERVING is recorded as a failure, with
    what happened. Latencies are recorded for reporting only: never assert on them.
    """
    watch = HealthWatch()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def ask() -> None:
            while True:
                started = time.monotonic()
                try:
                    answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=call_timeout_s)
                except grpc.aio.AioRpcError as error:
                    watch.failures.append(f"{error.code().name}: {error.details()}")
                else:
                    if answer.status != health_pb2.HealthCheckResponse.SERVING:
                        watch.failures.append(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))
                watch.latencies_s.append(time.monotonic() - started)
                await asyncio.sleep(interval_s)

        asking = asyncio.create_task(ask())
        try:
            yield watch
        finally:
            asking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asking


def checked(parse: Callable[[Any], T], request: Any) -> T:
    """What a server does with a request: its proto field rules first (the interceptor), then the
    service's own reading of it."""
    from essayflow_runtime import input_rules

    input_rules.check_request(request)
    return parse(request)
