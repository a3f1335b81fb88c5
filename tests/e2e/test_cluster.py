"""The stack on a three-node JetStream cluster, every stream, bucket and store at R3, two
replicas of every service: the node leading the events stream is killed with ``kill -9``
in the middle of a burst and restarted later. Every batch reaches READY once, no essay
text is lost, no slot is bound twice, and the restarted node catches up.

``make test`` runs the short burst; ``make test-cluster`` adds the long one (marked
``cluster``): the leaders of the slot bucket and the content store killed in turn too."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2 as c
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients
from essayflow_cli.waits import wait_status
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import nats_servers
from essayflow_runtime.embedded import EmbeddedNatsCluster
from services.els import slots
from services.els.content_store import ContentStore
from services.els.store import open_slot_bucket, tracker_key
from tests.e2e.conftest import CLUSTER_REPLICAS, E2EStack, launch_stack
from tests.e2e.flows import ROSTER, create_class, essay_text, register, retry_unavailable, transitions

pytestmark = pytest.mark.e2e

READY = c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
REGULAR_PATH = [
    (c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION),
    (c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, c.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED),
    (c.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED, READY),
]
GUEST_PATH = [(c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION, READY)]
GUEST_ESSAYS = 3
CATCH_UP_TIMEOUT_S = 60.0


@dataclass
class Cluster:
    stack: E2EStack
    nats: EmbeddedNatsCluster
    clients: list[Clients]


@pytest.fixture(scope="module")
def clustered_stack(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    with launch_stack(
        postgres_server_url, tmp_path_factory.mktemp("cluster-nats"), replicas=2, cluster=True
    ) as stack:
        yield stack


@pytest.fixture
async def cluster(clustered_stack: E2EStack) -> AsyncIterator[Cluster]:
    assert clustered_stack.cluster is not None
    for node in range(clustered_stack.cluster.size):  # a previous test may have left one down
        if not clustered_stack.cluster.nodes[node].running:
            await asyncio.to_thread(clustered_stack.cluster.restart, node)
    await clustered_stack.wait_serving(timeout_s=120)
    settings = clustered_stack.settings
    token = mint_token(settings, "teacher-cluster", Role.TEACHER)
    clients = [
        Clients(
            dataclasses.replace(
                settings,
                bos_port=clustered_stack.ports["bos"][i],
                els_port=clustered_stack.ports["els"][i],
                cms_port=clustered_stack.ports["cms"][i],
            ),
            token,
        )
        for i in range(2)
    ]
    yield Cluster(clustered_stack, clustered_stack.cluster, clients)
    for client in clients:
        await client.close()


async def _connect(cluster: Cluster) -> NATS:
    return await nats.connect(nats_servers(cluster.nats.url), max_reconnect_attempts=-1, reconnect_time_wait=0.2)


def _assets(cluster: Cluster) -> dict[str, str]:
    """What the services keep in JetStream: the stream behind each."""
    settings = cluster.stack.settings
    return {
        "events": settings.stream_name,
        "dead letters": settings.dlq_stream_name,
        "slot bucket": f"KV_{settings.slot_bucket}",
        "content store": f"OBJ_{settings.content_bucket}",
    }


async def _leader(js: JetStreamContext, stream: str) -> str:
    """The server leading ``stream`` (waiting out an election in progress)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            info = await js.stream_info(stream)
            if info.cluster is not None and info.cluster.leader:
                return info.cluster.leader
        except Exception:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def _caught_up(js: JetStreamContext, stream: str, server: str) -> float:
    """Seconds until ``server``'s replica of ``stream`` reports current with the leader and
    no lag; AssertionError after CATCH_UP_TIMEOUT_S."""
    started = time.monotonic()
    seen = None
    while time.monotonic() - started < CATCH_UP_TIMEOUT_S:
        try:
            info = await js.stream_info(stream)
        except Exception:
            await asyncio.sleep(0.25)
            continue
        assert info.cluster is not None
        if info.cluster.leader == server:
            return time.monotonic() - started  # it leads again: it holds everything
        seen = [p for p in info.cluster.replicas or [] if p.name == server]
        if seen and seen[0].current and not seen[0].offline and not seen[0].lag:
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    raise AssertionError(f"{server} did not catch up on {stream} within {CATCH_UP_TIMEOUT_S} s: {seen}")


class Uploads:
    """Uploads answered so far; ``reached(n)`` is set once there were ``n``."""

    def __init__(self) -> None:
        self.count = 0
        self._waiting: dict[int, asyncio.Event] = {}

    def answered(self) -> None:
        self.count += 1
        for n, event in self._waiting.items():
            if self.count >= n:
                event.set()

    def reached(self, n: int) -> asyncio.Event:
        event = self._waiting.setdefault(n, asyncio.Event())
        if self.count >= n:
            event.set()
        return event


async def _burst(
    cluster: Cluster, batches: int, uploaded: Uploads, stagger_s: float
) -> list[tuple[str, bool, int]]:
    """``batches`` batches, REGULAR and GUEST alternating, the n-th starting after n *
    ``stagger_s``, each registered through one replica and uploaded through the other;
    (batch id, regular?, essays) once each is READY."""
    clients = cluster.clients
    class_id, _ = await create_class(clients[0], auto_confirm=True)
    regular_texts = [essay_text(first, last, i) for i, (first, last) in enumerate(ROSTER)]

    async def one_batch(n: int) -> tuple[str, bool, int]:
        await asyncio.sleep(n * stagger_s)
        registering, uploading = clients[n % 2], clients[(n + 1) % 2]
        regular = n % 2 == 0
        texts = regular_texts if regular else [essay_text("Anon", "Writer", 100 * n + i) for i in range(GUEST_ESSAYS)]
        batch = await register(registering, len(texts), class_id if regular else "")
        for index, text in enumerate(texts):  # one at a time, counted: the kill comes mid-burst
            request = els_pb2.ProvisionEssayRequest(
                batch_id=batch.batch_id, file_name=f"essay-{index}.txt", content=text.encode()
            )
            answer = await retry_unavailable(
                lambda r=request: uploading.els.ProvisionEssay(r, metadata=uploading.metadata), timeout_s=60
            )
            assert answer.outcome in (
                els_pb2.PROVISION_OUTCOME_BOUND,
                # a retry of an upload whose first answer was lost in the leader change
                els_pb2.PROVISION_OUTCOME_DUPLICATE,
            ), (batch.batch_id, index, answer)
            uploaded.answered()
        await wait_status(registering, batch.batch_id, READY, timeout_s=240)
        return str(batch.batch_id), regular, len(texts)

    return await asyncio.gather(*(one_batch(n) for n in range(batches)))


async def _kill_leader_mid_burst(
    cluster: Cluster, js: JetStreamContext, streams: list[str], batches: int, *, stagger_s: float = 0.0
) -> tuple[list[tuple[str, bool, int]], list[tuple[str, str, float]]]:
    """The burst, with the leader of each of ``streams`` in turn killed (``kill -9``) once a
    share of the uploads was answered, and restarted a few seconds later. Returns the
    batches and, per kill, (stream, killed server, seconds until it caught up)."""
    uploaded = Uploads()
    total = batches // 2 * len(ROSTER) + (batches - batches // 2) * GUEST_ESSAYS
    burst = asyncio.create_task(_burst(cluster, batches, uploaded, stagger_s))
    kills: list[tuple[str, str, float]] = []
    try:
        for turn, stream in enumerate(streams):
            share = asyncio.create_task(uploaded.reached(total * (turn + 1) // (len(streams) + 3)).wait())
            await asyncio.wait([share, burst], return_when=asyncio.FIRST_COMPLETED)
            share.cancel()
            server = await _leader(js, stream)
            print(f"kill -9 of {server}, leader of {stream}, after {uploaded.count} of {total} uploads")
            node = cluster.nats.node_of(server)
            pid = cluster.nats.pid(node)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # kill -9 of the stream's leader
            await asyncio.to_thread(cluster.nats.nodes[node].process.wait)  # type: ignore[union-attr]
            new_leader = await _leader(js, stream)
            assert new_leader != server, "a surviving node took over"
            await asyncio.sleep(3)  # the burst runs on two nodes for a while
            await asyncio.to_thread(cluster.nats.restart, node)
            kills.append((stream, server, await _caught_up(js, stream, server)))
            print(f"{new_leader} took over {stream}; {server} restarted, caught up in {kills[-1][2]:.1f} s")
        done = await burst
    finally:
        if not burst.done():
            burst.cancel()
            await asyncio.gather(burst, return_exceptions=True)
    return done, kills


async def _check(cluster: Cluster, js: JetStreamContext, done: list[tuple[str, bool, int]], batches: int) -> None:
    settings = cluster.stack.settings
    assert len({batch_id for batch_id, _, _ in done}) == batches
    kv = await js.key_value(settings.slot_bucket)
    content = ContentStore(js, settings.content_bucket, replicas=CLUSTER_REPLICAS)
    for batch_id, regular, essays in done:
        history = await transitions(cluster.clients[0], batch_id)
        assert history == (REGULAR_PATH if regular else GUEST_PATH), f"every transition once: {batch_id}"
        tracker = slots.from_json((await kv.get(tracker_key(batch_id))).value or b"")
        bound = [slot for slot in tracker.slots if slot.text_storage_id]
        assert len(bound) == len(tracker.slots) == essays, f"every slot bound: {batch_id}"
        assert len({slot.file_name for slot in bound}) == essays, f"no upload bound to two slots: {batch_id}"
        assert not tracker.excess and not tracker.excess_dropped, f"no upload left over: {batch_id}"
        for slot in bound:  # no essay text lost: each stored text readable (and its hash checked)
            assert (await content.get(slot.text_storage_id)).startswith("Namn: ")


async def _everything_at_r3(cluster: Cluster, js: JetStreamContext) -> None:
    for what, stream in _assets(cluster).items():
        info = await js.stream_info(stream)
        assert info.config.num_replicas == CLUSTER_REPLICAS, (what, info.config.num_replicas)
        assert info.cluster is not None and len(info.cluster.replicas or []) == CLUSTER_REPLICAS - 1, what


async def test_burst_survives_kill_9_of_the_events_stream_leader(cluster: Cluster) -> None:
    client = await _connect(cluster)
    try:
        js = client.jetstream(timeout=5)
        await _everything_at_r3(cluster, js)
        batches = 20
        done, kills = await _kill_leader_mid_burst(cluster, js, [cluster.stack.settings.stream_name], batches)
        await _check(cluster, js, done, batches)
        assert len(kills) == 1
        # The restarted node also caught up on everything else it holds a copy of.
        for stream in _assets(cluster).values():
            await _caught_up(js, stream, kills[0][1])
    finally:
        await client.close()


@pytest.mark.cluster
@pytest.mark.timeout(900)
async def test_long_burst_survives_kill_9_of_each_leader_in_turn(cluster: Cluster) -> None:
    client = await _connect(cluster)
    try:
        js = client.jetstream(timeout=5)
        assets = _assets(cluster)
        streams = [assets["events"], assets["slot bucket"], assets["content store"]]
        batches = 40
        # Batches starting over about 60 s: each kill, restart and catch-up (10 to 15 s) comes
        # while uploads are still arriving.
        done, kills = await _kill_leader_mid_burst(cluster, js, streams, batches, stagger_s=1.5)
        await _check(cluster, js, done, batches)
        assert [stream for stream, _, _ in kills] == streams
        for _, server, _ in kills:
            for stream in assets.values():
                await _caught_up(js, stream, server)
    finally:
        await client.close()


async def test_buckets_made_with_one_replica_get_three_when_opened_with_three(cluster: Cluster) -> None:
    client = await _connect(cluster)
    suffix = uuid.uuid4().hex[:8]
    try:
        js = client.jetstream(timeout=5)
        await open_slot_bucket(js, f"slots_{suffix}")  # an installation from before the cluster
        await ContentStore(js, f"content_{suffix}").ensure()
        for stream in (f"KV_slots_{suffix}", f"OBJ_content_{suffix}"):
            assert (await js.stream_info(stream)).config.num_replicas == 1

        await open_slot_bucket(js, f"slots_{suffix}", replicas=CLUSTER_REPLICAS)  # ELS's next start
        await ContentStore(js, f"content_{suffix}", replicas=CLUSTER_REPLICAS).ensure()
        await ContentStore(js, f"content_{suffix}").ensure()  # a reader changes nothing
        for stream in (f"KV_slots_{suffix}", f"OBJ_content_{suffix}"):
            assert (await js.stream_info(stream)).config.num_replicas == CLUSTER_REPLICAS
            await js.delete_stream(stream)
    finally:
        await client.close()
