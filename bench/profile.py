"""Where the time goes: sample one service process with py-spy while a benchmark loads it.

    python -m bench.profile transition            # BOS under TransitionBatch at concurrency 16
    python -m bench.profile burst                 # ELS under the 200 x 30 upload burst
    python -m bench.profile burst --service nlp --after 20 --seconds 10

The benchmark runs in a subprocess and starts the services as its children; after
``--after`` seconds of warm-up py-spy samples the chosen one for ``--seconds``. The
folded stacks are written next to the results (open them in speedscope, or feed them to
flamegraph.pl) and the hottest frames are printed: by their own samples, then
inclusive. Sampling is non-blocking, so the service keeps its pace, and time in C code
(grpc, uvloop, asyncpg's protocol) counts for the Python line that entered it;
``--native`` names the C frames too, at the price of pausing the process per sample.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Preset:
    module_args: tuple[str, ...]
    service: str
    after_s: float


PRESETS = {
    "transition": Preset(
        ("bench.transition_bench", "--calls", "12000", "--rounds", "1", "--concurrency", "16"), "bos", 8.0
    ),
    "burst": Preset(
        (
            "bench.phase1_bench",
            "--one",
            "after",
            "--latency-batches",
            "1",
            "--burst-batches",
            "200",
            "--burst-rounds",
            "1",
        ),
        "els",
        8.0,
    ),
}


def child_service_pid(parent: int, service: str, timeout_s: float = 120.0) -> int:
    """The pid of ``python -m services.<service>.main`` started by ``parent``."""
    wanted = f"services.{service}.main"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent and wanted.encode() in cmdline:
                return int(proc.name)
        time.sleep(0.2)
    raise TimeoutError(f"no {wanted} process under pid {parent} within {timeout_s:.0f} s")


def hottest(folded: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = stack.split(";")
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    lines = [f"{total} samples", "", "own samples:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("--service", choices=("bos", "els", "cms", "nlp"), default=None)
    parser.add_argument("--after", type=float, default=None, help="seconds of warm-up before sampling")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--native", action="store_true", help="also C frames (grpc, uvloop, asyncpg); pauses the process per sample"
    )
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    service = args.service or preset.service
    folded = RESULTS / f"profile-{args.preset}-{service}.folded"
    RESULTS.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")

    bench = subprocess.Popen([sys.executable, "-m", *preset.module_args], stdout=subprocess.DEVNULL)
    try:
        pid = child_service_pid(bench.pid, service)
        time.sleep(preset.after_s if args.after is None else args.after)  # warm-up: a duration, not a condition
        how = ["--native"] if args.native else ["--nonblocking"]
        # --subprocesses: NLP matches in worker processes of its own.
        subprocess.run(
            [str(py_spy), "record", "--pid", str(pid), "--duration", str(int(args.seconds)), "--rate",
             str(args.rate), "--format", "raw", "--output", str(folded), "--subprocesses", *how],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        bench.wait(timeout=900)  # the benchmark is bounded; it stops its services itself
    print(f"{service} under the {args.preset} benchmark, folded stacks in {folded.relative_to(RESULTS.parent.parent)}")
    print(hottest(folded, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
