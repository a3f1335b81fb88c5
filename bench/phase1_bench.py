"""Phase 1 end to end on the real four-process stack.

- latency: REGULAR batches of 30 essays in a class with auto-confirmation, one at a
  time: from the last upload's answer to READY (seen through WatchBatch);
- burst: 200 batches x 30 essays registered and uploaded at once: time until every
  batch is READY, and essays per second through Phase 1 (three rounds: median, spread).

The load generator is this process; the services run in their own processes.

    python -m bench.phase1_bench [--latency-batches 20] [--burst-batches 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats

from bench.infra import bench_infrastructure
from bench.stats import percentile, summary
from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients
from essayflow_cli.demo import service_addresses
from essayflow_cli.stack import SERVICES, Stack
from essayflow_runtime import bus, contracts, migrations
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import free_port
from essayflow_runtime.grpc_client import wait_until_serving

ESSAYS = 30
READY = common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
FIRST = ["Alva", "Bruno", "Cecilia", "David", "Ebba", "Filip", "Greta", "Hugo", "Ines", "Jonas", "Klara", "Leo"]
LAST = ["Almqvist", "Berglund", "Cederholm", "Dahlgren", "Ekdahl", "Fredholm", "Granlund", "Hedberg"]
BODY = "Min uppsats handlar om hur staden förändras när hösten kommer och ljuset försvinner. " * 4


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


async def measure(latency_batches: int, burst_batches: int, burst_rounds: int) -> dict[str, Any]:
    with bench_infrastructure() as infra:
        for service in migrations.SERVICES_WITH_DATABASE:
            await asyncio.to_thread(migrations.upgrade, service, infra.database_url)
        ports = {name: free_port() for name in SERVICES}
        env = {
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
        # stage_delays reads the events after their consumers took them: keep them.
        await keep_history(settings)
        stack = Stack(settings=settings, infra=infra)
        log = (Path(infra.postgres.data_dir).parent if infra.postgres else Path(".")) / "phase1-bench.log"
        with log.open("a", encoding="utf-8") as out:
            for name in SERVICES:
                stack.start_service(name, env, out=out)
            clients = Clients(settings, mint_token(settings, "bench-teacher", Role.TEACHER))
            try:
                await wait_until_serving(settings, service_addresses(settings), timeout_s=120)
                class_id = await auto_confirm_class(clients)
                latencies = []
                for _ in range(latency_batches):
                    batch_id = await register(clients, class_id)
                    watcher = asyncio.create_task(ready_at(clients, batch_id, 120))
                    last_upload = await upload_all(clients, batch_id, asyncio.Semaphore(8))
                    latencies.append((await watcher - last_upload) * 1000)

                # A school at 08:00: every teacher at once, each uploading their files one by one
                # (at most 64 uploads in flight overall). Repeated, for a median and a spread.
                bursts = [await burst(clients, class_id, burst_batches) for _ in range(burst_rounds)]
                stages = await stage_delays(settings, set().union(*(b.batch_ids for b in bursts)))
            finally:
                await clients.close()
                stack.stop_services()
    essays = burst_batches * ESSAYS
    return {
        "latency_last_upload_to_ready_ms": {
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "batches": len(latencies),
            "essays_per_batch": ESSAYS,
            # In order: p99 over 20 is the slowest one, and which one it is (the first?) tells why.
            "per_batch_ms": [round(latency, 1) for latency in latencies],
        },
        "burst": {
            "batches": burst_batches,
            "essays": essays,
            "ready": summary([b.ready for b in bursts]),
            "seconds_to_all_ready": summary([b.seconds_to_all_ready for b in bursts]),
            "seconds_uploading": summary([b.seconds_uploading for b in bursts]),
            "essays_per_s": summary([essays / b.seconds_to_all_ready for b in bursts]),
            "stage_delays_ms": stages,
        },
    }


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
    client = await nats.connect(settings.nats_url)
    try:
        await bus.record_history(settings, client.jetstream(), "bench-history")
    finally:
        await client.close()


async def stage_delays(settings: Settings, batch_ids: set[str]) -> dict[str, dict[str, float]]:
    """Where the time goes: for each event type, how long after the batch's last upload
    (its last EssaySlotAssigned) it was published, median and p99 over the burst."""
    client = await nats.connect(settings.nats_url)
    try:
        js = client.jetstream()
        info = await js.stream_info(settings.stream_name)
        seen: dict[str, dict[str, float]] = {}
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(settings.stream_name, seq)
            envelope, payload = contracts.unwrap(message.data or b"")
            batch_id = getattr(payload, "batch_id", "")
            if batch_id in batch_ids:
                kind = envelope.event_type.rpartition(".")[2]
                if kind == "BatchStatusChanged":
                    to_status = getattr(payload, "to_status", 0)
                    kind += ":" + common_pb2.BatchStatus.Name(to_status).removeprefix("BATCH_STATUS_")
                at = envelope.occurred_at.ToDatetime().timestamp()
                # keep the last slot assignment, the first of everything else
                if kind == "EssaySlotAssigned" or kind not in seen.setdefault(batch_id, {}):
                    seen[batch_id][kind] = at
    finally:
        await client.close()
    delays: dict[str, list[float]] = {}
    for events in seen.values():
        start = events.get("EssaySlotAssigned")
        if start is None:
            continue
        for kind, at in events.items():
            if at >= start and kind != "EssaySlotAssigned":
                delays.setdefault(kind, []).append((at - start) * 1000)
    return {
        kind: {"p50": percentile(values, 50), "p99": percentile(values, 99)}
        for kind, values in sorted(delays.items(), key=lambda item: percentile(item[1], 50))
    }


def render(figures: dict[str, Any]) -> str:
    latency, burst = figures["latency_last_upload_to_ready_ms"], figures["burst"]
    rounds = burst["essays_per_s"]["rounds"]
    return "\n".join(
        [
            "Phase 1 end to end (four service processes, auto-confirmed REGULAR batches of 30 essays)",
            f"  last upload → READY over {latency['batches']} batches: p50 {latency['p50']:.0f} ms, "
            f"p99 {latency['p99']:.0f} ms",
            f"  burst {burst['batches']} x 30, median of {rounds} rounds: {burst['ready']['min']:.0f}/"
            f"{burst['batches']} READY (fewest) in {burst['seconds_to_all_ready']['median']:.1f} s, "
            f"{burst['essays_per_s']['median']:.0f} essays/s (spread {burst['essays_per_s']['min']:.0f} to "
            f"{burst['essays_per_s']['max']:.0f}; uploads took {burst['seconds_uploading']['median']:.1f} s)",
            "  burst, after each batch's last upload (p50 / p99 ms):",
            *(
                f"    {kind:<55} {d['p50']:8.0f} {d['p99']:8.0f}"
                for kind, d in burst.get("stage_delays_ms", {}).items()
            ),
        ]
    )


def run(latency_batches: int = 20, burst_batches: int = 200, burst_rounds: int = 3) -> dict[str, Any]:
    return asyncio.run(measure(latency_batches, burst_batches, burst_rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phase1_bench")
    parser.add_argument("--latency-batches", type=int, default=20)
    parser.add_argument("--burst-batches", type=int, default=200)
    parser.add_argument("--burst-rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    figures = run(args.latency_batches, args.burst_batches, args.burst_rounds)
    print(render(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
