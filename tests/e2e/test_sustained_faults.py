"""Sustained outages of every dependency, against the real processes: no batch is stranded.

The module runs a stack of its own over a PostgreSQL of its own (it is stopped here) and
its own nats-server (stopped and started on the same port and store directory). Outages
are shortened through configuration, and each outlasts every retry budget the services
used to give up after (``ESSAYFLOW_MAX_DELIVER=3``, redelivery backoff 0.1/0.2/0.5 s):

- PostgreSQL: before transient failures were told apart, BOS dead-lettered an event whose
  handler met the stopped database on its third delivery (about a second). Here PostgreSQL
  stays down until BOS has failed ``3 * max_deliver`` deliveries transiently (read from its
  metrics), with uploads for a burst of GUEST and REGULAR batches arriving meanwhile.
- CMS: the matcher used to report ROSTER_UNAVAILABLE on the third delivery. Here CMS stays
  down until NLP has failed ``3 * max_deliver`` deliveries transiently.
- nats-server, ELS and NLP are each down for ``OUTAGE_S`` with work in flight; batches are
  registered and uploaded while they are away.

Every batch must then reach READY exactly once — versions 1..n without gaps, one
transition into READY — REGULAR batches with every essay's student (auto-confirmed HIGH
matches: an essay reported ROSTER_UNAVAILABLE would hold its batch back), and no dead
letters. Health must go NOT_SERVING within seconds of PostgreSQL or NATS stopping, and
SERVING again after.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2 as c
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients
from essayflow_cli.waits import wait_status
from essayflow_runtime.embedded import EmbeddedPostgres
from essayflow_runtime.service import METRICS_OFFSETS
from tests.e2e.conftest import E2EStack, launch_stack
from tests.e2e.flows import ROSTER, create_class, essay_text, register, retry_unavailable
from tests.e2e.test_phase1_flows import GUEST_PATH, REGULAR_PATH
from tests.support import eventually

pytestmark = pytest.mark.e2e

MAX_DELIVER = 3
OUTAGE_S = 10.0
READY = c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
TRANSIENT_FAILURES = "essayflow_consumer_transient_failures_total"
GUEST_ESSAYS = 2


def _metrics_base_port() -> int:
    """A base with four free ports after it (one /metrics per service)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + 3 > 65535:
            continue
        try:
            for port in range(base, base + 4):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no four consecutive free ports")


@dataclass
class FaultStack:
    stack: E2EStack
    postgres: EmbeddedPostgres
    metrics_base: int

    def metric_total(self, service: str, name: str) -> float:
        """The sum of a counter over its labels, scraped from the service's /metrics."""
        url = f"http://127.0.0.1:{self.metrics_base + METRICS_OFFSETS[service]}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[EmbeddedPostgres]:
    # Outside pytest's temp dir, as tests/conftest.py explains (postgres runs unprivileged).
    data_dir = Path(tempfile.mkdtemp(prefix="essayflow-pg-faults-"))
    server = EmbeddedPostgres(data_dir).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_stack(own_postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    base = _metrics_base_port()
    env = {
        "ESSAYFLOW_MAX_DELIVER": str(MAX_DELIVER),
        "ESSAYFLOW_TRANSIENT_BACKOFF_INITIAL_S": "0.2",
        "ESSAYFLOW_TRANSIENT_BACKOFF_MAX_S": "2",
        "ESSAYFLOW_ACK_WAIT_S": "5",
        "ESSAYFLOW_HEALTH_PROBE_INTERVAL_S": "0.5",
        "ESSAYFLOW_OUTBOX_MAX_BACKOFF_S": "1",
        # A teacher's upload right after registering waits this long for ELS to hear of it.
        "ESSAYFLOW_REGISTRATION_WAIT_S": "30",
        "ESSAYFLOW_METRICS_ENABLED": "1",
        "ESSAYFLOW_METRICS_BASE_PORT": str(base),
    }
    with launch_stack(own_postgres.url, tmp_path_factory.mktemp("faults-nats"), extra_env=env) as stack:
        yield FaultStack(stack, own_postgres, base)


@pytest.fixture
async def faults_ready(fault_stack: FaultStack) -> AsyncIterator[FaultStack]:
    await _everything_up(fault_stack)
    try:
        yield fault_stack
    finally:
        # Whatever the test left down comes back, for the next test and the module's teardown.
        await _everything_up(fault_stack)


async def _everything_up(faults: FaultStack) -> None:
    if not faults.postgres.running:
        await asyncio.to_thread(faults.postgres.start)
    if not faults.stack.nats.running:
        await asyncio.to_thread(faults.stack.nats.start)
    faults.stack.ensure_running()
    await faults.stack.wait_serving(timeout_s=120)


async def health(stack: E2EStack, name: str) -> int | None:
    """The service's overall health status, None when it does not answer."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.ports[name][0]}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.aio.AioRpcError:
            return None
    return int(reply.status)


async def all_report(stack: E2EStack, names: tuple[str, ...], status: int) -> bool:
    return all([await health(stack, name) == status for name in names])


async def dead_letters(stack: E2EStack) -> int:
    client = await nats.connect(stack.settings.nats_url)
    try:
        info = await client.jetstream().stream_info(stack.settings.dlq_stream_name)
        return int(info.state.messages)
    finally:
        await client.close()


@dataclass
class Planned:
    batch: bos_pb2.Batch
    regular: bool
    texts: list[str]


async def plan(teacher: Clients, class_id: str, count: int, *, regular_only: bool = False) -> list[Planned]:
    """Register ``count`` batches, GUEST and REGULAR alternating (retried while a peer is away)."""
    planned = []
    for index in range(count):
        regular = regular_only or index % 2 == 1
        texts = (
            [essay_text(first, last, i) for i, (first, last) in enumerate(ROSTER)]
            if regular
            else [essay_text("Anon", "Writer", 100 * index + i) for i in range(GUEST_ESSAYS)]
        )
        batch = await retry_unavailable(
            lambda regular=regular, texts=texts: register(teacher, len(texts), class_id if regular else ""),
            timeout_s=90,
        )
        planned.append(Planned(batch, regular, texts))
    return planned


async def upload(teacher: Clients, planned: list[Planned], which: slice, *, timeout_s: float = 90) -> None:
    """Upload the chosen essays of every batch, retrying UNAVAILABLE (ELS away) until the deadline."""
    for item in planned:
        for index, text in list(enumerate(item.texts))[which]:
            request = els_pb2.ProvisionEssayRequest(
                batch_id=item.batch.batch_id, file_name=f"essay-{index}.txt", content=text.encode()
            )
            await retry_unavailable(
                lambda r=request: teacher.els.ProvisionEssay(r, metadata=teacher.metadata), timeout_s=timeout_s
            )


async def all_ready_once(teacher: Clients, planned: list[Planned]) -> None:
    """Every batch READY, its history contiguous, one transition into READY, students for REGULAR."""
    await asyncio.gather(*(wait_status(teacher, p.batch.batch_id, READY, timeout_s=150) for p in planned))
    for item in planned:
        listed = await teacher.bos.ListBatchTransitions(
            bos_pb2.ListBatchTransitionsRequest(batch_id=item.batch.batch_id), metadata=teacher.metadata
        )
        history = list(listed.transitions)
        assert [t.version for t in history] == list(range(1, len(history) + 1)), "versions without gaps"
        assert [t.to_status for t in history].count(READY) == 1, "READY exactly once"
        expected = REGULAR_PATH[:3] if item.regular else GUEST_PATH[:1]
        assert [(t.from_status, t.to_status) for t in history] == expected
        batch = (
            await teacher.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=item.batch.batch_id), metadata=teacher.metadata)
        ).batch
        assert len(batch.essays) == len(item.texts)
        if item.regular:
            assert all(e.student_id for e in batch.essays), "every essay matched: no ROSTER_UNAVAILABLE"


def grows_by(read: Callable[[], float], baseline: float, by: float) -> Callable[[], Awaitable[float | None]]:
    """A probe for ``eventually``: the counter once it grew by ``by`` since ``baseline``."""

    async def probe() -> float | None:
        value = await asyncio.to_thread(read)
        return value if value >= baseline + by else None

    return probe


async def test_postgres_stopped_mid_burst_then_every_batch_is_ready_once(faults_ready: FaultStack) -> None:
    stack = faults_ready.stack
    teacher = stack.clients("teacher-pg-outage")
    try:
        class_id, _ = await create_class(teacher, auto_confirm=True)
        planned = await plan(teacher, class_id, 10)
        await upload(teacher, planned, slice(0, 1))
        transient_before = faults_ready.metric_total("bos", TRANSIENT_FAILURES)

        await asyncio.to_thread(faults_ready.postgres.stop)
        try:
            await eventually(
                lambda: all_report(stack, ("bos", "cms"), NOT_SERVING), timeout_s=15, message="NOT_SERVING"
            )
            assert await all_report(stack, ("els", "nlp"), SERVING), "services without a database keep serving"
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await teacher.bos.GetBatch(
                    bos_pb2.GetBatchRequest(batch_id=planned[0].batch.batch_id), metadata=teacher.metadata
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, "never UNKNOWN"
            # ELS needs no database: the rest of the burst arrives while BOS cannot record it.
            await upload(teacher, planned, slice(1, None))
            await eventually(
                grows_by(
                    lambda: faults_ready.metric_total("bos", TRANSIENT_FAILURES), transient_before, 3 * MAX_DELIVER
                ),
                timeout_s=90,
                interval_s=0.5,
                message="BOS retried far past the old delivery limit",
            )
        finally:
            await asyncio.to_thread(faults_ready.postgres.start)
        await eventually(lambda: all_report(stack, ("bos", "cms"), SERVING), timeout_s=30, message="SERVING again")

        await all_ready_once(teacher, planned)
        assert await dead_letters(stack) == 0
    finally:
        await teacher.close()


async def test_nats_stopped_with_work_in_flight_then_every_batch_is_ready_once(faults_ready: FaultStack) -> None:
    stack = faults_ready.stack
    teacher = stack.clients("teacher-nats-outage")
    try:
        class_id, _ = await create_class(teacher, auto_confirm=True)
        planned = await plan(teacher, class_id, 6)
        await upload(teacher, planned, slice(0, 1))

        stopped = time.monotonic()
        await asyncio.to_thread(stack.nats.stop)
        try:
            await eventually(
                lambda: all_report(stack, ("bos", "cms", "els", "nlp"), NOT_SERVING),
                timeout_s=15,
                message="NOT_SERVING",
            )
            # BOS still registers: the outbox holds the events until NATS is back.
            planned += await plan(teacher, class_id, 2)
            remaining = OUTAGE_S - (time.monotonic() - stopped)
            if remaining > 0:
                await asyncio.sleep(remaining)  # the outage itself, not a wait for a condition
        finally:
            await asyncio.to_thread(stack.nats.start)
        await eventually(
            lambda: all_report(stack, ("bos", "cms", "els", "nlp"), SERVING), timeout_s=30, message="SERVING"
        )

        await upload(teacher, planned[:-2], slice(1, None))
        await upload(teacher, planned[-2:], slice(0, None))
        await all_ready_once(teacher, planned)
        assert await dead_letters(stack) == 0
    finally:
        await teacher.close()


async def test_cms_down_while_the_matcher_runs_then_ready_without_roster_unavailable(
    faults_ready: FaultStack,
) -> None:
    stack = faults_ready.stack
    teacher = stack.clients("teacher-cms-outage")
    try:
        class_id, _ = await create_class(teacher, auto_confirm=True)
        planned = await plan(teacher, class_id, 4, regular_only=True)
        await upload(teacher, planned, slice(0, -1))
        transient_before = faults_ready.metric_total("nlp", TRANSIENT_FAILURES)

        stack.kill("cms")
        try:
            await upload(teacher, planned, slice(-1, None))  # complete: matching is requested now
            await eventually(
                grows_by(
                    lambda: faults_ready.metric_total("nlp", TRANSIENT_FAILURES), transient_before, 3 * MAX_DELIVER
                ),
                timeout_s=120,
                interval_s=0.5,
                message="the matcher retried far past the old delivery limit",
            )
        finally:
            stack.start("cms")
        await all_ready_once(teacher, planned)
        assert await dead_letters(stack) == 0
    finally:
        await teacher.close()


async def test_els_down_during_uploads_and_nlp_down_then_every_batch_is_ready_once(
    faults_ready: FaultStack,
) -> None:
    stack = faults_ready.stack
    teacher = stack.clients("teacher-els-nlp-outage")
    try:
        class_id, _ = await create_class(teacher, auto_confirm=True)
        planned = await plan(teacher, class_id, 4)
        await upload(teacher, planned, slice(0, 1))

        stack.kill("els")
        planned += await plan(teacher, class_id, 2)  # registered while ELS is away
        # The teacher keeps trying; every attempt is UNAVAILABLE until ELS is back.
        uploads: asyncio.Task[Any] = asyncio.create_task(upload(teacher, planned[:-2], slice(1, None), timeout_s=120))
        await asyncio.sleep(OUTAGE_S)  # the outage itself
        assert not uploads.done(), "no upload can succeed while ELS is down"
        stack.kill("nlp")  # and the matcher goes before ELS returns
        stack.start("els")
        await uploads
        await upload(teacher, planned[-2:], slice(0, None), timeout_s=120)

        guests = [p for p in planned if not p.regular]
        await all_ready_once(teacher, guests)  # GUEST batches need no matcher
        for item in planned:
            if item.regular:
                batch = (
                    await teacher.bos.GetBatch(
                        bos_pb2.GetBatchRequest(batch_id=item.batch.batch_id), metadata=teacher.metadata
                    )
                ).batch
                assert batch.status != READY, "a REGULAR batch waits for the matcher"
        await asyncio.sleep(OUTAGE_S / 2)  # the rest of the matcher's outage
        stack.start("nlp")
        await all_ready_once(teacher, planned)
        assert await dead_letters(stack) == 0
    finally:
        await teacher.close()
