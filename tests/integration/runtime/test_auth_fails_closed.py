"""Authentication fails closed, against real servers: a service refuses to start exposed
with development credentials (a real process), service tokens count only at the service
they were minted for and only as the service role, clock skew within the leeway is
fine, and a handler kind the interceptor does not check is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow_runtime import auth
from essayflow_runtime.auth import Role, mint_service_token, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.grpc_server import RunningServer, ServiceBinding, start_server

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
# Never contacted: the refusal comes before any connection (port 9 is discard).
UNREACHABLE = {
    "ESSAYFLOW_NATS_URL": "nats://127.0.0.1:9",
    "ESSAYFLOW_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
    "ESSAYFLOW_METRICS_ENABLED": "0",
}


def start_bos(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ESSAYFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "services.bos.main"],
        cwd=REPO,
        env={**clean, **UNREACHABLE, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bos_on_every_interface_with_the_development_secret_refuses_to_start() -> None:
    done = start_bos(ESSAYFLOW_HOST="0.0.0.0")
    assert done.returncode != 0
    assert "bos refuses to listen on 0.0.0.0" in done.stderr
    assert "development secret" in done.stderr and "plaintext" in done.stderr
    assert "Traceback" not in done.stderr  # an explanation, not a crash


def test_a_short_secret_is_refused_even_with_tls_and_service_keys(tmp_path: Path) -> None:
    done = start_bos(
        ESSAYFLOW_HOST="0.0.0.0",
        ESSAYFLOW_JWT_SECRET="too-short",
        ESSAYFLOW_TLS_CERT_FILE=str(tmp_path / "cert.pem"),
        ESSAYFLOW_TLS_KEY_FILE=str(tmp_path / "key.pem"),
        ESSAYFLOW_SERVICE_KEYS_DIR=str(tmp_path),
    )
    assert done.returncode != 0
    assert "ESSAYFLOW_JWT_SECRET is 9 bytes; HS256 needs at least 32" in done.stderr
    assert "would be plaintext" not in done.stderr and "development secret" not in done.stderr


def test_the_insecure_lab_setting_lets_it_start_with_a_warning(tmp_path: Path) -> None:
    # It gets past the check and goes on to connect: it waits for the unreachable
    # database (a dependency that is down is waited for), which is the point.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ESSAYFLOW_")}
    output = tmp_path / "bos.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.bos.main"],
            cwd=REPO,
            env={**clean, **UNREACHABLE, "ESSAYFLOW_HOST": "0.0.0.0", "ESSAYFLOW_INSECURE_LAB": "1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        said = ""
        while "waiting for a dependency" not in said and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            said = output.read_text(errors="replace")
        assert process.poll() is None, f"it exited instead of waiting for the database:\n{said}"
        assert "ESSAYFLOW_INSECURE_LAB is set" in said
        assert "waiting for a dependency" in said and "database" in said
        assert "refuses to listen" not in said
    finally:
        process.terminate()
        # A start-up that waits for a dependency still ends on SIGTERM (TimeoutExpired if not).
        process.wait(timeout=30)


# -- tokens over the wire --------------------------------------------------------------------------


@pytest.fixture
def plain_settings() -> Settings:
    return load_settings(metrics_enabled=False)


@pytest.fixture
async def cms_stub(plain_settings: Settings) -> AsyncIterator[cms_pb2_grpc.ClassManagementServiceStub]:
    """A skeleton CMS (every method UNIMPLEMENTED once authorized) on the shared bootstrap."""
    binding = ServiceBinding(
        "essayflow.cms.v1.ClassManagementService",
        cms_pb2_grpc.add_ClassManagementServiceServicer_to_server,
        cms_pb2_grpc.ClassManagementServiceServicer(),
        {"GetClass": frozenset({Role.SERVICE, Role.ADMIN}), "ListClasses": frozenset({Role.TEACHER, Role.ADMIN})},
    )
    running: RunningServer = await start_server(plain_settings, "cms", [binding], port=0)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield cms_pb2_grpc.ClassManagementServiceStub(channel)
    finally:
        await channel.close()
        await running.stop(0)


async def code_of(call: Any, token: str) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(metadata=(("authorization", f"Bearer {token}"),))
    code: grpc.StatusCode = error.value.code()
    return code


def get_class(stub: cms_pb2_grpc.ClassManagementServiceStub) -> Any:
    return lambda **kw: stub.GetClass(cms_pb2.GetClassRequest(class_id="x"), **kw)


def list_classes(stub: cms_pb2_grpc.ClassManagementServiceStub) -> Any:
    return lambda **kw: stub.ListClasses(cms_pb2.ListClassesRequest(), **kw)


async def test_a_service_token_for_this_service_reaches_the_servicer(
    cms_stub: cms_pb2_grpc.ClassManagementServiceStub, plain_settings: Settings
) -> None:
    token = mint_service_token(plain_settings, "bos", "cms")
    assert await code_of(get_class(cms_stub), token) == grpc.StatusCode.UNIMPLEMENTED  # the skeleton answered


async def test_a_service_token_for_another_service_is_refused(
    cms_stub: cms_pb2_grpc.ClassManagementServiceStub, plain_settings: Settings
) -> None:
    token = mint_service_token(plain_settings, "bos", "els")
    assert await code_of(get_class(cms_stub), token) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_service_token_is_not_a_teachers(
    cms_stub: cms_pb2_grpc.ClassManagementServiceStub, plain_settings: Settings
) -> None:
    token = mint_service_token(plain_settings, "bos", "cms")
    assert await code_of(list_classes(cms_stub), token) == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("role", ["admin", "teacher"])
@pytest.mark.parametrize("kid", ["service:bos", None])
async def test_a_service_key_cannot_mint_an_admin_or_teacher(
    cms_stub: cms_pb2_grpc.ClassManagementServiceStub, plain_settings: Settings, role: str, kid: str | None
) -> None:
    now = int(time.time())
    claims = {"sub": "bos", "role": role, "aud": "cms", "iss": "essayflow", "iat": now, "nbf": now, "exp": now + 60}
    key = auth._private_key(plain_settings.service_keys_dir, "bos")
    forged = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid} if kid else None)
    for call in (get_class(cms_stub), list_classes(cms_stub)):
        assert await code_of(call, forged) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("skew_s", [30.0, -30.0], ids=["caller-ahead", "caller-behind"])
async def test_thirty_seconds_of_clock_skew_between_services_works(
    cms_stub: cms_pb2_grpc.ClassManagementServiceStub, plain_settings: Settings, skew_s: float
) -> None:
    # Ahead: iat/nbf 30 s in this server's future. Behind: exp 30 s in its past.
    ttl = plain_settings.service_token_ttl_s
    issued_at = time.time() + (skew_s if skew_s > 0 else skew_s - ttl)
    service = mint_service_token(plain_settings, "bos", "cms", now=issued_at)
    admin = mint_token(plain_settings, "root", Role.ADMIN, ttl_s=ttl, now=issued_at)
    for token in (service, admin):
        assert await code_of(get_class(cms_stub), token) == grpc.StatusCode.UNIMPLEMENTED


# -- handler kinds --------------------------------------------------------------------------------


async def test_client_streaming_and_bidi_handlers_are_refused(plain_settings: Settings) -> None:
    ran: list[str] = []

    async def client_streaming(requests: Any, context: grpc.aio.ServicerContext) -> bytes:
        ran.append("client-streaming")
        return b""

    async def bidi(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        ran.append("bidi")
        yield b""

    def register(servicer: Any, server: grpc.aio.Server) -> None:
        handlers = {
            "Upload": grpc.stream_unary_rpc_method_handler(client_streaming),
            "Chat": grpc.stream_stream_rpc_method_handler(bidi),
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.v1.Streams", handlers),))

    roles = frozenset({Role.TEACHER, Role.SERVICE, Role.ADMIN})
    binding = ServiceBinding("test.v1.Streams", register, None, {"Upload": roles, "Chat": roles})
    running = await start_server(plain_settings, "test", [binding], port=0)
    metadata = (("authorization", f"Bearer {mint_token(plain_settings, 'root', Role.ADMIN)}"),)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:

            async def requests() -> AsyncIterator[bytes]:
                yield b""

            upload = channel.stream_unary("/test.v1.Streams/Upload")
            chat = channel.stream_stream("/test.v1.Streams/Chat")
            for call in (upload(requests(), metadata=metadata), chat(requests(), metadata=metadata)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call if not hasattr(call, "__aiter__") else [r async for r in call]
                assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
                assert "cannot authenticate" in (refused.value.details() or "")
    finally:
        await running.stop(0)
    assert ran == []
