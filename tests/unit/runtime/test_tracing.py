"""Trace context in the envelope: off unless asked for, and when on, consumer spans are children
of (and link to) the span that wrote the event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import contracts, tracing


def registered() -> bos_events_pb2.BatchEssaysRegistered:
    return bos_events_pb2.BatchEssaysRegistered(batch_id="b-1", essay_ids=["e-1"])


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracing.install(provider)
    try:
        yield memory
    finally:
        tracing.shutdown()


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_traces_only_when_an_endpoint_is_set(env: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(env) is wanted


def test_disabled_changes_nothing() -> None:
    assert not tracing.configure("bos", {})
    assert not tracing.enabled()
    event = contracts.seal(registered(), source="bos", correlation_id="c-1")
    envelope, _ = contracts.unwrap(event.data)
    assert envelope.traceparent == "" and envelope.tracestate == ""

    async def handler(context: object, payload: object) -> None:
        return None

    assert tracing.traced(handler, envelope, "s", "bos-events") is handler
    assert tracing.server_interceptors() == [] and tracing.client_interceptors() == []
    with tracing.sending(event.data, event.subject, event.event_id), tracing.span("nothing"):
        pass


async def test_consumer_span_is_the_producers_child_and_links_to_it(exporter: InMemorySpanExporter) -> None:
    with tracing._tracer().start_as_current_span("RegisterBatch", kind=SpanKind.SERVER) as rpc:
        event = contracts.seal(registered(), source="bos", correlation_id="c-1")
    envelope, payload = contracts.unwrap(event.data)
    assert envelope.traceparent.startswith(f"00-{rpc.get_span_context().trace_id:032x}-")
    with tracing.sending(event.data, event.subject, event.event_id):
        pass
    handled: list[str] = []

    async def handler(context: str, payload: object) -> None:
        handled.append(context)

    await tracing.traced(handler, envelope, event.subject, "els-events", 2)("ctx", payload)
    assert handled == ["ctx"]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    producer = spans[f"create {event.subject}"]
    send = spans[f"send {event.subject}"]
    process = spans[f"process {event.subject}"]
    assert producer.kind is SpanKind.PRODUCER and producer.parent is not None
    assert producer.parent.span_id == rpc.get_span_context().span_id
    assert send.parent is not None and send.parent.span_id == producer.context.span_id
    assert process.kind is SpanKind.CONSUMER
    assert process.parent is not None and process.parent.span_id == producer.context.span_id
    assert [link.context.span_id for link in process.links] == [producer.context.span_id]
    assert process.context.trace_id == rpc.get_span_context().trace_id
    assert process.attributes is not None and process.attributes["messaging.message.id"] == envelope.event_id
    assert process.attributes["messaging.nats.delivery"] == 2


async def test_an_event_without_context_starts_a_trace_of_its_own(exporter: InMemorySpanExporter) -> None:
    envelope = contracts.wrap(registered(), source="other", correlation_id="c-2")

    async def handler(context: object, payload: object) -> None:
        return None

    await tracing.traced(handler, envelope, "s", "els-events")(None, None)
    (process,) = exporter.get_finished_spans()
    assert process.parent is None and not process.links


async def test_a_failing_handler_marks_its_span(exporter: InMemorySpanExporter) -> None:
    envelope = contracts.wrap(registered(), source="bos", correlation_id="c-3")

    async def handler(context: object, payload: object) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await tracing.traced(handler, envelope, "s", "els-events")(None, None)
    (process,) = exporter.get_finished_spans()
    assert not process.status.is_ok


async def test_a_handlers_log_lines_carry_its_trace_id(exporter: InMemorySpanExporter) -> None:
    import structlog

    envelope = contracts.wrap(registered(), source="bos", correlation_id="c-4")
    seen: list[object] = []

    async def handler(context: object, payload: object) -> None:
        seen.append(structlog.contextvars.get_contextvars().get("trace_id"))

    try:
        await tracing.traced(handler, envelope, "s", "els-events")(None, None)
    finally:
        structlog.contextvars.unbind_contextvars("trace_id")
    (process,) = exporter.get_finished_spans()
    assert seen == [format(process.context.trace_id, "032x")]
