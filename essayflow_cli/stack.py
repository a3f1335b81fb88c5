"""The supervisor behind ``make run``: infrastructure, migrations, and the four
service processes with their logs interleaved under a service prefix.

One supervisor per data directory: it holds ``<data dir>/stack.lock`` for its whole life,
and a second one refuses, naming the first, before it touches anything. The banner comes
once every service answers SERVING, together with ``<data dir>/stack.json`` (its endpoints,
read by every command's configuration loader). Ctrl-C or SIGTERM stops the services first
(each drains its in-flight calls), then NATS, then PostgreSQL. Every process it starts runs
in a process group of its own, so a terminal's Ctrl-C reaches only the supervisor, which
stops them in that order. A second run reuses the data; ``essayflow stack reset`` deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from essayflow_cli.output import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE
from essayflow_runtime import migrations, stackfile
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import EmbeddedPostgres, Infrastructure, start_infrastructure
from essayflow_runtime.grpc_client import is_serving
from essayflow_runtime.metrics import build_revision
from essayflow_runtime.stackfile import DataDirLock, StackLocked

SERVICES = ("cms", "bos", "els", "nlp")
PREFIX_WIDTH = 6
SERVING_TIMEOUT_S = 120.0
# How long ELS waits for a batch registered a moment ago when NATS is a cluster: a registration
# published while a stream elects its leader arrives once the election is over (seconds).
CLUSTER_REGISTRATION_WAIT_S = 30.0


def _say(line: str) -> None:
    print(line, flush=True)


@dataclass
class Stack:
    settings: Settings
    infra: Infrastructure
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _pumps: list[threading.Thread] = field(default_factory=list)
    # Held by a stack this process started on a data directory (make run, make demo).
    lock: DataDirLock | None = None

    def environment(self) -> dict[str, str]:
        """The services' environment: this one's, with every endpoint spelled out (a service
        never reads the stack file)."""
        settings = self.settings
        env = dict(os.environ)
        env["ESSAYFLOW_DATABASE_URL"] = self.infra.database_url
        env["ESSAYFLOW_NATS_URL"] = self.infra.nats_url
        if self.infra.cluster is not None:
            # Every stream, bucket and store with a copy on each node; uploads wait out an election.
            env.setdefault("ESSAYFLOW_STREAM_REPLICAS", str(self.infra.cluster.size))
            env.setdefault("ESSAYFLOW_REGISTRATION_WAIT_S", str(CLUSTER_REGISTRATION_WAIT_S))
        env["ESSAYFLOW_HOST"] = settings.host
        for name in SERVICES:
            env[f"ESSAYFLOW_{name.upper()}_PORT"] = str(getattr(settings, f"{name}_port"))
        env.setdefault("ESSAYFLOW_CMS_ADDRESS", f"{settings.host}:{settings.cms_port}")
        env["ESSAYFLOW_METRICS_BASE_PORT"] = str(settings.metrics_base_port)
        env.setdefault("ESSAYFLOW_BUILD_REVISION", build_revision())
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start_service(
        self, name: str, extra_env: dict[str, str] | None = None, out: IO[str] | None = None, *, key: str = ""
    ) -> None:
        """Start ``python -m services.<name>.main``; ``key`` names a second replica."""
        env = {**self.environment(), **(extra_env or {})}
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}.main"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # A process group of its own (its matcher workers too): a terminal's Ctrl-C reaches
            # only the supervisor, which stops the services in order.
            process_group=0,
        )
        self.processes[key or name] = process
        pump = threading.Thread(target=_pump, args=(key or name, process, out or sys.stdout), daemon=True)
        pump.start()
        self._pumps.append(pump)

    def stop_services(
        self, names: Iterable[str] | None = None, timeout_s: float = 15, announce: Callable[[str], None] | None = None
    ) -> None:
        """SIGTERM (each service drains), wait, and kill only what did not stop in time."""
        chosen = [n for n in (names or list(self.processes)) if n in self.processes]
        for name in chosen:
            if self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name in chosen:
            process = self.processes[name]
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
                if announce:
                    announce(f"  {name} stopped (exit {process.returncode})")
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                if announce:
                    announce(f"  {name} did not stop within {timeout_s:.0f} s: killed")
        for pump in self._pumps:  # their last lines come before what follows
            pump.join(timeout=2)

    def wait_until_serving(self, stopping: threading.Event, timeout_s: float = SERVING_TIMEOUT_S) -> str | None:
        """Wait until every service answers its health check SERVING; the reason if not."""
        host = self.settings.host
        pending = {name: f"{host}:{getattr(self.settings, f'{name}_port')}" for name in self.processes}
        deadline = time.monotonic() + timeout_s

        async def check() -> str | None:
            while pending:
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        return f"{name} exited with {process.returncode} before it served"
                if stopping.is_set():
                    return "interrupted"
                if time.monotonic() > deadline:
                    return f"not SERVING after {timeout_s:.0f} s: {', '.join(sorted(pending))}"
                for name in list(pending):
                    if await is_serving(self.settings, pending[name], timeout_s=0.5):
                        del pending[name]
                await asyncio.sleep(0.2)
            return None

        return asyncio.run(check())

    def record(self, data_dir: Path) -> Path:
        """Write ``<data dir>/stack.json``: where everything is and which processes it started."""
        settings, host = self.settings, self.settings.host
        processes: dict[str, int] = {name: process.pid for name, process in self.processes.items()}
        if self.infra.nats is not None and self.infra.nats.process is not None:
            processes["nats-server"] = self.infra.nats.process.pid
        if self.infra.cluster is not None:
            for node in range(self.infra.cluster.size):
                pid = self.infra.cluster.pid(node)
                if pid is not None:
                    processes[f"nats-server-{self.infra.cluster.server_name(node)}"] = pid
        if self.infra.postgres is not None and self.infra.postgres.pid is not None:
            processes["postgres"] = self.infra.postgres.pid
        recorded: dict[str, Any] = {
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{name: f"{host}:{getattr(settings, f'{name}_port')}" for name in SERVICES},
            "nats_url": stackfile.without_secret(self.infra.nats_url),
            "database_url": stackfile.without_secret(self.infra.database_url),
            "processes": processes,
        }
        if settings.metrics_enabled:
            recorded["metrics_base_port"] = settings.metrics_base_port
            recorded["metrics"] = {
                name: f"http://{host}:{settings.metrics_base_port + offset}/metrics"
                for offset, name in enumerate(("bos", "els", "cms", "nlp"))
            }
        return stackfile.write(data_dir, recorded)

    def stop(self, announce: Callable[[str], None] | None = None) -> None:
        """The services first (they drain over NATS and PostgreSQL), then NATS, then PostgreSQL."""
        say = announce or (lambda _line: None)
        if self.lock is not None:
            stackfile.remove(self.lock.data_dir)  # no command finds a stack that is going away
        say("stopping the services (each drains its in-flight calls) ...")
        self.stop_services(announce=announce)
        if self.infra.nats is not None and self.infra.nats.running:
            say(f"stopping NATS (pid {self.infra.nats.process.pid if self.infra.nats.process else '?'}) ...")
            self.infra.nats.stop()
        if self.infra.cluster is not None:
            say(f"stopping the NATS cluster ({self.infra.cluster.size} nodes) ...")
            self.infra.cluster.stop()
        if self.infra.postgres is not None and self.infra.postgres.running:
            say(f"stopping PostgreSQL (pid {self.infra.postgres.pid}) ...")
            self.infra.postgres.stop()
        if self.lock is not None:
            self.lock.release()


class PortsInUse(Exception):
    """A port the stack needs is taken by something else."""


def _taken(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def ports_in_use(settings: Settings, data_dir: Path, *, nats_nodes: int = 1) -> list[str]:
    """The ports the stack would listen on that something already listens on."""
    wanted = {
        f"{name.upper()} {settings.host}:{getattr(settings, f'{name}_port')}": (
            settings.host,
            getattr(settings, f"{name}_port"),
        )
        for name in SERVICES
    }
    if settings.metrics_enabled:
        for offset, name in enumerate(("bos", "els", "cms", "nlp")):
            port = settings.metrics_base_port + offset
            wanted[f"{name} metrics {settings.host}:{port}"] = (settings.host, port)
    if not os.environ.get("ESSAYFLOW_NATS_URL"):
        for port in range(settings.nats_port, settings.nats_port + nats_nodes):
            wanted[f"NATS 127.0.0.1:{port}"] = ("127.0.0.1", port)
    # A PostgreSQL left by a killed run on this directory holds its port; its starter stops it.
    if (
        not os.environ.get("ESSAYFLOW_DATABASE_URL")
        and not (data_dir / "postgres" / "pgdata" / "postmaster.pid").exists()
    ):
        wanted[f"PostgreSQL 127.0.0.1:{settings.postgres_port}"] = ("127.0.0.1", settings.postgres_port)
    return [label for label, (host, port) in wanted.items() if _taken(host, port)]


def _leftover(pid: int, name: str) -> bool:
    """Whether ``pid`` still runs the process a stack file recorded under ``name``."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    marker = "nats-server" if name.startswith("nats-server") else f"services.{name}.main"
    return marker in command


def reap_leftovers(data_dir: Path, out: IO[str]) -> None:
    """Stop what a supervisor that was killed (no clean stop) left running on this data
    directory: the services and nats-server it recorded in stack.json. Runs under the lock,
    so none of them belongs to a live supervisor. (A leftover PostgreSQL is stopped by its
    starter, which owns its pid file.)"""
    try:
        recorded = json.loads((data_dir / stackfile.STACK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    left = {
        name: int(pid)
        for name, pid in (recorded.get("processes") or {}).items()
        if name != "postgres" and _leftover(int(pid), name)
    }
    # The services first (they drain over NATS), then nats-server.
    nats_servers = [n for n in left if n.startswith("nats-server")]
    for phase in ([n for n in left if n not in nats_servers], nats_servers):
        for name in phase:
            out.write(f"stopping {name} (pid {left[name]}), left running by a stack that did not stop cleanly\n")
            with contextlib.suppress(ProcessLookupError):
                os.kill(left[name], signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name in phase:
            while _leftover(left[name], name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _leftover(left[name], name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(left[name], signal.SIGKILL)
    stackfile.remove(data_dir)


def _pump(name: str, process: subprocess.Popen[bytes], out: IO[str]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        out.write(f"{name:<{PREFIX_WIDTH}}| {line}\n")
        out.flush()


def start_stack(
    data_root: Path | None = None,
    services: Iterable[str] = SERVICES,
    log: IO[str] | None = None,
    settings: Settings | None = None,
    *,
    cluster: bool = False,
) -> Stack:
    """Lock the data directory (:class:`StackLocked` when another stack holds it, before
    anything is touched), start PostgreSQL and NATS (or use the configured ones), migrate
    and start the services. The caller waits for SERVING (:meth:`Stack.wait_until_serving`).
    ``cluster``: the embedded NATS is a three-node JetStream cluster (client ports
    ``ESSAYFLOW_NATS_PORT`` to ``+2``, data in ``<data dir>/nats-cluster``), everything at R3."""
    settings = settings or load_settings(discover=False)
    data_dir = Path(settings.data_dir) if data_root is None else data_root
    lock = DataDirLock(data_dir).acquire()
    try:
        reap_leftovers(data_dir, log or sys.stdout)
        taken = ports_in_use(settings, data_dir, nats_nodes=3 if cluster else 1)
        if taken:
            raise PortsInUse(f"{', '.join(taken)} in use by another process (set other ports, see the README)")
        infra = start_infrastructure(
            data_dir, postgres_port=settings.postgres_port, nats_port=settings.nats_port, nats_cluster=cluster
        )
    except BaseException:
        lock.release()
        raise
    try:
        for service in migrations.SERVICES_WITH_DATABASE:
            migrations.upgrade(service, infra.database_url)
        stack = Stack(
            settings=load_settings(
                discover=False, data_dir=str(data_dir), database_url=infra.database_url, nats_url=infra.nats_url
            ),
            infra=infra,
            lock=lock,
        )
        for name in services:
            stack.start_service(name, out=log)
    except BaseException:
        infra.stop()
        lock.release()
        raise
    return stack


def _grpcurl() -> str:
    """How to run the grpcurl the dev dependencies install, from where we are."""
    binary = Path(sys.executable).parent / "grpcurl"
    if not binary.exists():
        return "grpcurl"
    relative = os.path.relpath(binary)
    return relative if not relative.startswith("..") else str(binary)


def banner(settings: Settings, stack_file: Path | None = None) -> str:
    token = mint_token(settings, "teacher-demo", Role.TEACHER)
    grpcurl = _grpcurl()
    metrics = (
        f"http://{settings.host}:{settings.metrics_base_port}..{settings.metrics_base_port + 3}/metrics"
        if settings.metrics_enabled
        else "off"
    )
    lines = [
        "",
        "essayflow is running (every service SERVING):",
        f"  BOS  {settings.host}:{settings.bos_port}   essayflow.bos.v1.BatchOrchestratorService",
        f"  ELS  {settings.host}:{settings.els_port}   essayflow.els.v1.EssayLifecycleService",
        f"  CMS  {settings.host}:{settings.cms_port}   essayflow.cms.v1.ClassManagementService",
        f"  NLP  {settings.host}:{settings.nlp_port}   essayflow.nlp.v1.StudentMatcherService",
        f"  PostgreSQL {stackfile.without_secret(settings.database_url)}",
        f"  NATS       {stackfile.without_secret(settings.nats_url)}",
        f"  metrics    {metrics}",
    ]
    if stack_file is not None:
        lines.append(f"  endpoints  {stack_file} (every essayflow command here finds the stack through it)")
    lines += [
        "",
        "A development token (teacher 'teacher-demo', 12 h):",
        f"  export ESSAYFLOW_TOKEN={token}",
        "Try:",
        f"  {grpcurl} -plaintext {settings.host}:{settings.bos_port} list",
        f'  {grpcurl} -plaintext -H "authorization: Bearer $ESSAYFLOW_TOKEN" {settings.host}:{settings.bos_port} '
        "essayflow.bos.v1.BatchOrchestratorService/ListBatches",
        "Ctrl-C stops everything: the services first, then NATS and PostgreSQL.",
        "",
    ]
    return "\n".join(lines)


def run_stack_forever(data_root: Path | None = None, *, cluster: bool = False) -> int:
    """``make run``. Exit 0 after a clean stop, 1 when another stack holds the data directory
    (nothing touched) or the stack did not come up. ``cluster``: NATS as a three-node cluster."""
    stopping = threading.Event()

    def on_signal(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    settings = load_settings(discover=False)
    data_dir = Path(settings.data_dir) if data_root is None else data_root
    try:
        stack = start_stack(data_dir, settings=settings, cluster=cluster)
    except StackLocked as locked:
        print(f"refused: {locked}", file=sys.stderr, flush=True)
        print(
            f"  stop it first (Ctrl-C in its terminal, or kill -INT {locked.holder_pid or '<pid>'}), "
            "or give this one another data directory (--data DIR)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_REFUSED
    except Exception as error:  # e.g. a port in use: one line, not a traceback
        print(f"essayflow did not start: {error}", file=sys.stderr, flush=True)
        return EXIT_REFUSED
    code = EXIT_OK
    try:
        problem = stack.wait_until_serving(stopping)
        if problem == "interrupted":
            return EXIT_OK
        if problem is not None:
            print(f"essayflow did not come up: {problem}", file=sys.stderr, flush=True)
            code = EXIT_REFUSED
            return code
        stack_file = stack.record(data_dir)
        _say(banner(stack.settings, stack_file))
        while not stopping.is_set():
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    _say(f"{name} exited with {process.returncode}; stopping the stack")
                    code = EXIT_REFUSED
                    stopping.set()
            stopping.wait(0.5)
    finally:
        _say("stopping essayflow ...")
        stack.stop(announce=_say)
        _say("stopped.")
    return code


def status(data_dir: Path, as_json: bool = False) -> int:
    """``essayflow stack status``: what ``stack.json`` says, or that no stack runs."""
    recorded = stackfile.read(data_dir)
    if recorded is None:
        starting = stackfile.lock_holder(data_dir)
        if starting:
            print(f"a stack is starting on {data_dir} (pid {starting}): not SERVING yet", file=sys.stderr)
        else:
            print(f"no stack running on {data_dir}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if as_json:
        print(json.dumps(recorded, indent=2))
        return EXIT_OK
    print(f"essayflow stack on {data_dir}: pid {recorded['pid']}, since {recorded.get('started_at', '?')}")
    for name in ("bos", "els", "cms", "nlp"):
        print(f"  {name.upper():<4} {recorded.get(name, '?')}")
    print(f"  NATS {recorded.get('nats_url', '?')}")
    print(f"  PostgreSQL {recorded.get('database_url', '?')}")
    for name, pid in (recorded.get("processes") or {}).items():
        print(f"  process {name}: pid {pid}")
    return EXIT_OK


def reset(data_dir: Path, *, yes: bool) -> int:
    """``essayflow stack reset``: delete the local stack's data (PostgreSQL, NATS, logs).

    Refuses while a stack runs on the directory (exit 1) and without ``--yes`` (exit 2,
    listing what would go)."""
    if not data_dir.is_dir():
        print(f"nothing to reset: {data_dir} does not exist")
        return EXIT_OK
    try:
        lock = DataDirLock(data_dir).acquire()
    except StackLocked as locked:
        print(f"refused: {locked}; stop it first", file=sys.stderr)
        return EXIT_REFUSED
    try:
        entries = sorted(p for p in data_dir.iterdir() if p.name != stackfile.LOCK_FILE)
        if not entries:
            print(f"nothing to reset: {data_dir} is empty")
            return EXIT_OK
        names = ", ".join(p.name for p in entries)
        if not yes:
            print(
                f"would delete everything in {data_dir} ({names}): every batch, class, essay and event of "
                "the local stack. Add --yes to delete it.",
                file=sys.stderr,
            )
            return EXIT_USAGE
        # What a supervisor that was killed left running still holds the files.
        reap_leftovers(data_dir, sys.stdout)
        leftover = EmbeddedPostgres(data_dir.resolve() / "postgres", port=0)
        if leftover.running:
            leftover.stop()
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        print(f"reset: deleted {names} in {data_dir}; the next make run starts empty")
        return EXIT_OK
    finally:
        lock.release()
