"""`make run` as an operator meets it: the supervisor (`essayflow stack up`) as a process of
its own on a data directory of its own and free ports, and the commands beside it run with
no ESSAYFLOW_* variable at all (they find the stack through `<data dir>/stack.json`).

In order: the banner comes only once every service is SERVING; `make demo` passes against
it; `events tail --limit` stops at its limit; a second supervisor on the same data
directory refuses, names the first and touches nothing; streaming RPCs are counted apart
from the latency histogram; Ctrl-C stops the services, then NATS, then PostgreSQL, and
leaves no process behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow_cli.client import Clients
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import free_port
from essayflow_runtime.grpc_client import is_serving

pytestmark = pytest.mark.e2e

SERVICES = ("bos", "els", "cms", "nlp")
BANNER = "essayflow is running"


def _free_run(count: int) -> int:
    """The first of ``count`` consecutive free ports."""
    for _ in range(200):
        base = free_port()
        if base + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in range(base, base + count):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no {count} consecutive free ports")


def _plain_environment() -> dict[str, str]:
    """This environment without a single ESSAYFLOW_* variable: what a new terminal has."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ESSAYFLOW_")}


@dataclass
class Supervisor:
    workdir: Path
    env: dict[str, str]
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @property
    def data_dir(self) -> Path:
        return self.workdir / ".data"

    def start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "essayflow_cli.main", "stack", "up"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, like a shell's foreground job: a terminal's Ctrl-C goes
            # to that group, which killpg below reproduces.
            start_new_session=True,
        )
        assert process.stdout is not None
        out = process.stdout
        self.process = process
        self._reader = threading.Thread(target=lambda: self.lines.extend(iter(out.readline, "")), daemon=True)
        self._reader.start()
        return process

    def output(self) -> str:
        return "".join(self.lines)

    def final_output(self, timeout_s: float = 15) -> str:
        """Everything it printed, once it has exited: the reader is done at the end of the pipe."""
        assert self.process is not None and self.process.poll() is not None
        if self._reader is not None:
            self._reader.join(timeout_s)
        return self.output()

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            assert self.process is not None
            if self.process.poll() is not None:
                if text in self.final_output():
                    return
                raise AssertionError(f"the supervisor exited ({self.process.returncode}):\n{self.output()[-6000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout_s:.0f} s:\n{self.output()[-6000:]}")
            time.sleep(0.2)

    def recorded(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.data_dir / "stack.json").read_text())
        return loaded

    def settings(self) -> Settings:
        """What a command run in the working directory with nothing set gets."""
        return load_settings({}, discover=True, data_dir=str(self.data_dir))


def cli(workdir: Path, *args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """`essayflow ARGS` in a fresh terminal beside the stack: no ESSAYFLOW_* variable."""
    return subprocess.run(
        [sys.executable, "-m", "essayflow_cli.main", *args],
        cwd=workdir,
        env=_plain_environment(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False  # a zombie: exited, not yet reaped by its parent
    return True


def _group_members(groups: set[int]) -> list[int]:
    """Live processes whose process group is one of ``groups`` (a service's matcher workers too)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) in groups:
                members.append(int(stat.parent.name))
    return members


@contextlib.contextmanager
def launched() -> Iterator[Supervisor]:
    """A supervisor on a data directory of its own and free ports; whatever it started is
    stopped afterwards, by pid."""
    # Outside pytest's 0700 temp dir: the postgres user (tests as root) must traverse it.
    workdir = Path(tempfile.mkdtemp(prefix="essayflow-run-"))
    metrics_base = _free_run(4)
    env = {
        **_plain_environment(),
        "ESSAYFLOW_BOS_PORT": str(free_port()),
        "ESSAYFLOW_ELS_PORT": str(free_port()),
        "ESSAYFLOW_CMS_PORT": str(free_port()),
        "ESSAYFLOW_NLP_PORT": str(free_port()),
        "ESSAYFLOW_METRICS_BASE_PORT": str(metrics_base),
        "ESSAYFLOW_POSTGRES_PORT": str(free_port()),
        "ESSAYFLOW_NATS_PORT": str(free_port()),
        "ESSAYFLOW_LOG_LEVEL": "WARNING",
    }
    running = Supervisor(workdir, env)
    running.start()
    started: dict[str, int] = {}
    try:
        yield running
    finally:
        with contextlib.suppress(OSError, ValueError):
            started = dict(running.recorded().get("processes", {}))
        process = running.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid in started.values():  # only what this stack started, by pid
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def supervisor() -> Iterator[Supervisor]:
    with launched() as running:
        yield running


def test_the_banner_comes_once_every_service_serves_and_records_the_endpoints(supervisor: Supervisor) -> None:
    supervisor.wait_for(BANNER, timeout_s=120)
    output = supervisor.output()
    banner_at = output.index(BANNER)
    for name in SERVICES:
        served = re.search(rf"^{name}\s*\| {name} serving on ", output, re.MULTILINE)
        assert served is not None and served.start() < banner_at, f"{name} did not serve before the banner"

    recorded = supervisor.recorded()
    assert supervisor.process is not None and recorded["pid"] == supervisor.process.pid
    env = supervisor.env
    for name in SERVICES:
        assert recorded[name] == f"127.0.0.1:{env[f'ESSAYFLOW_{name.upper()}_PORT']}"
    assert recorded["nats_url"] == f"nats://127.0.0.1:{env['ESSAYFLOW_NATS_PORT']}"
    assert recorded["database_url"] == f"postgresql://postgres@127.0.0.1:{env['ESSAYFLOW_POSTGRES_PORT']}/postgres"
    assert set(recorded["processes"]) == {*SERVICES, "nats-server", "postgres"}

    status = cli(supervisor.workdir, "stack", "status", "--output", "json")
    assert status.returncode == 0 and json.loads(status.stdout) == recorded, status.stderr
    settings = supervisor.settings()
    assert (settings.bos_port, settings.nats_url) == (int(env["ESSAYFLOW_BOS_PORT"]), recorded["nats_url"])
    for name in SERVICES:
        assert asyncio.run(is_serving(settings, f"127.0.0.1:{getattr(settings, f'{name}_port')}"))


def test_the_demo_passes_with_nothing_set(supervisor: Supervisor) -> None:
    supervisor.wait_for(BANNER, timeout_s=120)
    demo = cli(supervisor.workdir, "demo", timeout_s=120)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert "no stack running" not in demo.stdout, "the demo started a stack of its own"
    assert "demo finished: both batches reached PROCESSING_PIPELINES" in demo.stdout

    async def demo_batches() -> list[list[int]]:
        settings = supervisor.settings()
        admin = Clients(settings, mint_token(settings, "admin-check", Role.ADMIN))
        try:
            listed = await admin.bos.ListBatches(bos_pb2.ListBatchesRequest(), metadata=admin.metadata)
            paths = []
            for batch in listed.batches:
                if batch.title.startswith("Demo "):
                    history = await admin.bos.ListBatchTransitions(
                        bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), metadata=admin.metadata
                    )
                    paths.append([t.to_status for t in history.transitions])
            return paths
        finally:
            await admin.close()

    paths = asyncio.run(demo_batches())
    assert len(paths) == 2, paths  # the REGULAR and the GUEST batch
    for path in paths:
        assert common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION in path
        assert path[-1] == common_pb2.BATCH_STATUS_PROCESSING_PIPELINES


def test_events_tail_stops_at_its_limit(supervisor: Supervisor) -> None:
    supervisor.wait_for(BANNER, timeout_s=120)
    tail = subprocess.Popen(
        [sys.executable, "-m", "essayflow_cli.main", "events", "tail", "--limit", "2"],
        cwd=supervisor.workdir,
        env=_plain_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert tail.stderr is not None
        waiting = tail.stderr.readline()
        assert "waiting for events" in waiting, waiting
        for _ in range(3):  # each registration is at least one event
            registered = cli(supervisor.workdir, "batch", "register", "--count", "1", "--course", "ENG5")
            assert registered.returncode == 0, registered.stderr
        out, err = tail.communicate(timeout=30)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
    assert tail.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 2, out
    assert all(e["event_type"].startswith("essayflow.events.v1.") for e in events)
    assert "Traceback" not in err


def test_a_second_run_refuses_names_the_first_and_touches_nothing(supervisor: Supervisor) -> None:
    supervisor.wait_for(BANNER, timeout_s=120)
    before = supervisor.recorded()
    assert supervisor.process is not None
    second = subprocess.run(
        [sys.executable, "-m", "essayflow_cli.main", "stack", "up"],
        cwd=supervisor.workdir,
        env=supervisor.env,  # the same data directory and the same ports: a second `make run`
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1, second.stdout + second.stderr
    said = second.stdout + second.stderr
    assert f"pid {supervisor.process.pid}" in said and str(before["bos"]) in said, said
    assert BANNER not in said

    assert supervisor.recorded() == before
    processes: dict[str, int] = before["processes"]
    assert all(_alive(pid) for pid in processes.values()), "the second run stopped something"
    settings = supervisor.settings()
    for name in SERVICES:
        assert asyncio.run(is_serving(settings, f"127.0.0.1:{getattr(settings, f'{name}_port')}"))

    async def database_works() -> int:
        conn = await asyncpg.connect(str(before["database_url"]))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity"))
        finally:
            await conn.close()

    assert asyncio.run(database_works()) > 0
    listed = cli(supervisor.workdir, "batch", "list", "--role", "admin", "--output", "json")
    assert listed.returncode == 0, listed.stderr  # through BOS, which reads its database
    assert len(json.loads(listed.stdout)) >= 2

    reset = cli(supervisor.workdir, "stack", "reset", "--yes")
    assert reset.returncode == 1 and "refused" in reset.stderr, reset.stdout + reset.stderr
    assert (supervisor.data_dir / "postgres").exists() and supervisor.recorded() == before


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def _families(served: str) -> set[str]:
    """The essayflow metric families in an exposition (counters without ``_total``)."""
    names = re.findall(r"^# TYPE (essayflow_\w+)", served, re.MULTILINE)
    return {name.removesuffix("_total") for name in names if not name.endswith("_created")}


def test_streams_are_counted_apart_and_each_service_serves_its_own_families(supervisor: Supervisor) -> None:
    supervisor.wait_for(BANNER, timeout_s=120)
    settings = supervisor.settings()
    bos_metrics = f"http://127.0.0.1:{settings.metrics_base_port}/metrics"

    async def watch_once() -> str:
        teacher = Clients(settings, mint_token(settings, "teacher-watch", Role.TEACHER))
        try:
            batch = await teacher.register_batch(1, common_pb2.COURSE_CODE_ENG5)
            call = teacher.bos.WatchBatch(bos_pb2.WatchBatchRequest(batch_id=batch.batch_id), metadata=teacher.metadata)
            await call.read()
            during = await asyncio.to_thread(_metrics, bos_metrics)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await call.read()
            return during
        finally:
            await teacher.close()

    during = asyncio.run(watch_once())
    assert 'essayflow_rpc_streams_open{method="WatchBatch",service="bos"} 1.0' in during
    deadline = time.monotonic() + 10
    while 'essayflow_rpc_streams_total{code="CANCELLED",method="WatchBatch",service="bos"} 1.0' not in (
        after := _metrics(bos_metrics)
    ):
        assert time.monotonic() < deadline, after
        time.sleep(0.2)
    assert 'method="WatchBatch"' not in "".join(
        line for line in after.splitlines(keepends=True) if line.startswith("essayflow_rpc_duration_seconds")
    ), "a stream is in the latency histogram"
    assert re.search(r'essayflow_build_info\{revision="[^"]+",service="bos",version="[^"]+"\} 1.0', after)

    families = {
        name: _families(_metrics(f"http://127.0.0.1:{settings.metrics_base_port + offset}/metrics"))
        for offset, name in enumerate(SERVICES)
    }
    assert "essayflow_batch_transitions" in families["bos"]
    assert "essayflow_outbox_backlog" in families["cms"]
    assert "essayflow_matcher_suggestions" in families["nlp"]
    assert "essayflow_els_excess_uploads_dropped" in families["els"]
    for other in ("els", "cms", "nlp"):
        assert "essayflow_batch_transitions" not in families[other]
        assert "essayflow_watch_streams" not in families[other]
    for other in ("bos", "els", "cms"):
        assert "essayflow_matcher_suggestions" not in families[other]
    for name in SERVICES:
        assert {"essayflow_consumer_pending", "essayflow_consumer_ack_pending", "essayflow_consumer_redelivered"} <= (
            families[name]
        )


def test_ctrl_c_stops_the_services_then_nats_then_postgres_and_leaves_nothing(supervisor: Supervisor) -> None:
    supervisor.wait_for(BANNER, timeout_s=120)
    process = supervisor.process
    assert process is not None
    processes: dict[str, int] = supervisor.recorded()["processes"]
    service_groups = {processes[name] for name in SERVICES}

    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
    assert process.wait(timeout=60) == 0, supervisor.output()[-6000:]
    output = supervisor.final_output()
    marks = [
        output.index("stopping the services"),
        *(output.index(f"  {name} stopped (exit 0)") for name in SERVICES),
        output.index("stopping NATS"),
        output.index("stopping PostgreSQL"),
        output.index("stopped.\n"),
    ]
    assert marks[0] < min(marks[1:5]) and max(marks[1:5]) < marks[5] < marks[6] < marks[7], output[-3000:]
    assert "Traceback" not in output[output.index("stopping essayflow") :], "the stop was not clean"

    deadline = time.monotonic() + 5  # a process that has just exited is reaped in a moment
    while True:
        left = {name: pid for name, pid in processes.items() if _alive(pid)}
        stragglers = _group_members(service_groups)
        if (not left and not stragglers) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"still running after the stop: {left}"
    assert not stragglers, f"a service's child process outlived it: {stragglers}"
    assert not (supervisor.data_dir / "stack.json").exists()
    status = cli(supervisor.workdir, "stack", "status")
    assert status.returncode == 3 and "no stack running" in status.stderr, status.stdout + status.stderr


def test_what_a_killed_supervisor_left_running_the_next_run_stops_first() -> None:
    with launched() as first:
        first.wait_for(BANNER, timeout_s=120)
        left: dict[str, int] = first.recorded()["processes"]
        assert first.process is not None
        first.process.kill()  # kill -9: no clean stop, stack.json stays
        first.process.wait()
        assert all(_alive(pid) for pid in left.values()), "its processes outlive it"

        again = Supervisor(first.workdir, first.env)
        again.start()
        try:
            again.wait_for(BANNER, timeout_s=120)
            assert "left running by a stack that did not stop cleanly" in again.output()
            assert not [name for name, pid in left.items() if _alive(pid)], "a leftover is still running"
            settings = again.settings()
            assert again.process is not None and again.recorded()["pid"] == again.process.pid
            assert asyncio.run(is_serving(settings, f"127.0.0.1:{settings.bos_port}"))
        finally:
            first.process = again.process  # launched() stops this one, and what it recorded
            first.lines = again.lines


def test_a_port_in_use_is_one_line_before_anything_starts() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="essayflow-run-"))
    try:
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]
            env = {**_plain_environment(), "ESSAYFLOW_BOS_PORT": str(port), "ESSAYFLOW_METRICS_ENABLED": "0"}
            refused = subprocess.run(
                [sys.executable, "-m", "essayflow_cli.main", "stack", "up"],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"BOS 127.0.0.1:{port} in use" in refused.stderr and "Traceback" not in refused.stderr
        assert not (workdir / ".data" / "postgres").exists(), "it started something"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
