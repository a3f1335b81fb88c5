"""``make bench``: every benchmark, a table, and bench/results/latest.json.

Each figure is reported with the baseline measured in the same run on the same machine;
each benchmark runs in a process of its own."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def machine_facts() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# Each benchmark module prints its own table and writes its figures with --json.
BENCHMARKS = (
    ("transition_batch", "bench.transition_bench"),
    ("tracing", "bench.tracing_bench"),
    ("outbox_relay", "bench.outbox_bench"),
    ("phase1", "bench.phase1_bench"),
    ("phase1_cluster", "bench.cluster_bench"),
    ("matcher", "bench.matcher_bench"),
)


def run_one(module: str) -> dict[str, Any]:
    """One benchmark in a process of its own: nothing a previous one left behind (grpc's
    threads, a busy garbage collector) shares its interpreter."""
    # Start from a quiet disk: the previous benchmark's database writes, still being
    # flushed, would otherwise slow this one's commits.
    os.sync()
    with tempfile.TemporaryDirectory(prefix="essayflow-bench-") as tmp:
        figures = Path(tmp) / "figures.json"
        subprocess.run([sys.executable, "-m", module, "--json", str(figures)], check=True)
        loaded: dict[str, Any] = json.loads(figures.read_text())
        return loaded


def main() -> int:
    results: dict[str, Any] = {"machine": machine_facts()}
    for name, module in BENCHMARKS:
        results[name] = run_one(module)
        print(flush=True)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
