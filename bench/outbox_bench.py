"""Outbox relay throughput and commit→PubAck latency, next to raw nats-py JetStream
publishing of the same messages, measured in the same run on the same servers.

    python -m bench.outbox_bench [--events 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

import asyncpg
import nats
from nats.js import JetStreamContext

from bench.infra import bench_infrastructure
from bench.stats import percentile, summary
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime import bus, contracts, db, outbox
from essayflow_runtime.config import Settings, load_settings

IN_FLIGHT = 64


def _payload() -> bos_events_pb2.BatchEssaysRegistered:
    batch_id = str(uuid.uuid4())
    return bos_events_pb2.BatchEssaysRegistered(
        batch_id=batch_id, essay_ids=[str(uuid.uuid4()) for _ in range(30)], expected_essay_count=30
    )


async def raw_publish_rate(js: JetStreamContext, events: int) -> float:
    """The baseline: envelopes published straight from memory, 64 PubAcks in flight."""
    envelopes = [contracts.wrap(_payload(), source="bench", correlation_id="c") for _ in range(events)]
    subject = contracts.subject_of(bos_events_pb2.BatchEssaysRegistered)
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(envelope: Any) -> None:
        async with gate:
            await js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": envelope.event_id})

    started = time.perf_counter()
    await asyncio.gather(*(one(e) for e in envelopes))
    return events / (time.perf_counter() - started)


async def relay_rate(settings: Settings, pool: asyncpg.Pool, js: JetStreamContext, schema: str, events: int) -> float:
    """Rows committed up front (a backlog), then drained by one relay."""
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(events):
            await outbox.enqueue(conn, _payload(), source="bench", correlation_id="c")
    relay = outbox.OutboxRelay(settings, pool, js, schema)
    started = time.perf_counter()
    while True:
        _, more = await relay.relay_once()
        if not more and await pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"):
            break
    return events / (time.perf_counter() - started)


class _AckClock:
    """Wraps JetStream to note when each event's PubAck arrived."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.acked: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def publish(self, subject: str, payload: bytes, **kwargs: Any) -> Any:
        ack = await self._js.publish(subject, payload, **kwargs)
        self.acked[kwargs["headers"]["Nats-Msg-Id"]] = time.perf_counter()
        self.changed.set()
        return ack

    async def wait_for(self, event_id: str, timeout_s: float) -> None:
        deadline = time.perf_counter() + timeout_s
        while event_id not in self.acked and time.perf_counter() < deadline:
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=deadline - time.perf_counter())


async def idle_latencies(
    settings: Settings, pool: asyncpg.Pool, js: JetStreamContext, schema: str, samples: int
) -> list[float]:
    """Commit one event at a time into an idle system: commit → PubAck, in ms."""
    clock = _AckClock(js)
    relay = outbox.OutboxRelay(settings, pool, clock, schema)  # type: ignore[arg-type]
    task = asyncio.create_task(relay.run())
    latencies = []
    try:
        await asyncio.sleep(0.3)  # let the relay LISTEN (setup, not a condition we wait for)
        for _ in range(samples):
            async with pool.acquire() as conn:
                async with conn.transaction():
                    event_id = await outbox.enqueue(conn, _payload(), source="bench", correlation_id="c")
                committed = time.perf_counter()
            await clock.wait_for(event_id, timeout_s=5)
            latencies.append((clock.acked.get(event_id, committed + 5) - committed) * 1000)
            await asyncio.sleep(0.01)
    finally:
        relay.stop()
        await task
    return latencies


async def measure(events: int, rounds: int) -> dict[str, Any]:
    with bench_infrastructure() as infra:
        settings = load_settings(database_url=infra.database_url, nats_url=infra.nats_url, metrics_enabled=False)
        client = await nats.connect(settings.nats_url)
        js = client.jetstream()
        await bus.ensure_streams(settings, js)
        schema = "bench_outbox"
        admin = await db.connect(settings.database_url, schema)
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        for statement in outbox.ddl_statements(schema):
            await admin.execute(statement)
        await admin.close()
        pool = await db.create_pool(settings.database_url, schema, min_size=2, max_size=4)
        raw, relayed = [], []
        for _ in range(rounds):
            raw.append(await raw_publish_rate(js, events))
            relayed.append(await relay_rate(settings, pool, js, schema, events))
        latencies = await idle_latencies(settings, pool, js, schema, 60)
        await pool.close()
        await client.close()
    return {
        "events_per_round": events,
        "raw_jetstream_publish_per_s": summary(raw),
        "outbox_relay_per_s": summary(relayed),
        "relay_to_raw_ratio": summary([r / b for r, b in zip(relayed, raw, strict=True)]),
        "idle_commit_to_puback_ms": {
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "samples": len(latencies),
        },
    }


def render(figures: dict[str, Any]) -> str:
    raw, relay = figures["raw_jetstream_publish_per_s"], figures["outbox_relay_per_s"]
    latency = figures["idle_commit_to_puback_ms"]
    return "\n".join(
        [
            "outbox relay vs raw JetStream publish (same servers, same run)",
            f"  raw nats-py publish, {IN_FLIGHT} in flight : {raw['median']:8.0f} msg/s "
            f"(min {raw['min']:.0f}, max {raw['max']:.0f})",
            f"  outbox relay                        : {relay['median']:8.0f} msg/s "
            f"(min {relay['min']:.0f}, max {relay['max']:.0f})",
            f"  ratio relay/raw                     : {figures['relay_to_raw_ratio']['median']:.2f}",
            f"  idle commit→PubAck                  : p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f} ms",
        ]
    )


def run(events: int = 2000, rounds: int = 3) -> dict[str, Any]:
    return asyncio.run(measure(events, rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_bench")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args(argv)
    figures = run(args.events, args.rounds)
    print(render(figures))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
