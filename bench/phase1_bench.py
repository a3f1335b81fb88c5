"""Phase 1 end to end on the real four-process stack, before and after, side by side.

For each variant, on fresh embedded PostgreSQL and NATS:

- latency: GUEST batches and REGULAR batches (a class with auto-confirmation) of 30
  essays, one at a time: from the last upload's answer to READY (seen through
  WatchBatch), p50 / p99 / max, and every consumer hop on the way (below);
- burst: 200 batches x 30 essays registered and uploaded at once: time until every
  batch is READY, and essays per second through Phase 1 (median and spread of the rounds).

A hop is one event and the event it caused (the envelope's ``causation_id``), followed
back from the batch's READY: its delay is the effect's ``occurred_at`` minus the
cause's, split into the cause's way onto the stream (``occurred_at`` to the time
JetStream stored it: the outbox relay, for BOS and CMS) and the consumer's part (stored
to the effect's ``occurred_at``: delivery and the handler).

Variants (each in a process of its own, one after the other in the same run):

- ``release_before``: the services of ``RELEASE_BEFORE_REVISION``, the release before
  the fault and hostile-input work, with nats-server's default sync as it shipped;
- ``before``: the services of git revision ``BASELINE_REVISION`` (main before the
  consumer loop that starts each message as it arrives), exported with ``git archive``
  into a temporary directory and run from there; the load generator is this one;
- ``after``: the services of this tree;
- ``after_default_sync``: this tree with nats-server's default ``sync_interval`` instead
  of ``always`` (the durability choice: an fsync before every acknowledgement).

    python -m bench.phase1_bench [--variants before,after,after_default_sync]
                                 [--latency-batches 40] [--burst-batches 200] [--burst-rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.infra import bench_infrastructure
from bench.stats import percentile, summary
from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients
from essayflow_cli.demo import service_addresses
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import free_port
from essayflow_runtime.grpc_client import wait_until_serving

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("cms", "bos", "els", "nlp")
# main before the consumer loop of issue 19: nats-py fetch(64, timeout=1) and a gather
# of the whole batch before the next fetch.
BASELINE_REVISION = "ca240f095f614a159b618742bad86fcd713da5aa"
# The release before the fault and hostile-input work (limits retention, nats-server's
# default sync, the matcher in a thread, no input checks).
RELEASE_BEFORE_REVISION = "1ea52bb92d407dcf27036bba84544cffb4701ce0"

ESSAYS = 30
READY = common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
FIRST = ["Alva", "Bruno", "Cecilia", "David", "Ebba", "Filip", "Greta", "Hugo", "Ines", "Jonas", "Klara", "Leo"]
LAST = ["Almqvist", "Berglund", "Cederholm", "Dahlgren", "Ekdahl", "Fredholm", "Granlund", "Hedberg"]
BODY = "Min uppsats handlar om hur staden förändras när hösten kommer och ljuset försvinner. " * 4
READY_KIND = ":READY_FOR_PIPELINE_EXECUTION"
GOAL_P50_MS = {"GUEST": 5.0, "REGULAR": 25.0}
# A hop whose slowest delay is this many times its median is a tail (issue 19).
TAIL_FACTOR = 10.0


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    revision: str | None  # the services of this git revision; None: this tree
    sync_always: bool
    burst_rounds: int | None = None  # None: --burst-rounds


VARIANTS = {
    v.name: v
    for v in (
        Variant(
            "release_before",
            f"release before ({RELEASE_BEFORE_REVISION[:7]})",
            RELEASE_BEFORE_REVISION,
            False,
            burst_rounds=2,
        ),
        Variant("before", f"before ({BASELINE_REVISION[:7]})", BASELINE_REVISION, True, burst_rounds=2),
        Variant("after", "after", None, True),
        Variant("after_default_sync", "after, default sync", None, False, burst_rounds=2),
    )
}


def roster() -> list[tuple[str, str]]:
    return list(itertools.islice(itertools.product(FIRST, LAST), ESSAYS))


def essay(first: str, last: str, n: int) -> bytes:
    return f"Namn: {first} {last}\n\n{BODY}\nText {n}.\n".encode()


async def auto_confirm_class(c: Clients) -> str:
    created = await c.cms.CreateClass(
        cms_pb2.CreateClassRequest(
            name="bench", course_code=common_pb2.COURSE_CODE_SV1, auto_confirm_high_confidence=True
        ),
        metadata=c.metadata,
    )
    class_id = str(getattr(created, "class").class_id)
    await c.cms.AddStudents(
        cms_pb2.AddStudentsRequest(
            class_id=class_id,
            students=[
                cms_pb2.NewStudent(first_name=f, last_name=s, email=f"{f}.{s}@bench.example".lower())
                for f, s in roster()
            ],
        ),
        metadata=c.metadata,
    )
    return class_id


async def register(c: Clients, class_id: str) -> str:
    """A REGULAR batch with ``class_id``, a GUEST batch without."""
    return str((await c.register_batch(ESSAYS, common_pb2.COURSE_CODE_SV1, class_id=class_id)).batch_id)


async def upload_all(c: Clients, batch_id: str, gate: asyncio.Semaphore) -> float:
    """Upload the batch's essays; returns when the last upload was answered."""

    async def one(n: int, first: str, last: str) -> None:
        async with gate:
            await c.els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(batch_id=batch_id, file_name=f"{n}.txt", content=essay(first, last, n)),
                metadata=c.metadata,
            )

    await asyncio.gather(*(one(n, f, s) for n, (f, s) in enumerate(roster())))
    return time.perf_counter()


async def ready_at(c: Clients, batch_id: str, timeout_s: float) -> float:
    """The moment WatchBatch reports READY (or later)."""

    async def watch() -> float:
        call = c.bos.WatchBatch(bos_pb2.WatchBatchRequest(batch_id=batch_id), metadata=c.metadata)
        try:
            async for update in call:
                if update.batch.status >= READY and update.batch.status != common_pb2.BATCH_STATUS_CANCELLED:
                    return time.perf_counter()
        finally:
            # Leaving the loop does not end the call: the stream (and its place under BOS's
            # per-caller cap) would stay open until the batch is terminal.
            call.cancel()
        raise RuntimeError("watch ended")

    return await asyncio.wait_for(watch(), timeout=timeout_s)


@contextlib.contextmanager
def service_tree(revision: str | None) -> Iterator[Path]:
    """Where the services run from: this tree, or ``revision`` exported into a temp dir."""
    if revision is None:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="essayflow-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        yield Path(tmp)


class Services:
    """The four service processes, run from ``tree`` (``python -m services.<name>.main``
    with the tree first on the path), their output appended to ``out``."""

    def __init__(self, tree: Path, env: dict[str, str], out: IO[str]) -> None:
        path = os.pathsep.join([str(tree), str(tree / "gen")])
        self._env = {**env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
        self._tree, self._out = tree, out
        self._processes: list[subprocess.Popen[bytes]] = []

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "essayflow_runtime.migrations", "upgrade", "all"],
            cwd=self._tree,
            env=self._env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            check=True,
        )

    def start(self) -> None:
        for name in SERVICES:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}.main"],
                cwd=self._tree,
                env=self._env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            self._processes.append(process)
            threading.Thread(target=self._pump, args=(name, process), daemon=True).start()

    def _pump(self, name: str, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._out.write(f"{name:<5}| {raw.decode('utf-8', 'replace')}")
            self._out.flush()

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def measure(variant: Variant, latency_batches: int, burst_batches: int, burst_rounds: int) -> dict[str, Any]:
    with service_tree(variant.revision) as tree, bench_infrastructure(sync_always=variant.sync_always) as infra:
        ports = {name: free_port() for name in SERVICES}
        env = {
            **os.environ,
            "ESSAYFLOW_DATABASE_URL": infra.database_url,
            "ESSAYFLOW_NATS_URL": infra.nats_url,
            "ESSAYFLOW_METRICS_ENABLED": "0",
            "ESSAYFLOW_LOG_LEVEL": "WARNING",
            # One bench teacher watches every batch of a burst at once.
            "ESSAYFLOW_WATCH_MAX_PER_CALLER": str(max(burst_batches, latency_batches) + 10),
            "ESSAYFLOW_CMS_ADDRESS": f"127.0.0.1:{ports['cms']}",
            **{f"ESSAYFLOW_{n.upper()}_PORT": str(p) for n, p in ports.items()},
        }
        settings = load_settings(
            None,
            database_url=infra.database_url,
            nats_url=infra.nats_url,
            **{f"{n}_port": p for n, p in ports.items()},
        )
        log_dir = Path(infra.postgres.data_dir).parent if infra.postgres else Path(tempfile.gettempdir())
        log = log_dir / f"phase1-bench-{variant.name}.log"
        with log.open("a", encoding="utf-8") as out:
            services = Services(tree, env, out)
            # The tree's own migrations: its services expect its schema.
            await asyncio.to_thread(services.migrate)
            services.start()
            clients = Clients(settings, mint_token(settings, "bench-teacher", Role.TEACHER))
            try:
                await wait_until_serving(settings, service_addresses(settings), timeout_s=120)
                # The hops are read from the events after their consumers took them: keep them
                # (on the streams the services created, whatever their version).
                await keep_history(settings)
                class_id = await auto_confirm_class(clients)
                latency: dict[str, dict[str, Any]] = {}
                for kind, batch_class in (("GUEST", ""), ("REGULAR", class_id)):
                    samples, ids = [], []
                    for _ in range(latency_batches):
                        batch_id = await register(clients, batch_class)
                        watcher = asyncio.create_task(ready_at(clients, batch_id, 120))
                        last_upload = await upload_all(clients, batch_id, asyncio.Semaphore(8))
                        samples.append((await watcher - last_upload) * 1000)
                        ids.append(batch_id)
                    latency[kind] = {"samples": samples, "batch_ids": ids}
                # A school at 08:00: every teacher at once, each uploading their files one by one
                # (at most 64 uploads in flight overall). Repeated, for a median and a spread.
                bursts = [await burst(clients, class_id, burst_batches) for _ in range(burst_rounds)]
                events = await read_events(settings)
            finally:
                await clients.close()
                services.stop()
        # How often a consumer set its subscription up again (a lost pull request, an error).
        resubscribes = sum(
            1
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
            if "consumer pull failed" in line or "consumer fetch failed" in line
        )
    essays = burst_batches * ESSAYS
    return {
        "variant": {"name": variant.name, "label": variant.label, "services_from": variant.revision or "this tree"},
        "nats_sync_interval": "always" if variant.sync_always else "default",
        "consumer_resubscribes": resubscribes,
        "latency_last_upload_to_ready_ms": {
            kind: {
                **distribution(found["samples"]),
                "batches": len(found["samples"]),
                "essays_per_batch": ESSAYS,
                # In order: which one is slow (the first?) tells why.
                "per_batch_ms": [round(x, 1) for x in found["samples"]],
                "hops_ms": hops(events, found["batch_ids"]),
            }
            for kind, found in latency.items()
        },
        "burst": {
            "batches": burst_batches,
            "essays": essays,
            "ready": summary([b.ready for b in bursts]),
            "seconds_to_all_ready": summary([b.seconds_to_all_ready for b in bursts]),
            "seconds_uploading": summary([b.seconds_uploading for b in bursts]),
            "essays_per_s": summary([essays / b.seconds_to_all_ready for b in bursts]),
            "hops_ms": hops(events, [b for one in bursts for b in one.batch_ids]),
        },
    }


def distribution(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "max": max(samples, default=float("nan"))}


@dataclass(frozen=True)
class Burst:
    batch_ids: list[str]
    ready: int
    seconds_to_all_ready: float
    seconds_uploading: float


async def burst(clients: Clients, class_id: str, batches: int) -> Burst:
    """``batches`` batches registered at once and uploaded by their teachers at once."""
    teachers = asyncio.Semaphore(64)
    started = time.perf_counter()
    batch_ids = await asyncio.gather(*(register(clients, class_id) for _ in range(batches)))
    watchers = [asyncio.create_task(ready_at(clients, b, 900)) for b in batch_ids]

    async def one_teacher(batch_id: str) -> float:
        async with teachers:
            return await upload_all(clients, batch_id, asyncio.Semaphore(1))

    await asyncio.gather(*(one_teacher(b) for b in batch_ids))
    uploaded = time.perf_counter()
    done = await asyncio.gather(*watchers, return_exceptions=True)
    finished = time.perf_counter()
    ready = sum(1 for d in done if isinstance(d, float))
    return Burst(list(batch_ids), ready, finished - started, uploaded - started)


async def keep_history(settings: Settings) -> None:
    """A consumer that never acknowledges (as bus.record_history, without creating or
    updating the streams: a variant's services made them as their version does)."""
    client = await nats.connect(settings.nats_url)
    try:
        config = ConsumerConfig(
            durable_name="bench-history",
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
        )
        await client.jetstream().add_consumer(settings.stream_name, config)
    finally:
        await client.close()


@dataclass(frozen=True)
class Event:
    event_id: str
    kind: str  # the type's short name; a status change with the status it went to
    batch_id: str
    causation_id: str
    occurred_at: float  # the envelope's, seconds
    stored_at: float  # when JetStream stored it, seconds


def _seconds(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    text = str(value)
    # RFC 3339 with nanoseconds: datetime takes microseconds.
    head, _, rest = text.partition(".")
    digits = "".join(itertools.takewhile(str.isdigit, rest))
    zone = rest[len(digits) :] or "Z"
    stamp = datetime.fromisoformat(head + zone.replace("Z", "+00:00"))
    return stamp.timestamp() + (float("0." + digits) if digits else 0.0)


async def read_events(settings: Settings) -> dict[str, Event]:
    """Every event still on the stream (the history consumer keeps them), by id."""
    client = await nats.connect(settings.nats_url)
    found: dict[str, Event] = {}
    try:
        js = client.jetstream()
        info = await js.stream_info(settings.stream_name)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(settings.stream_name, seq)
            try:
                envelope, payload = contracts.unwrap(message.data or b"")
            except contracts.PoisonMessage:
                continue
            kind = envelope.event_type.rpartition(".")[2]
            if kind == "BatchStatusChanged":
                to_status = getattr(payload, "to_status", 0)
                kind += ":" + common_pb2.BatchStatus.Name(to_status).removeprefix("BATCH_STATUS_")
            found[envelope.event_id] = Event(
                envelope.event_id,
                kind,
                getattr(payload, "batch_id", ""),
                envelope.causation_id,
                envelope.occurred_at.ToDatetime().timestamp(),
                _seconds(message.time),
            )
    finally:
        await client.close()
    return found


def critical_path(events: dict[str, Event], ready: Event) -> list[Event]:
    """READY and its causes back to the first event whose cause is not on the stream."""
    path = [ready]
    while (cause := events.get(path[-1].causation_id)) is not None and len(path) < 50:
        path.append(cause)
    return path[::-1]


def hops(events: dict[str, Event], batch_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per hop on the way to READY: delay (effect's occurred_at - cause's), and the
    consumer's part of it (cause stored on the stream -> effect's occurred_at)."""
    wanted = set(batch_ids)
    ready = {e.batch_id: e for e in events.values() if e.batch_id in wanted and e.kind.endswith(READY_KIND)}
    last_slot: dict[str, Event] = {}
    for e in events.values():
        later = e.batch_id not in last_slot or e.occurred_at > last_slot[e.batch_id].occurred_at
        if e.batch_id in wanted and e.kind == "EssaySlotAssigned" and later:
            last_slot[e.batch_id] = e
    delays: dict[str, list[float]] = {}
    consumer: dict[str, list[float]] = {}
    order: dict[str, int] = {}
    for batch_id in batch_ids:
        if batch_id not in ready:
            continue
        path = critical_path(events, ready[batch_id])
        # The first event on the way (ELS's completion) is published by the last upload's
        # call, not caused by an event: measured from the batch's last slot assignment.
        if (slot := last_slot.get(batch_id)) is not None and path[0].kind != slot.kind:
            path.insert(0, slot)
        for position, (cause, effect) in enumerate(itertools.pairwise(path)):
            name = f"{cause.kind} → {effect.kind}"
            order.setdefault(name, position)
            delays.setdefault(name, []).append((effect.occurred_at - cause.occurred_at) * 1000)
            consumer.setdefault(name, []).append((effect.occurred_at - cause.stored_at) * 1000)
    return {
        name: {
            **distribution(delays[name]),
            "consumer_p50": percentile(consumer[name], 50),
            "consumer_max": max(consumer[name]),
            "samples": len(delays[name]),
        }
        for name in sorted(delays, key=lambda n: order[n])
    }


def worst_hop(figures: dict[str, Any]) -> tuple[str, float]:
    """The hop whose slowest delay is the largest multiple of its median (latency runs)."""
    worst, ratio = "", 0.0
    for kind, found in figures["latency_last_upload_to_ready_ms"].items():
        for name, hop in found["hops_ms"].items():
            median = max(hop["p50"], 1.0)  # a sub-millisecond median: measure against 1 ms
            if hop["max"] / median > ratio:
                worst, ratio = f"{kind}: {name}", hop["max"] / median
    return worst, ratio


def short(hop: str) -> str:
    """A hop's name for the table: status changes by their status, READY for READY."""
    return hop.replace("BatchStatusChanged:", "").replace("READY_FOR_PIPELINE_EXECUTION", "READY")


def _union(keys: Iterable[Iterable[str]]) -> list[str]:
    found: list[str] = []
    for some in keys:
        found += [k for k in some if k not in found]
    return found


def render(results: dict[str, dict[str, Any]]) -> str:
    """The variants side by side."""
    names = list(results)
    labels = [results[n]["variant"]["label"] for n in names]
    width = max(22, *(len(label) + 2 for label in labels))

    def row(title: str, cells: list[str]) -> str:
        return f"  {title:<68}" + "".join(f"{c:>{width}}" for c in cells)

    lines = [
        "Phase 1 end to end (four service processes, batches of 30 essays; REGULAR auto-confirmed)",
        row("", labels),
        row("nats sync_interval", [results[n]["nats_sync_interval"] for n in names]),
        row("consumer re-subscribes (log lines)", [str(results[n].get("consumer_resubscribes", "-")) for n in names]),
    ]
    for kind in ("GUEST", "REGULAR"):
        batches = results[names[0]]["latency_last_upload_to_ready_ms"][kind]["batches"]
        lines.append(
            row(
                f"{kind} last upload → READY, {batches} batches (goal p50 ≤ {GOAL_P50_MS[kind]:.0f} ms)",
                ["p50 / p99 / max"] * len(names),
            )
        )
        lines.append(
            row(
                "  ms",
                [
                    "{p50:.0f} / {p99:.0f} / {max:.0f}".format(**results[n]["latency_last_upload_to_ready_ms"][kind])
                    for n in names
                ],
            )
        )
        hop_names = _union(results[n]["latency_last_upload_to_ready_ms"][kind]["hops_ms"] for n in names)
        for hop in hop_names:
            cells = []
            for n in names:
                h = results[n]["latency_last_upload_to_ready_ms"][kind]["hops_ms"].get(hop)
                cells.append("-" if h is None else f"{h['p50']:.1f} / {h['p99']:.0f} / {h['max']:.0f}")
            lines.append(row(f"  {short(hop)}", cells))
    lines.append(
        row(
            "worst hop, max / median (≤ 10 wanted)",
            ["{1:.1f}x".format(*worst_hop(results[n])) for n in names],
        )
    )
    for n in names:
        lines.append(f"    {results[n]['variant']['label']}: {short(worst_hop(results[n])[0])}")
    b0 = results[names[0]]["burst"]
    lines.append(row(f"burst {b0['batches']} x {ESSAYS} essays/s, median (min to max) (goal 500)", [""] * len(names)))
    lines.append(
        row(
            "  essays/s",
            [
                "{median:.0f} ({min:.0f} to {max:.0f})".format(**results[n]["burst"]["essays_per_s"])
                + f" x{results[n]['burst']['essays_per_s']['rounds']}"
                for n in names
            ],
        )
    )
    lines.append(
        row(
            "  all READY s / uploads s",
            [
                "{:.1f} / {:.1f}".format(
                    results[n]["burst"]["seconds_to_all_ready"]["median"],
                    results[n]["burst"]["seconds_uploading"]["median"],
                )
                for n in names
            ],
        )
    )
    lines.append(
        row(
            "  fewest READY",
            [f"{results[n]['burst']['ready']['min']:.0f}/{results[n]['burst']['batches']}" for n in names],
        )
    )
    hop_names = _union(results[n]["burst"]["hops_ms"] for n in names)
    lines.append("  burst hops, p50 / p99 / max ms:")
    for hop in hop_names:
        cells = []
        for n in names:
            h = results[n]["burst"]["hops_ms"].get(hop)
            cells.append("-" if h is None else f"{h['p50']:.0f} / {h['p99']:.0f} / {h['max']:.0f}")
        lines.append(row(f"  {short(hop)}", cells))
    return "\n".join(lines)


def run_variant(variant: Variant, latency_batches: int, burst_batches: int, burst_rounds: int) -> dict[str, Any]:
    rounds = variant.burst_rounds if variant.burst_rounds is not None else burst_rounds
    return asyncio.run(measure(variant, latency_batches, burst_batches, min(rounds, burst_rounds)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phase1_bench")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--latency-batches", type=int, default=40, help="per kind (GUEST, REGULAR)")
    parser.add_argument("--burst-batches", type=int, default=200)
    parser.add_argument("--burst-rounds", type=int, default=3)
    parser.add_argument("--one", default=None, help="one variant, in this process (what --variants runs for each)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.one:
        figures = run_variant(VARIANTS[args.one], args.latency_batches, args.burst_batches, args.burst_rounds)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        else:
            print(render({args.one: figures}))
        return 0
    results: dict[str, dict[str, Any]] = {}
    for name in args.variants.split(","):
        # Each variant in a process of its own, one after the other.
        with tempfile.TemporaryDirectory(prefix="essayflow-bench-") as tmp:
            out = Path(tmp) / "figures.json"
            subprocess.run(
                [
                    sys.executable, "-m", "bench.phase1_bench", "--one", name, "--json", str(out),
                    "--latency-batches", str(args.latency_batches), "--burst-batches", str(args.burst_batches),
                    "--burst-rounds", str(args.burst_rounds),
                ],
                check=True,
            )  # fmt: skip
            results[name] = json.loads(out.read_text())
        os.sync()
    print(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"variants": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
