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


def main() -> int:
    results: dict[str, Any] = {"machine": machine_facts()}

    transitions = transition_bench.run()
    results["transition_batch"] = transitions
    print(transition_bench.render(transitions), flush=True)
    print(flush=True)

    outbox = outbox_bench.run()
    results["outbox_relay"] = outbox
    print(outbox_bench.render(outbox), flush=True)
    print(flush=True)

    phase1 = phase1_bench.run()
    results["phase1"] = phase1
    print(phase1_bench.render(phase1), flush=True)
    print(flush=True)

    matcher = matcher_bench.run()
    results["matcher"] = matcher
    print(matcher_bench.render(matcher), flush=True)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
