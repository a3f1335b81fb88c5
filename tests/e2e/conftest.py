"""The real stack for end-to-end tests: four service processes (``python -m
services.<svc>.main``) over real PostgreSQL and a nats-server of the module's own,
each on free ports, talked to only through their public RPCs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from essayflow_cli.client import Clients
from essayflow_cli.stack import CLUSTER_REGISTRATION_WAIT_S, SERVICES, Stack
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import EmbeddedNats, EmbeddedNatsCluster, Infrastructure, free_port
from essayflow_runtime.grpc_client import wait_until_serving


class LogBuffer(io.StringIO):
    """Collects the services' interleaved logs (shown when the stack does not come up)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)


@dataclass
class E2EStack:
    stack: Stack
    settings: Settings
    env: dict[str, str]
    single_nats: EmbeddedNats | None
    logs: LogBuffer
    ports: dict[str, list[int]]
    # The three-node JetStream cluster, in place of the single nats-server (launch_stack(cluster=True)).
    cluster: EmbeddedNatsCluster | None = None

    @property
    def nats(self) -> EmbeddedNats:
        """The single nats-server (a stack launched on a cluster has none)."""
        assert self.single_nats is not None, "this stack runs on a NATS cluster"
        return self.single_nats

    def key(self, name: str, replica: int = 0) -> str:
        return name if replica == 0 else f"{name}{replica + 1}"

    def start(self, name: str, replica: int = 0) -> None:
        env = {**self.env, f"ESSAYFLOW_{name.upper()}_PORT": str(self.ports[name][replica])}
        self.stack.start_service(name, env, out=self.logs, key=self.key(name, replica))

    def kill(self, name: str, replica: int = 0) -> None:
        """kill -9: no drain, no goodbye."""
        process = self.stack.processes[self.key(name, replica)]
        process.kill()
        process.wait()

    def ensure_running(self) -> None:
        """Restart any service a previous test killed and left down."""
        for name in SERVICES:
            for replica in range(len(self.ports[name])):
                process = self.stack.processes.get(self.key(name, replica))
                if process is None or process.poll() is not None:
                    self.start(name, replica)

    async def wait_serving(self, names: tuple[str, ...] = SERVICES, timeout_s: float = 60) -> None:
        addresses = [f"127.0.0.1:{port}" for name in names for port in self.ports[name]]
        try:
            await wait_until_serving(self.settings, addresses, timeout_s)
        except TimeoutError as error:
            raise AssertionError(f"{error}; logs:\n{self.logs.getvalue()[-4000:]}") from error

    def clients(self, user: str, role: Role = Role.TEACHER) -> Clients:
        return Clients(self.settings, mint_token(self.settings, user, role))


# Streams, buckets and the object store on a cluster: a copy on each of the three nodes.
CLUSTER_REPLICAS = 3


@contextlib.contextmanager
def launch_stack(
    postgres_server_url: str,
    nats_dir: Path,
    replicas: int = 1,
    extra_env: Mapping[str, str] | None = None,
    *,
    cluster: bool = False,
) -> Iterator[E2EStack]:
    """``cluster``: NATS is a three-node JetStream cluster (every stream, bucket and store at
    R3, the services given all three servers) instead of one nats-server."""
    from tests.conftest import _create_database, _drop_database, _record_history

    database_url = _create_database(postgres_server_url)
    nats: EmbeddedNats | None = None
    nats_cluster: EmbeddedNatsCluster | None = None
    try:
        if cluster:
            nats_cluster = EmbeddedNatsCluster(nats_dir).start()
            nats_url, stream_replicas = nats_cluster.url, CLUSTER_REPLICAS
        else:
            nats = EmbeddedNats(nats_dir).start()
            nats_url, stream_replicas = nats.url, 1
        # The tests read events after their consumers took them.
        asyncio.run(_record_history(nats_url, stream_replicas=stream_replicas))
    except BaseException:
        if nats_cluster is not None:
            nats_cluster.stop()
        if nats is not None:
            nats.stop()
        _drop_database(postgres_server_url, database_url)
        raise
    ports = {name: [free_port() for _ in range(replicas)] for name in SERVICES}
    env = {
        "ESSAYFLOW_DATABASE_URL": database_url,
        "ESSAYFLOW_NATS_URL": nats_url,
        "ESSAYFLOW_STREAM_REPLICAS": str(stream_replicas),
        "ESSAYFLOW_METRICS_ENABLED": "0",
        "ESSAYFLOW_CMS_ADDRESS": f"127.0.0.1:{ports['cms'][0]}",
        "ESSAYFLOW_REDELIVERY_BACKOFF_S": "0.1,0.2,0.5",
        "ESSAYFLOW_TRANSIENT_BACKOFF_INITIAL_S": "0.1",
        "ESSAYFLOW_TRANSIENT_BACKOFF_MAX_S": "1.0",
        "ESSAYFLOW_OUTBOX_POLL_INTERVAL_S": "0.2",
        "ESSAYFLOW_DEADLINE_SWEEP_INTERVAL_S": "0.5",
        "ESSAYFLOW_LOG_LEVEL": "WARNING",
        **{f"ESSAYFLOW_{name.upper()}_PORT": str(p[0]) for name, p in ports.items()},
        # A registration published during a leader election reaches ELS only once the new
        # leader is elected (seconds): a teacher's upload right after it waits that long.
        **({"ESSAYFLOW_REGISTRATION_WAIT_S": str(CLUSTER_REGISTRATION_WAIT_S)} if cluster else {}),
        **(extra_env or {}),
    }
    settings = load_settings(env)
    stack = Stack(settings=settings, infra=Infrastructure(database_url, nats_url))
    e2e = E2EStack(stack, settings, env, nats, LogBuffer(), ports, nats_cluster)
    try:
        for name in SERVICES:
            for replica in range(replicas):
                e2e.start(name, replica)
        yield e2e
    finally:
        stack.stop_services()
        if nats is not None:
            nats.stop()
        if nats_cluster is not None:
            nats_cluster.stop()
        _drop_database(postgres_server_url, database_url)


@pytest.fixture(scope="module")
def e2e_stack(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    with launch_stack(postgres_server_url, tmp_path_factory.mktemp("e2e-nats")) as stack:
        yield stack


@pytest.fixture
async def stack_ready(e2e_stack: E2EStack) -> AsyncIterator[E2EStack]:
    if not e2e_stack.nats.running:
        e2e_stack.nats.start()
    e2e_stack.ensure_running()
    await e2e_stack.wait_serving()
    yield e2e_stack


ROOT = Path(__file__).resolve().parents[2]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the services' logs to a failing e2e test's report."""
    report: pytest.TestReport = yield
    if report.failed and call.when == "call":
        for name in ("stack_ready", "replicated_stack", "faults_ready", "failover_ready"):
            stack = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if not isinstance(stack, E2EStack):
                stack = getattr(stack, "stack", None)  # a fixture that wraps the stack
            if isinstance(stack, E2EStack):
                report.sections.append(("service logs", stack.logs.getvalue()[-30000:]))
    return report
