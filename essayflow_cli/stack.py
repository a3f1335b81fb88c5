"""The supervisor behind ``make run``: infrastructure, migrations, and the four
service processes with their logs interleaved under a service prefix.

Ctrl-C or SIGTERM stops the services (each drains its in-flight calls), then the
embedded servers it started. A second run reuses the data under ``.data/``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from essayflow_runtime import migrations
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import Infrastructure, start_infrastructure

SERVICES = ("cms", "bos", "els", "nlp")
PREFIX_WIDTH = 6


@dataclass
class Stack:
    settings: Settings
    infra: Infrastructure
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _pumps: list[threading.Thread] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ESSAYFLOW_DATABASE_URL"] = self.infra.database_url
        env["ESSAYFLOW_NATS_URL"] = self.infra.nats_url
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
        )
        self.processes[key or name] = process
        pump = threading.Thread(target=_pump, args=(key or name, process, out or sys.stdout), daemon=True)
        pump.start()
        self._pumps.append(pump)

    def stop_services(self, names: Iterable[str] | None = None, timeout_s: float = 15) -> None:
        chosen = [n for n in (names or list(self.processes)) if n in self.processes]
        for name in chosen:
            if self.processes[name].poll() is None:
                self.processes[name].send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name in chosen:
            process = self.processes[name]
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self) -> None:
        self.stop_services()
        self.infra.stop()


def _pump(name: str, process: subprocess.Popen[bytes], out: IO[str]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        out.write(f"{name:<{PREFIX_WIDTH}}| {line}\n")
        out.flush()


def start_stack(
    data_root: Path = Path(".data"), services: Iterable[str] = SERVICES, log: IO[str] | None = None
) -> Stack:
    infra = start_infrastructure(data_root, postgres_port=54329, nats_port=42229)
    try:
        for service in migrations.SERVICES_WITH_DATABASE:
            migrations.upgrade(service, infra.database_url)
        stack = Stack(settings=load_settings(database_url=infra.database_url, nats_url=infra.nats_url), infra=infra)
        for name in services:
            stack.start_service(name, out=log)
    except BaseException:
        infra.stop()
        raise
    return stack


def banner(settings: Settings) -> str:
    token = mint_token(settings, "teacher-demo", Role.TEACHER)
    lines = [
        "",
        "essayflow is running:",
        f"  BOS  {settings.host}:{settings.bos_port}   essayflow.bos.v1.BatchOrchestratorService",
        f"  ELS  {settings.host}:{settings.els_port}   essayflow.els.v1.EssayLifecycleService",
        f"  CMS  {settings.host}:{settings.cms_port}   essayflow.cms.v1.ClassManagementService",
        f"  NLP  {settings.host}:{settings.nlp_port}   essayflow.nlp.v1.StudentMatcherService",
        f"  PostgreSQL {settings.database_url}",
        f"  NATS       {settings.nats_url}",
        f"  metrics    http://{settings.host}:{settings.metrics_base_port}..{settings.metrics_base_port + 3}/metrics",
        "",
        "A development token (teacher 'teacher-demo', 12 h):",
        f"  export ESSAYFLOW_TOKEN={token}",
        "Try:",
        f"  grpcurl -plaintext {settings.host}:{settings.bos_port} list",
        f'  grpcurl -plaintext -H "authorization: Bearer $ESSAYFLOW_TOKEN" {settings.host}:{settings.bos_port} '
        "essayflow.bos.v1.BatchOrchestratorService/ListBatches",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def run_stack_forever(data_root: Path = Path(".data")) -> int:
    stopping = threading.Event()

    def on_signal(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stack = start_stack(data_root)
    try:
        print(banner(stack.settings), flush=True)
        while not stopping.is_set():
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping the stack", flush=True)
                    stopping.set()
            stopping.wait(0.5)
    finally:
        print("stopping essayflow ...", flush=True)
        stack.stop()
        print("stopped.", flush=True)
    return 0
