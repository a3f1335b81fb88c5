"""Traces across the services and the bus (OpenTelemetry).

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set
in a service's environment. Then :func:`configure` installs the SDK: a tracer provider whose
resource is ``OTEL_SERVICE_NAME`` (default ``essayflow-<service>``) plus
``OTEL_RESOURCE_ATTRIBUTES``, a batch span processor (``OTEL_BSP_*``) and the OTLP/gRPC
exporter (``OTEL_EXPORTER_OTLP_*``: endpoint, headers, certificate, timeout, compression);
``OTEL_TRACES_SAMPLER`` / ``_ARG`` choose the sampler (default: parent-based, always on).
The gRPC server and every channel :func:`~essayflow_runtime.grpc_client.open_channel` opens
get the OpenTelemetry gRPC interceptors (health checks and reflection are not traced).

Events carry the trace across the bus: :func:`stamp` runs where an event is sealed
(``contracts.seal``, i.e. inside the transaction of the RPC or handler that writes it to
the outbox, or just before a stateless relay publishes it), opens a PRODUCER span
``create <subject>`` under whatever span is current and writes that span's W3C
``traceparent``/``tracestate`` into the envelope. The outbox relay's ``send <subject>``
span and every consumer's ``process <subject>`` span are children of that span, and a
consumer's span also *links* to it, so one batch — RegisterBatch, each upload, every
event and handler, the matcher, ValidateAssociations — is one trace, as long as the
calls that start it carry one (a client that sends ``traceparent`` metadata).

Disabled, nothing of the SDK is imported: :func:`stamp` returns at once, :func:`traced`
hands back the handler itself, :func:`sending` and :func:`span` a shared null context,
and no interceptor is installed (``python -m bench.tracing_bench`` measures both ways).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import structlog
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from essayflow.events.v1 import envelope_pb2

TRACER_NAME = "essayflow"
MESSAGING_SYSTEM = "nats"
# Not traced: probes and tooling.
UNTRACED_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)

_PROPAGATOR = TraceContextTextMapPropagator()
_NULL: AbstractContextManager[None] = contextlib.nullcontext()
_enabled = False
_provider: Any = None
_tracer_now: trace.Tracer | None = None

A = TypeVar("A")
B = TypeVar("B")


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint is set and the SDK is not disabled."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def enabled() -> bool:
    return _enabled


def configure(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install the SDK and the OTLP exporter if the environment asks for traces; returns whether it did."""
    env = os.environ if environ is None else environ
    if _enabled or not wanted(env):
        return _enabled
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    if protocol.strip().lower() != "grpc":
        structlog.get_logger(__name__).warning(
            "tracing: only OTLP over gRPC is installed; exporting with it", requested_protocol=protocol
        )
    name = env.get("OTEL_SERVICE_NAME") or f"essayflow-{service}"
    resource = Resource.create({SERVICE_NAME: name, "service.namespace": "essayflow"})
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    trace.set_tracer_provider(provider)
    return True


def install(provider: Any) -> None:
    """Trace with ``provider`` (an SDK TracerProvider); :func:`configure` calls it, tests too."""
    global _enabled, _provider, _tracer_now
    _provider, _enabled = provider, True
    _tracer_now = provider.get_tracer(TRACER_NAME)


def shutdown() -> None:
    """Export what is still buffered, then stop (at a service's stop)."""
    global _enabled, _provider, _tracer_now
    if _provider is not None:
        with contextlib.suppress(Exception):
            _provider.shutdown()
    _provider, _enabled, _tracer_now = None, False, None


def _tracer() -> trace.Tracer:
    return _tracer_now or trace.get_tracer(TRACER_NAME)


def server_interceptors() -> list[Any]:
    """The OpenTelemetry gRPC server interceptor (first in the chain), or none when disabled."""
    if not _enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    return [aio_server_interceptor(tracer_provider=_provider, filter_=_not_tooling(filters))]  # type: ignore[no-untyped-call]


def client_interceptors() -> list[Any]:
    """The OpenTelemetry gRPC client interceptors for a channel, or none when disabled."""
    if not _enabled:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors, filters

    return list(aio_client_interceptors(tracer_provider=_provider, filter_=_not_tooling(filters)))  # type: ignore[no-untyped-call]


def _not_tooling(filters: Any) -> Any:
    return filters.negate(filters.any_of(*(filters.service_name(name) for name in UNTRACED_SERVICES)))


def stamp(envelope: envelope_pb2.EventEnvelope, subject: str) -> None:
    """Open and close the event's PRODUCER span (``create <subject>``) under the current span,
    and write its trace context into the envelope."""
    if not _enabled:
        return
    attributes = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "create",
        "messaging.destination.name": subject,
        "messaging.message.id": envelope.event_id,
        "messaging.message.conversation_id": envelope.correlation_id,
        "essayflow.event_type": envelope.event_type,
        "essayflow.causation_id": envelope.causation_id,
    }
    carrier: dict[str, str] = {}
    with _tracer().start_as_current_span(f"create {subject}", kind=SpanKind.PRODUCER, attributes=attributes):
        _PROPAGATOR.inject(carrier)
    envelope.traceparent = carrier.get("traceparent", "")
    envelope.tracestate = carrier.get("tracestate", "")


def _producer_context(envelope: envelope_pb2.EventEnvelope) -> tuple[Any, list[Link]]:
    """The context the event was written in (empty when it carries none) and a link to its span."""
    carrier = {"traceparent": envelope.traceparent}
    if envelope.tracestate:
        carrier["tracestate"] = envelope.tracestate
    parent = _PROPAGATOR.extract(carrier) if envelope.traceparent else None
    producer = trace.get_current_span(parent).get_span_context() if parent is not None else None
    links = [Link(producer, {"messaging.operation.type": "create"})] if producer and producer.is_valid else []
    return parent, links


def traced(
    handler: Callable[[A, B], Awaitable[None]],
    envelope: envelope_pb2.EventEnvelope,
    subject: str,
    consumer: str,
    delivery: int = 1,
) -> Callable[[A, B], Awaitable[None]]:
    """``handler`` inside a CONSUMER span ``process <subject>``: a child of the event's producer
    span, with a link to it. Disabled: ``handler`` itself."""
    if not _enabled:
        return handler

    async def handle(context: A, payload: B) -> None:
        parent, links = _producer_context(envelope)
        attributes: dict[str, str | int] = {
            "messaging.system": MESSAGING_SYSTEM,
            "messaging.operation.type": "process",
            "messaging.destination.name": subject,
            "messaging.consumer.group.name": consumer,
            "messaging.message.id": envelope.event_id,
            "messaging.message.conversation_id": envelope.correlation_id,
            "messaging.nats.delivery": delivery,
            "essayflow.event_type": envelope.event_type,
            "essayflow.source": envelope.source,
        }
        with _tracer().start_as_current_span(
            f"process {subject}", context=parent, kind=SpanKind.CONSUMER, links=links, attributes=attributes
        ):
            bind_trace_id()
            await handler(context, payload)

    return handle


def bind_trace_id() -> None:
    """Put the current trace id on every log line of this task (an RPC, a handler), so a log
    line leads to its trace. Disabled: nothing."""
    if not _enabled:
        return
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        structlog.contextvars.bind_contextvars(trace_id=format(span_context.trace_id, "032x"))


def sending(envelope_bytes: bytes, subject: str, event_id: str) -> AbstractContextManager[Any]:
    """The outbox relay's ``send <subject>`` span, a child of the event's producer span."""
    if not _enabled:
        return _NULL
    return _sending(envelope_bytes, subject, event_id)


@contextlib.contextmanager
def _sending(envelope_bytes: bytes, subject: str, event_id: str) -> Iterator[None]:
    envelope = envelope_pb2.EventEnvelope()
    with contextlib.suppress(Exception):
        envelope.ParseFromString(envelope_bytes)
    parent, links = _producer_context(envelope)
    attributes: dict[str, str | bool] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "send",
        "messaging.destination.name": subject,
        "messaging.message.id": event_id,
        "messaging.message.conversation_id": envelope.correlation_id,
        "essayflow.outbox": True,
    }
    with _tracer().start_as_current_span(
        f"send {subject}", context=parent, kind=SpanKind.CLIENT, links=links, attributes=attributes
    ):
        yield


def span(name: str, **attributes: str | int | float | bool) -> AbstractContextManager[Any]:
    """An internal span under the current one (the matcher's work), or a null context."""
    if not _enabled:
        return _NULL
    return _tracer().start_as_current_span(name, attributes=attributes)
