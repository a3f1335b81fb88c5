"""gRPC server bootstrap shared by every service.

One call builds a grpc.aio server with health checking, server reflection,
bearer-token authentication with per-method roles, the mapping of domain errors to
rich gRPC statuses, request-size limits, RPC metrics, and graceful shutdown
(health goes NOT_SERVING, in-flight calls drain).

An exception no handler turned into a domain error never reaches the caller as
UNKNOWN: ``failures.py`` decides — a dependency down is UNAVAILABLE (reason
DEPENDENCY_UNAVAILABLE, retry later), a value the database refuses is
INVALID_ARGUMENT, and anything else is INTERNAL with a generic message and an
``error_id`` that the logged traceback carries too.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from essayflow.common.v1 import options_pb2
from essayflow_runtime import failures, input_rules, reflection_source, tracing
from essayflow_runtime.auth import Principal, Role, principal_from_metadata, set_current_principal
from essayflow_runtime.config import Settings
from essayflow_runtime.errors import DomainError, Internal, InvalidArgument, PermissionDenied, Unavailable
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import RPC_LATENCY, RPC_STREAMS, RPC_STREAMS_OPEN

log = get_logger(__name__)

# Services whose methods need no token: probes and tooling.
PUBLIC_SERVICES = frozenset(
    {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
)


@dataclass(frozen=True)
class ServiceBinding:
    """One gRPC service a server hosts: how to register it, and who may call what."""

    full_name: str  # e.g. "essayflow.bos.v1.BatchOrchestratorService"
    register: Callable[[Any, grpc.aio.Server], None]  # the generated add_*_to_server
    servicer: Any
    # Roles allowed per method name; a method missing here is refused to everyone.
    method_roles: Mapping[str, frozenset[Role]]


def roles_from_proto(service: ServiceDescriptor) -> dict[str, frozenset[Role]]:
    """Who may call each method of ``service``, as its proto declares (``allowed_roles``)."""
    return {
        method.name: frozenset(Role(r) for r in method.GetOptions().Extensions[options_pb2.allowed_roles])
        for method in service.methods
    }


def _split(method: str) -> tuple[str, str]:
    _, service, name = method.split("/")
    return service, name


async def _abort(context: grpc.aio.ServicerContext, error: DomainError) -> None:
    status = rpc_status.to_status(error.to_status())
    await context.abort(status.code, status.details, status.trailing_metadata)


def domain_error_for(exc: BaseException, method: str) -> DomainError:
    """The status an unexpected exception becomes; logs it (with an error id when it is a bug)."""
    kind = failures.classify(exc)
    if kind is failures.Kind.TRANSIENT:
        log.warning("rpc failed: a dependency is unavailable", method=method, error=repr(exc))
        return Unavailable(
            "a service this call depends on is unavailable; retry later",
            reason="DEPENDENCY_UNAVAILABLE",
            metadata={"method": method},
        )
    if kind is failures.Kind.INVALID:
        log.info("rpc refused: a value the database does not accept", method=method, error=repr(exc))
        return InvalidArgument(
            f"a value of the request is not accepted: {str(exc)[:200]}",
            reason="INVALID_VALUE",
            metadata={"method": method},
        )
    error_id = str(uuid.uuid4())
    log.error("rpc failed", method=method, error_id=error_id, exc_info=exc)
    return Internal(
        f"internal error (error id {error_id})", reason="INTERNAL", metadata={"error_id": error_id}
    )


def _handler_aborted(context: grpc.aio.ServicerContext, exc: Exception) -> bool:
    """The handler answered itself (``context.abort``): pass that through as it is."""
    return isinstance(exc, grpc.aio.AbortError) or _code_after_exception(context) != "UNKNOWN"


class _Interceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, settings: Settings, service_label: str, bindings: Iterable[ServiceBinding]):
        self._settings = settings
        self._label = service_label
        self._roles = {b.full_name: b.method_roles for b in bindings}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, method = _split(handler_call_details.method)
        if service in PUBLIC_SERVICES:
            return handler
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        allowed = self._roles.get(service, {}).get(method, frozenset())
        settings, label = self._settings, self._label

        def authorize() -> Principal:
            # Service tokens count only when minted for this service (aud = its label).
            principal = principal_from_metadata(settings, metadata, audience=label)
            if principal.role not in allowed:
                raise PermissionDenied(
                    f"role {principal.role.value} may not call {method}",
                    reason="ROLE_NOT_ALLOWED",
                    metadata={"role": principal.role.value, "method": method},
                )
            return principal

        @contextlib.asynccontextmanager
        async def served(
            request: Any, context: grpc.aio.ServicerContext, *, streaming: bool = False
        ) -> AsyncIterator[None]:
            """Around one call of either kind: authenticate and check the request first; answer
            every failure with a status that says what happened; count the call (a unary call
            in the latency histogram, a stream as open and then ended)."""
            started, code = time.perf_counter(), "OK"
            if streaming:
                RPC_STREAMS_OPEN.labels(label, method).inc()
            try:
                tracing.bind_trace_id()
                set_current_principal(authorize())
                input_rules.check_request(request)
                yield
            except DomainError as error:
                code = error.code.name
                await _abort(context, error)
            except (asyncio.CancelledError, GeneratorExit):  # GeneratorExit: a stream's client went away
                code = "CANCELLED"
                raise
            except Exception as exc:
                if _handler_aborted(context, exc):
                    code = _code_after_exception(context)
                    raise
                mapped = domain_error_for(exc, method)
                code = mapped.code.name
                await _abort(context, mapped)
            finally:
                set_current_principal(None)
                if streaming:
                    RPC_STREAMS_OPEN.labels(label, method).dec()
                    RPC_STREAMS.labels(label, method, code).inc()
                else:
                    RPC_LATENCY.labels(label, method, code).observe(time.perf_counter() - started)

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                async with served(request, context):
                    return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )

        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async with served(request, context, streaming=True):
                    async for item in inner_stream(request, context):
                        yield item

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # A kind of handler this interceptor does not wrap (client-streaming, bidi) would
        # run unauthenticated: refuse it until it is wrapped (fail closed).
        return _refused(handler, method)


def _refused(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    async def refuse(request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        log.error("refused a call to a handler kind the auth interceptor does not check", method=method)
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{method}: streaming requests are not served (the server cannot authenticate them)",
        )

    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(
            refuse,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return grpc.stream_unary_rpc_method_handler(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _code_after_exception(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "UNKNOWN"


@dataclass
class RunningServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    service_names: tuple[str, ...]

    async def stop(self, grace_s: float) -> None:
        """Go NOT_SERVING first so balancers stop sending, then drain in-flight calls."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


async def start_server(
    settings: Settings,
    service_label: str,
    bindings: list[ServiceBinding],
    port: int,
) -> RunningServer:
    """Build and start a server; ``port=0`` picks a free one (tests)."""
    options = [
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    # Tracing first (when enabled): its server span covers authentication and the answer too.
    server = grpc.aio.server(
        interceptors=[*tracing.server_interceptors(), _Interceptor(settings, service_label, bindings)],
        options=options,
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        binding.register(binding.servicer, server)
    names = tuple(b.full_name for b in bindings)
    reflection_source.enable(
        (*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    address = f"{settings.host}:{port}"
    if settings.grpc_tls_enabled:
        with open(settings.tls_key_file, "rb") as key, open(settings.tls_cert_file, "rb") as cert:
            credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
        bound = server.add_secure_port(address, credentials)
    else:
        bound = server.add_insecure_port(address)
    await server.start()
    for name in (*names, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("grpc server listening", address=f"{settings.host}:{bound}", services=list(names))
    return RunningServer(server=server, health=health_servicer, port=bound, service_names=names)


def stop_event_on_signals() -> asyncio.Event:
    """An event set on SIGINT or SIGTERM, for a service's main to await."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
