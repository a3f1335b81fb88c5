"""One REGULAR batch is one trace across the four services and the bus.

The real service processes export over OTLP/gRPC to a collector this test runs in-process
(``bench.otlp_collector``). The test is the teacher's client: it sends one W3C traceparent
with every call, as an instrumented client would, and then waits (on the collector's
exports, with a deadline) until the trace holds every span the flow must leave."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.otlp_collector import CollectedSpan, OtlpCollector, SpanKind
from essayflow.events.v1 import bos_events_pb2, cms_events_pb2, els_events_pb2, nlp_events_pb2
from essayflow_cli.client import Clients
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.contracts import subject_of
from tests.e2e.conftest import E2EStack, launch_stack
from tests.e2e.flows import ROSTER, complete_regular_flow

pytestmark = pytest.mark.e2e

SERVICES = {"essayflow-bos", "essayflow-els", "essayflow-cms", "essayflow-nlp"}
# Every hop of a REGULAR batch over the bus: (subject, the service whose consumer handles it).
HOPS = {
    (subject_of(bos_events_pb2.BatchEssaysRegistered), "essayflow-els"),
    (subject_of(els_events_pb2.BatchContentProvisioningCompleted), "essayflow-bos"),
    (subject_of(bos_events_pb2.StudentMatchingInitiate), "essayflow-els"),
    (subject_of(els_events_pb2.BatchStudentMatchingRequested), "essayflow-nlp"),
    (subject_of(nlp_events_pb2.BatchAuthorMatchesSuggested), "essayflow-cms"),
    (subject_of(cms_events_pb2.StudentAssociationsConfirmed), "essayflow-els"),
    (subject_of(cms_events_pb2.StudentAssociationsConfirmed), "essayflow-bos"),
    (subject_of(els_events_pb2.BatchEssaysReady), "essayflow-bos"),
}
RPCS = {
    ("essayflow-bos", "/essayflow.bos.v1.BatchOrchestratorService/RegisterBatch"),
    ("essayflow-els", "/essayflow.els.v1.EssayLifecycleService/ProvisionEssay"),
    ("essayflow-cms", "/essayflow.cms.v1.ClassManagementService/ValidateAssociations"),
    # The matcher's roster, read from CMS over gRPC: NLP's client span, CMS's server span.
    ("essayflow-nlp", "/essayflow.cms.v1.ClassManagementService/ListClassStudents"),
    ("essayflow-cms", "/essayflow.cms.v1.ClassManagementService/ListClassStudents"),
}


@dataclass
class TracedClients(Clients):
    """The teacher's client, sending one trace context with every call."""

    traceparent: str = ""

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (*super().metadata, ("traceparent", self.traceparent))


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory, collector: OtlpCollector
) -> Iterator[E2EStack]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with launch_stack(postgres_server_url, tmp_path_factory.mktemp("traces-nats"), extra_env=env) as stack:
        yield stack


def missing(spans: list[CollectedSpan]) -> list[str]:
    """What the trace still lacks (empty: complete)."""
    by_id = {s.span_id: s for s in spans}
    services = {s.service for s in spans}
    rpcs = {(s.service, s.name) for s in spans}
    consumed = {
        (s.attribute("messaging.destination.name"), s.service) for s in spans if s.kind == SpanKind.SPAN_KIND_CONSUMER
    }
    sent = {s.service for s in spans if s.attribute("essayflow.outbox")}
    lacking = [f"spans of {name}" for name in sorted(SERVICES - services)]
    lacking += [f"{service} {rpc}" for service, rpc in sorted(RPCS - rpcs)]
    lacking += [f"{service}'s handler of {subject}" for subject, service in sorted(HOPS - consumed)]
    lacking += [f"{name}'s outbox relay send" for name in sorted({"essayflow-bos", "essayflow-cms"} - sent)]
    if not any(s.name == "nlp match authors" and s.service == "essayflow-nlp" for s in spans):
        lacking.append("the matcher's span")
    uploads = sum(1 for s in spans if s.name.endswith("/ProvisionEssay") and s.kind == SpanKind.SPAN_KIND_SERVER)
    if uploads < len(ROSTER):
        lacking.append(f"{len(ROSTER) - uploads} of the upload spans")
    for span in spans:  # a consumer's span is its producer's child, and links to it
        if span.kind != SpanKind.SPAN_KIND_CONSUMER:
            continue
        producer = by_id.get(span.parent_span_id)
        if producer is None or producer.kind != SpanKind.SPAN_KIND_PRODUCER:
            lacking.append(f"the producer span of {span.service}'s {span.name}")
        elif (producer.trace_id, producer.span_id) not in span.links:
            lacking.append(f"a link from {span.service}'s {span.name} to its producer")
    return lacking


async def test_one_regular_batch_is_one_trace(traced_stack: E2EStack, collector: OtlpCollector) -> None:
    await traced_stack.wait_serving()
    trace_id = secrets.token_hex(16)
    clients = TracedClients(
        traced_stack.settings,
        mint_token(traced_stack.settings, "teacher-traced", Role.TEACHER),
        traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01",
    )
    try:
        await complete_regular_flow(clients)
    finally:
        await clients.close()

    spans = await asyncio.to_thread(
        collector.wait_until, lambda found: not missing([s for s in found if s.trace_id == trace_id]), 30.0
    )
    trace = [s for s in spans if s.trace_id == trace_id]
    names = sorted({(s.service, s.name) for s in trace})
    assert not missing(trace), f"the trace lacks: {missing(trace)}; it has {names}"
    # The producer spans the consumers link to are those of the events' writers.
    producers = {s.span_id: s for s in trace if s.kind == SpanKind.SPAN_KIND_PRODUCER}
    assert {producers[s.parent_span_id].service for s in trace if s.kind == SpanKind.SPAN_KIND_CONSUMER} == SERVICES


async def test_a_cli_command_is_one_trace(traced_stack: E2EStack, collector: OtlpCollector) -> None:
    """``essayflow`` itself traces when the variables say so: a span for the command (its name,
    not its arguments), and the services' spans of its calls under it."""
    await traced_stack.wait_serving()
    token = mint_token(traced_stack.settings, "teacher-cli-traced", Role.TEACHER)
    env = {**os.environ, **traced_stack.env, "ESSAYFLOW_TOKEN": token, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "essayflow_cli.main", "batch", "list", "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr

    def complete(spans: list[CollectedSpan]) -> bool:
        return bool(command_trace(spans))

    def command_trace(spans: list[CollectedSpan]) -> list[CollectedSpan]:
        commands = [s for s in spans if s.service == "essayflow-cli" and s.name.endswith("batch list")]
        if not commands:
            return []
        trace = [s for s in spans if s.trace_id == commands[0].trace_id]
        served = [s for s in trace if s.service == "essayflow-bos" and s.name.endswith("/ListBatches")]
        return trace if served else []

    trace = command_trace(await asyncio.to_thread(collector.wait_until, complete, 30.0))
    assert trace, "no trace of the command with BOS's span in it"
    by_id = {s.span_id: s for s in trace}
    served = next(s for s in trace if s.service == "essayflow-bos" and s.name.endswith("/ListBatches"))
    client = by_id[served.parent_span_id]  # the CLI's client span of the call, under the command's span
    assert client.service == "essayflow-cli" and client.kind == SpanKind.SPAN_KIND_CLIENT
    assert by_id[client.parent_span_id].name.endswith("batch list")
