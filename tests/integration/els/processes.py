"""Real ELS processes (``python -m services.els.main``) for the multi-replica and crash tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from essayflow_runtime.embedded import free_port
from tests.support import eventually

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class ElsProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_serving(self) -> None:
        async def serving() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"ELS exited with {self.process.returncode}:\n{self.log()}")
            async with grpc.aio.insecure_channel(self.address) as channel:
                try:
                    answer = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service=""), timeout=1
                    )
                except grpc.aio.AioRpcError:
                    return False
                return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

        await eventually(serving, timeout_s=30, interval_s=0.1, message="ELS serving")

    async def wait_exit(self) -> int:
        async def exited() -> bool:
            return self.process.poll() is not None

        await eventually(exited, timeout_s=30, message="ELS process exit")
        return int(self.process.returncode)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_els(nats_url: str, log_dir: Path, name: str, extra_env: Mapping[str, str] | None = None) -> ElsProcess:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ESSAYFLOW_")}
    env.update(
        {
            "ESSAYFLOW_NATS_URL": nats_url,
            "ESSAYFLOW_ELS_PORT": str(port),
            "ESSAYFLOW_METRICS_ENABLED": "0",
            **(extra_env or {}),
        }
    )
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.els.main"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return ElsProcess(process, port, log_path)
