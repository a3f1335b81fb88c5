"""What tracing costs: TransitionBatch against BOS with tracing off and with it exporting to a
local OTLP collector, side by side in the same run on the same database.

Each round starts BOS twice, one after the other (the order alternates between rounds): once
with no ``OTEL_*`` variable (tracing disabled: the code as every development and test run has
it), once with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a collector in this process
(``bench.otlp_collector``, in a process of its own; every call then makes a server span, the outbox event a producer
span and the relay a send span, all exported). One BOS at a time, so its outbox relay
publishes only its own rows. Also: what the hooks cost when disabled, per call, in this process.

    python -m bench.tracing_bench [--calls 600] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from bench.infra import bench_infrastructure
from bench.otlp_collector import CollectorProcess
from bench.stats import summary
from bench.transition_bench import ACV, CANCELLED, create_batches, drive
from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow.events.v1 import bos_events_pb2
from essayflow_cli.stack import Stack
from essayflow_runtime import contracts, db, migrations, tracing
from essayflow_runtime.auth import mint_service_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.embedded import free_port
from essayflow_runtime.grpc_client import wait_until_serving

CONCURRENCY = (1, 16)
VARIANTS = ("disabled", "enabled")


def hook_cost(samples: int = 200_000) -> dict[str, float]:
    """Nanoseconds per call of each tracing hook in this process, and what sealing one event
    (which calls :func:`tracing.stamp`) costs in all, with tracing as it is now."""
    event = contracts.seal(bos_events_pb2.BatchStatusChanged(batch_id="b"), source="bos", correlation_id="c")
    envelope, _ = contracts.unwrap(event.data)

    async def handler(context: object, payload: object) -> None:
        return None

    def per_call(step: Any, n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            step()
        return (time.perf_counter() - started) / n * 1e9

    def sending() -> None:
        with tracing.sending(event.data, event.subject, event.event_id):
            pass

    payload = bos_events_pb2.BatchStatusChanged(batch_id=str(uuid.uuid4()), version=1)
    def process() -> None:
        coroutine: Any = tracing.traced(handler, envelope, event.subject, "bos-events")(None, None)
        with contextlib.suppress(StopIteration):
            coroutine.send(None)  # the handler returns at once: one step runs the span around it

    return {
        "stamp_ns": per_call(lambda: tracing.stamp(envelope, event.subject), samples),
        "traced_ns": per_call(process, samples),
        "sending_ns": per_call(sending, samples),
        "seal_us": per_call(lambda: contracts.seal(payload, source="bos", correlation_id="c"), samples // 20) / 1000,
    }


def enabled_hook_cost(samples: int = 20_000) -> dict[str, float]:
    """The same with the SDK installed (a batch span processor over an exporter that drops
    everything): what creating and ending the spans costs, without the export."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=samples * 4))
    tracing.install(provider)
    try:
        return hook_cost(samples)
    finally:
        tracing.shutdown()


async def one_variant(
    settings: Settings,
    stack: Stack,
    pool: asyncpg.Pool,
    variant: str,
    collector: CollectorProcess,
    calls: int,
    levels: tuple[int, ...],
    log: Path,
) -> dict[int, dict[str, float]]:
    port = free_port()
    env = {"ESSAYFLOW_BOS_PORT": str(port), "ESSAYFLOW_METRICS_ENABLED": "0", "ESSAYFLOW_LOG_LEVEL": "WARNING"}
    if variant == "enabled":
        env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_EXPORTER_OTLP_INSECURE": "true"}
    key = f"bos-{variant}"
    with log.open("a", encoding="utf-8") as out:
        stack.start_service("bos", env, out=out, key=key)
        token = mint_service_token(settings, "bench", "bos", ttl_s=settings.service_token_max_ttl_s)
        metadata = (("authorization", f"Bearer {token}"),)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stub = bos_pb2_grpc.BatchOrchestratorServiceStub(channel)

        async def call(batch_id: str) -> None:
            await stub.TransitionBatch(
                bos_pb2.TransitionBatchRequest(
                    batch_id=batch_id,
                    expected_status=ACV,
                    target_status=CANCELLED,
                    idempotency_key=str(uuid.uuid4()),
                    reason="bench",
                ),
                metadata=metadata,
            )

        try:
            await wait_until_serving(settings, [f"127.0.0.1:{port}"])
            await drive(await create_batches(pool, 50), 4, call)  # warm up: connections, compiled rules
            measured = {}
            for concurrency in levels:
                count = calls // 4 if concurrency == 1 else calls
                measured[concurrency] = await drive(await create_batches(pool, count), concurrency, call)
            return measured
        finally:
            await channel.close()
            stack.stop_services([key])


async def measure(calls: int, rounds: int, levels: tuple[int, ...] = CONCURRENCY) -> dict[str, Any]:
    assert not tracing.enabled()
    results: dict[str, Any] = {"disabled_hooks": hook_cost(), "enabled_hooks": enabled_hook_cost()}
    with bench_infrastructure() as infra, CollectorProcess() as collector:
        await asyncio.to_thread(migrations.upgrade, "bos", infra.database_url)
        settings = load_settings(database_url=infra.database_url, nats_url=infra.nats_url)
        stack = Stack(settings=settings, infra=infra)
        log = Path(infra.postgres.data_dir if infra.postgres else ".").parent / "bos-tracing-bench.log"
        pool = await db.create_pool(infra.database_url, "bos", min_size=2, max_size=8)
        runs: dict[str, list[dict[int, dict[str, float]]]] = {v: [] for v in VARIANTS}
        try:
            for round_ in range(rounds):
                for variant in VARIANTS if round_ % 2 == 0 else tuple(reversed(VARIANTS)):
                    runs[variant].append(
                        await one_variant(settings, stack, pool, variant, collector, calls, levels, log)
                    )
        finally:
            await pool.close()
            stack.stop_services()
        for concurrency in levels:
            row: dict[str, Any] = {"calls_per_round": calls // 4 if concurrency == 1 else calls}
            for variant in VARIANTS:
                for figure in ("per_s", "p50_ms", "p99_ms"):
                    row[f"{variant}_{figure}"] = summary([r[concurrency][figure] for r in runs[variant]])
            row["enabled_to_disabled_ratio"] = summary(
                [
                    e[concurrency]["per_s"] / d[concurrency]["per_s"]
                    for e, d in zip(runs["enabled"], runs["disabled"], strict=True)
                ]
            )
            results[f"concurrency_{concurrency}"] = row
        collector.__exit__()  # its final count
        results["spans_exported"] = collector.spans_received
    return results


def render(figures: dict[str, Any]) -> str:
    lines = ["TransitionBatch with tracing disabled vs enabled (OTLP to a local collector), same run"]
    lines.append(f"  {'conc':>4} | {'off/s':>7} {'p50':>7} {'p99':>7} | {'on/s':>7} {'p50':>7} {'p99':>7} | on/off")
    for key, row in figures.items():
        if not key.startswith("concurrency_"):
            continue
        lines.append(
            f"  {key.removeprefix('concurrency_'):>4} | {row['disabled_per_s']['median']:7.0f} "
            f"{row['disabled_p50_ms']['median']:6.2f}ms {row['disabled_p99_ms']['median']:6.2f}ms | "
            f"{row['enabled_per_s']['median']:7.0f} {row['enabled_p50_ms']['median']:6.2f}ms "
            f"{row['enabled_p99_ms']['median']:6.2f}ms | {row['enabled_to_disabled_ratio']['median']:.2f}"
        )
    for state in ("disabled", "enabled"):
        hooks = figures[f"{state}_hooks"]
        lines.append(
            f"  {state} hooks, per call: stamp {hooks['stamp_ns'] / 1000:.2f} µs, a handler called through traced() "
            f"{hooks['traced_ns'] / 1000:.2f} µs, the relay's span {hooks['sending_ns'] / 1000:.2f} µs "
            f"(sealing one event: {hooks['seal_us']:.1f} µs)"
        )
    lines.append(f"  spans exported while enabled: {figures['spans_exported']}")
    return "\n".join(lines)


def run(calls: int = 600, rounds: int = 6, levels: tuple[int, ...] = CONCURRENCY) -> dict[str, Any]:
    return asyncio.run(measure(calls, rounds, levels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tracing_bench")
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", default=None)
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="e.g. 1,16")
    args = parser.parse_args(argv)
    figures = run(args.calls, args.rounds, tuple(int(c) for c in args.concurrency.split(",")))
    print(render(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
