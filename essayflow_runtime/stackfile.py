"""The running stack's address book: ``<data dir>/stack.json`` and the lock beside it.

``make run`` (``essayflow stack up``) holds ``<data dir>/stack.lock`` (``fcntl.flock``) for
as long as it runs, so one data directory has at most one supervisor, and writes
``stack.json`` once every service answers SERVING: its pid, the four gRPC endpoints, NATS,
PostgreSQL (never a password: userinfo other than the user name is dropped), the metrics
endpoints and the pids of the processes it started. The one configuration loader
(:func:`essayflow_runtime.config.load_settings`) reads it as its lowest-precedence source,
so a command run beside ``make run`` finds the stack with nothing set.

This module imports nothing of essayflow: the configuration loader depends on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

STACK_FILE = "stack.json"
LOCK_FILE = "stack.lock"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def without_secret(url: str) -> str:
    """``url`` without credentials, so it can be written down and shown: a PostgreSQL URL keeps
    its user name (no secret) and loses the password; any other URL loses its userinfo (a NATS
    URL may carry a token there). Several comma-separated URLs (a NATS cluster) each lose theirs."""
    if "," in url and all("://" in part for part in url.split(",")):
        return ",".join(without_secret(part) for part in url.split(","))
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host_port = parts.netloc.rpartition("@")[2]
    keep_user = parts.scheme.startswith("postgres") and parts.username
    netloc = f"{parts.username}@{host_port}" if keep_user else host_port
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def read(data_dir: Path) -> dict[str, Any] | None:
    """The stack file of a supervisor that is still alive, else None (none, stale, unreadable)."""
    try:
        recorded = json.loads((data_dir / STACK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or not pid_alive(int(recorded.get("pid", 0) or 0)):
        return None
    return recorded


def write(data_dir: Path, recorded: dict[str, Any]) -> Path:
    """Write the stack file atomically (readers never see half of it)."""
    path = data_dir / STACK_FILE
    partial = data_dir / f".{STACK_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(recorded, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def remove(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / STACK_FILE).unlink()


def settings_from(recorded: dict[str, Any]) -> dict[str, Any]:
    """The settings a stack file provides (field name → value)."""
    values: dict[str, Any] = {}
    for service in ("bos", "els", "cms", "nlp"):
        address = recorded.get(service)
        if isinstance(address, str) and ":" in address:
            host, _, port = address.rpartition(":")
            values["host"] = host
            values[f"{service}_port"] = int(port)
    if isinstance(recorded.get("cms"), str):
        values["cms_address"] = recorded["cms"]
    for key in ("nats_url", "database_url"):
        if isinstance(recorded.get(key), str) and recorded[key]:
            values[key] = recorded[key]
    if isinstance(recorded.get("metrics_base_port"), int):
        values["metrics_base_port"] = recorded["metrics_base_port"]
    return values


def lock_holder(data_dir: Path) -> int:
    """The pid written in the lock file when that process still runs (a supervisor starting
    or running), else 0. Reads only: it never takes the lock."""
    try:
        pid = int((data_dir / LOCK_FILE).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0
    return pid if pid_alive(pid) else 0


class StackLocked(Exception):
    """Another supervisor holds the data directory."""

    def __init__(self, data_dir: Path, holder_pid: int, recorded: dict[str, Any] | None) -> None:
        self.data_dir = data_dir
        self.holder_pid = holder_pid
        self.recorded = recorded
        super().__init__(describe_holder(data_dir, holder_pid, recorded))


def describe_holder(data_dir: Path, holder_pid: int, recorded: dict[str, Any] | None) -> str:
    who = f"pid {holder_pid}" if holder_pid else "another process"
    if recorded is None:
        return f"a stack is already starting on {data_dir} ({who}; no endpoints recorded yet)"
    endpoints = ", ".join(
        f"{name.upper()} {recorded[name]}" for name in ("bos", "els", "cms", "nlp") if name in recorded
    )
    return (
        f"a stack is already running on {data_dir} ({who}, since {recorded.get('started_at', '?')}): "
        f"{endpoints}, NATS {recorded.get('nats_url', '?')}, PostgreSQL {recorded.get('database_url', '?')}"
    )


@dataclass
class DataDirLock:
    """``flock`` on ``<data dir>/stack.lock``, held until :meth:`release` or the process ends.
    The file holds the holder's pid, for the message a second supervisor prints."""

    data_dir: Path
    fd: int = -1

    def acquire(self) -> DataDirLock:
        """Take the lock or raise :class:`StackLocked`; writes nothing else in the directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = int(os.read(fd, 32).decode().strip() or 0)
            except ValueError:
                holder = 0
            os.close(fd)
            raise StackLocked(self.data_dir, holder, read(self.data_dir)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    @property
    def held(self) -> bool:
        return self.fd >= 0

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)  # closing the only descriptor releases the flock
        self.fd = -1
