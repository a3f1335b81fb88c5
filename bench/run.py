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


# Issue 19's goals.
GOALS = {
    "transition_c16_grpc_to_asyncpg_ratio": 0.70,
    "burst_essays_per_s": 500.0,
    "guest_p50_ms": 5.0,
    "regular_p50_ms": 25.0,
    "worst_hop_max_over_median": 10.0,
}


def against_goals(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures the goals are about, from this run (Phase 1: the ``after`` variant)."""
    from bench.phase1_bench import worst_hop

    found: dict[str, dict[str, Any]] = {}
    c16 = results.get("transition_batch", {}).get("concurrency_16")
    if c16:
        found["transition_c16_grpc_to_asyncpg_ratio"] = {"value": c16["grpc_to_asyncpg_ratio"]["median"]}
    after = results.get("phase1", {}).get("variants", {}).get("after")
    if after:
        latency = after["latency_last_upload_to_ready_ms"]
        found["burst_essays_per_s"] = {"value": after["burst"]["essays_per_s"]["median"]}
        found["guest_p50_ms"] = {"value": latency["GUEST"]["p50"], "at_most": True}
        found["regular_p50_ms"] = {"value": latency["REGULAR"]["p50"], "at_most": True}
        hop, ratio = worst_hop(after)
        found["worst_hop_max_over_median"] = {"value": ratio, "at_most": True, "hop": hop}
    for name, figure in found.items():
        goal = GOALS[name]
        figure["goal"] = goal
        figure["met"] = figure["value"] <= goal if figure.get("at_most") else figure["value"] >= goal
    return found


def render_goals(goals: dict[str, dict[str, Any]]) -> str:
    lines = ["Against the goals (this run; Phase 1: after)"]
    for name, figure in goals.items():
        sign = "<=" if figure.get("at_most") else ">="
        verdict = "met" if figure["met"] else "not met"
        extra = f"  ({figure['hop']})" if "hop" in figure else ""
        lines.append(f"  {name:<40} {figure['value']:9.2f}  goal {sign} {figure['goal']:<6g} {verdict}{extra}")
    return "\n".join(lines)


def main() -> int:
    results: dict[str, Any] = {"machine": machine_facts()}
    for name, module in BENCHMARKS:
        results[name] = run_one(module)
        print(flush=True)
    results["goals"] = against_goals(results)
    print(render_goals(results["goals"]))

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
