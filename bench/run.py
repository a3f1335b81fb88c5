"""``make bench``: every benchmark, a table, and bench/results/latest.json.

Each figure is reported with the baseline measured in the same run on the same machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import matcher_bench, outbox_bench, phase1_bench, transition_bench

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


# Each benchmark module offers run() -> figures and render(figures) -> text.
BENCHMARKS = (
    ("transition_batch", transition_bench),
    ("outbox_relay", outbox_bench),
    ("phase1", phase1_bench),
    ("matcher", matcher_bench),
)


def main() -> int:
    results: dict[str, Any] = {"machine": machine_facts()}
    for name, bench in BENCHMARKS:
        figures = bench.run()
        results[name] = figures
        print(bench.render(figures), end="\n\n", flush=True)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
