"""A small OTLP/gRPC trace collector in-process: what the tracing test and benchmark export to.

It serves ``opentelemetry.proto.collector.trace.v1.TraceService/Export`` on 127.0.0.1 (a free
port), keeps every span it receives with its service's name, and answers success. Services
started with ``OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint`` export to it.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

SpanKind = trace_pb2.Span.SpanKind


@dataclass(frozen=True)
class CollectedSpan:
    service: str
    span: Any  # opentelemetry.proto.trace.v1.Span

    @property
    def trace_id(self) -> str:
        return bytes(self.span.trace_id).hex()

    @property
    def span_id(self) -> str:
        return bytes(self.span.span_id).hex()

    @property
    def parent_span_id(self) -> str:
        return bytes(self.span.parent_span_id).hex()

    @property
    def name(self) -> str:
        return str(self.span.name)

    @property
    def kind(self) -> int:
        return int(self.span.kind)

    @property
    def links(self) -> list[tuple[str, str]]:
        """(trace id, span id) of every span this one links to."""
        return [(bytes(link.trace_id).hex(), bytes(link.span_id).hex()) for link in self.span.links]

    def attribute(self, key: str) -> Any:
        for kv in self.span.attributes:
            if kv.key == key:
                value = kv.value
                return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
        return None


@dataclass
class _Store(trace_service_pb2_grpc.TraceServiceServicer):
    spans: list[CollectedSpan] = field(default_factory=list)
    exports: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # the proto's name
        received: list[CollectedSpan] = []
        for resource_spans in request.resource_spans:
            service = next(
                (kv.value.string_value for kv in resource_spans.resource.attributes if kv.key == "service.name"), ""
            )
            for scope_spans in resource_spans.scope_spans:
                received.extend(CollectedSpan(service, span) for span in scope_spans.spans)
        with self.lock:
            self.spans.extend(received)
            self.exports += 1
            self.lock.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpCollector:
    """``with OtlpCollector() as collector:`` — ``collector.endpoint`` for OTEL_EXPORTER_OTLP_ENDPOINT."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._store = _Store()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self._store, self._server)  # type: ignore[no-untyped-call]
        self.port = self._server.add_insecure_port(f"{host}:0")
        self.endpoint = f"http://{host}:{self.port}"

    def __enter__(self) -> OtlpCollector:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)

    def spans(self, trace_id: str | None = None) -> list[CollectedSpan]:
        with self._store.lock:
            found = list(self._store.spans)
        return [s for s in found if trace_id is None or s.trace_id == trace_id]

    def wait_until(self, done: Callable[[list[CollectedSpan]], bool], timeout_s: float) -> list[CollectedSpan]:
        """Block until ``done(spans)`` holds (checked at every export) or the deadline passes;
        returns the spans either way."""
        deadline = time.monotonic() + timeout_s
        with self._store.lock:
            while not done(list(self._store.spans)):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._store.lock.wait(left)
            return list(self._store.spans)

    @property
    def exports(self) -> int:
        with self._store.lock:
            return self._store.exports


def _serve_counting(port_out: Any, spans_seen: Any, stop: Any) -> None:
    """A collector process's body: serve, count the spans received, until ``stop`` is set."""
    with OtlpCollector() as collector:
        port_out.value = collector.port
        while not stop.wait(0.2):
            spans_seen.value = len(collector.spans())
        spans_seen.value = len(collector.spans())


class CollectorProcess:
    """An :class:`OtlpCollector` in a process of its own (a benchmark's load generator must not
    share its interpreter with the work of decoding what it receives): it counts spans only."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._port = context.Value("i", 0)
        self._spans = context.Value("q", 0)
        self._stop = context.Event()
        self._process = context.Process(target=_serve_counting, args=(self._port, self._spans, self._stop), daemon=True)

    def __enter__(self) -> CollectorProcess:
        self._process.start()
        deadline = time.monotonic() + 30
        while not self._port.value:
            if time.monotonic() > deadline or not self._process.is_alive():
                raise RuntimeError("the collector process did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._port.value}"

    @property
    def spans_received(self) -> int:
        """Spans counted so far (refreshed every 0.2 s)."""
        return int(self._spans.value)
