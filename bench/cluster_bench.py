"""Phase 1's burst on one nats-server and on a three-node JetStream cluster, side by side.

Both variants run the same burst (``bench.phase1_bench.burst``: batches of 30 essays in an
auto-confirming class, registered and uploaded at once, time until every one is READY)
against the four service processes, each on a fresh PostgreSQL and NATS of its own: first
one nats-server with every stream, bucket and store at R1, then three nats-server
processes clustered over loopback routes with everything at R3 (each write acknowledged
once two of the three stored it, each fsynced: ``sync_interval: always``).

    python -m bench.cluster_bench [--burst-batches 100] [--burst-rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.phase1_bench import ESSAYS, Burst, auto_confirm_class, burst
from bench.stats import summary
from essayflow_cli.client import Clients
from essayflow_cli.demo import service_addresses
from essayflow_cli.stack import SERVICES, Stack
from essayflow_runtime import migrations
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import load_settings
from essayflow_runtime.embedded import free_port, infrastructure
from essayflow_runtime.grpc_client import wait_until_serving

VARIANTS = (("single node (R1)", False), ("3-node cluster (R3)", True))


async def one_variant(cluster: bool, batches: int, rounds: int) -> list[Burst]:
    """``rounds`` bursts of ``batches`` batches on a fresh stack (NATS clustered or not)."""
    with (
        tempfile.TemporaryDirectory(prefix="essayflow-bench-") as root,
        infrastructure(Path(root), nats_cluster=cluster) as infra,
    ):
        for service in migrations.SERVICES_WITH_DATABASE:
            await asyncio.to_thread(migrations.upgrade, service, infra.database_url)
        ports = {name: free_port() for name in SERVICES}
        env = {
            "ESSAYFLOW_METRICS_ENABLED": "0",
            "ESSAYFLOW_LOG_LEVEL": "WARNING",
            "ESSAYFLOW_WATCH_MAX_PER_CALLER": str(batches + 10),
            "ESSAYFLOW_CMS_ADDRESS": f"127.0.0.1:{ports['cms']}",
            **{f"ESSAYFLOW_{n.upper()}_PORT": str(p) for n, p in ports.items()},
        }
        settings = load_settings(
            None, database_url=infra.database_url, nats_url=infra.nats_url, **{f"{n}_port": p for n, p in ports.items()}
        )
        stack = Stack(settings=settings, infra=infra)  # ESSAYFLOW_STREAM_REPLICAS=3 on the cluster
        with (Path(root) / "cluster-bench.log").open("a", encoding="utf-8") as out:
            for name in SERVICES:
                stack.start_service(name, env, out=out)
            clients = Clients(settings, mint_token(settings, "bench-teacher", Role.TEACHER))
            try:
                await wait_until_serving(settings, service_addresses(settings), timeout_s=120)
                class_id = await auto_confirm_class(clients)
                return [await burst(clients, class_id, batches) for _ in range(rounds)]
            finally:
                await clients.close()
                stack.stop_services()


def measure_variant(cluster: bool, batches: int, rounds: int) -> dict[str, Any]:
    bursts = asyncio.run(one_variant(cluster, batches, rounds))
    essays = batches * ESSAYS
    return {
        "ready": summary([b.ready for b in bursts]),
        "seconds_to_all_ready": summary([b.seconds_to_all_ready for b in bursts]),
        "seconds_uploading": summary([b.seconds_uploading for b in bursts]),
        "essays_per_s": summary([essays / b.seconds_to_all_ready for b in bursts]),
    }


def measure(batches: int, rounds: int) -> dict[str, Any]:
    """Each variant in a process of its own, one after the other: nothing the first left
    behind (grpc's threads, a busy garbage collector, its servers' last writes) weighs on
    the second."""
    figures: dict[str, Any] = {"batches": batches, "essays": batches * ESSAYS, "variants": {}}
    for label, cluster in VARIANTS:
        os.sync()
        with tempfile.TemporaryDirectory(prefix="essayflow-bench-") as tmp:
            out = Path(tmp) / "variant.json"
            command = [sys.executable, "-m", "bench.cluster_bench", "--burst-batches", str(batches)]
            command += ["--burst-rounds", str(rounds), "--variant", "cluster" if cluster else "single"]
            subprocess.run([*command, "--json", str(out)], check=True)
            figures["variants"][label] = json.loads(out.read_text())
    return figures


def render(figures: dict[str, Any]) -> str:
    rounds = max(v["essays_per_s"]["rounds"] for v in figures["variants"].values())
    lines = [
        f"Phase 1 burst, {figures['batches']} x {ESSAYS} essays, one nats-server vs a three-node cluster "
        f"(median of {rounds} rounds, spread in brackets)",
        f"  {'variant':<22} {'essays/s':<18} {'all READY':>10} {'uploads took':>13} {'READY (fewest)':>15}",
    ]
    for label, v in figures["variants"].items():
        rate = v["essays_per_s"]
        spread = f"{rate['median']:.0f} ({rate['min']:.0f} to {rate['max']:.0f})"
        lines.append(
            f"  {label:<22} {spread:<18} {v['seconds_to_all_ready']['median']:>8.1f} s"
            f" {v['seconds_uploading']['median']:>11.1f} s {v['ready']['min']:>11.0f}/{figures['batches']}"
        )
    return "\n".join(lines)


def run(batches: int = 100, rounds: int = 2) -> dict[str, Any]:
    return measure(batches, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_bench")
    parser.add_argument("--burst-batches", type=int, default=100)
    parser.add_argument("--burst-rounds", type=int, default=2)
    parser.add_argument("--variant", choices=("single", "cluster"), default=None, help="only this one (no table)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.variant is not None:
        figures = measure_variant(args.variant == "cluster", args.burst_batches, args.burst_rounds)
    else:
        figures = run(args.burst_batches, args.burst_rounds)
        print(render(figures), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
