"""TransitionBatch through gRPC next to the same transaction issued directly with asyncpg.

The BOS server runs in a process of its own; this process is the load generator for
both sides, on the same database, in the same run. Each call moves one fresh GUEST
batch AWAITING_CONTENT_VALIDATION → CANCELLED: a read, then one statement for the
compare-and-set, the history row and the outbox event.

    python -m bench.transition_bench [--calls 1500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from bench.infra import bench_infrastructure
from bench.stats import percentile, summary
from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_cli.stack import Stack
from essayflow_runtime import contracts, db, migrations
from essayflow_runtime.auth import mint_service_token
from essayflow_runtime.config import load_settings
from essayflow_runtime.embedded import free_port
from essayflow_runtime.enums import to_db
from essayflow_runtime.grpc_client import wait_until_serving
from services.bos import store

CONCURRENCY = (1, 16, 64)
ACV = common_pb2.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
CANCELLED = common_pb2.BATCH_STATUS_CANCELLED


async def create_batches(pool: asyncpg.Pool, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows = [
        (
            batch_id,
            "bench-teacher",
            to_db(common_pb2.BatchType, common_pb2.BATCH_TYPE_GUEST),
            to_db(common_pb2.CourseCode, common_pb2.COURSE_CODE_ENG5),
            1,
            [uuid.uuid4()],
            to_db(common_pb2.BatchStatus, ACV),
            batch_id,
        )
        for batch_id in ids
    ]
    await pool.executemany(
        "INSERT INTO batches (batch_id, owner_id, batch_type, course_code, expected_essay_count, essay_ids, "
        "status, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        rows,
    )
    return ids


async def direct_transition(pool: asyncpg.Pool, batch_id: str) -> None:
    """The baseline: the same two statements BOS issues — read the batch, then the one
    statement that compare-and-sets it (on the row version read) and writes the history
    row and the outbox event (``store.record_transition``) — called by hand: no gRPC,
    no authentication, no idempotency key, no state-machine checks."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, version, xmin FROM batches WHERE batch_id = $1", batch_id)
        assert row is not None and row["status"] == to_db(common_pb2.BatchStatus, ACV)
        transition = store.TransitionRecord(
            batch_id=batch_id,
            version=row["version"] + 1,
            from_status=ACV,
            to_status=CANCELLED,
            cause="rpc:TransitionBatch",
            actor="service:bench",
            idempotency_key=str(uuid.uuid4()),
            correlation_id=batch_id,
            reason="",
            occurred_at=datetime.now(UTC),
        )
        event = contracts.seal(
            bos_events_pb2.BatchStatusChanged(batch_id=batch_id, from_status=ACV, to_status=CANCELLED, version=1),
            source="bos",
            correlation_id=batch_id,
            event_id=contracts.derived_event_id(f"{batch_id}:1", bos_events_pb2.BatchStatusChanged),
        )
        assert await store.record_transition(conn, transition, event, unchanged_since=row["xmin"])


def request_rules_cost(samples: int = 20000) -> dict[str, float]:
    """What the interceptor's request check costs one TransitionBatch call, in microseconds: the
    buf.validate rules (protovalidate, one validator per process, its rules compiled on first use)
    with the text rule, next to the text rule alone and to a validator made afresh for each call."""
    import protovalidate

    from essayflow_runtime import input_rules

    request = bos_pb2.TransitionBatchRequest(
        batch_id=str(uuid.uuid4()),
        expected_status=ACV,
        target_status=CANCELLED,
        idempotency_key=str(uuid.uuid4()),
        reason="bench",
    )

    def per_call(check: Any, n: int) -> float:
        check(request)  # the first call compiles the message's rules
        started = time.perf_counter()
        for _ in range(n):
            check(request)
        return (time.perf_counter() - started) / n * 1e6

    return {
        "check_request_us": per_call(input_rules.check_request, samples),
        "text_rule_only_us": per_call(lambda r: input_rules.violations(r, limits=False), samples),
        "fresh_validator_us": per_call(lambda r: protovalidate.Validator().collect_violations(r), samples // 20),
    }


async def drive(batch_ids: list[str], concurrency: int, call: Any) -> dict[str, float]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for batch_id in batch_ids:
        queue.put_nowait(batch_id)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            batch_id = queue.get_nowait()
            started = time.perf_counter()
            await call(batch_id)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"per_s": len(batch_ids) / elapsed, "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


async def measure(calls: int, rounds: int, levels: tuple[int, ...] = CONCURRENCY) -> dict[str, Any]:
    with bench_infrastructure() as infra:
        await asyncio.to_thread(migrations.upgrade, "bos", infra.database_url)
        port = free_port()
        env = {
            "ESSAYFLOW_BOS_PORT": str(port),
            "ESSAYFLOW_METRICS_ENABLED": "0",
            "ESSAYFLOW_LOG_LEVEL": "WARNING",
        }
        settings = load_settings(database_url=infra.database_url, nats_url=infra.nats_url, bos_port=port)
        stack = Stack(settings=settings, infra=infra)
        log = Path(infra.postgres.data_dir if infra.postgres else ".").parent / "bos-bench.log"
        stack.start_service("bos", env, out=log.open("a", encoding="utf-8"))
        pool = await db.create_pool(infra.database_url, "bos", min_size=4, max_size=max(CONCURRENCY) + 2)
        token = mint_service_token(settings, "bench", "bos", ttl_s=settings.service_token_max_ttl_s)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        stub = bos_pb2_grpc.BatchOrchestratorServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        try:
            await wait_until_serving(settings, [f"127.0.0.1:{port}"])

            async def via_grpc(batch_id: str) -> None:
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

            async def direct(batch_id: str) -> None:
                await direct_transition(pool, batch_id)

            results: dict[str, Any] = {}
            for concurrency in levels:
                count = calls // 4 if concurrency == 1 else calls
                grpc_rounds, direct_rounds = [], []
                for _ in range(rounds):
                    grpc_rounds.append(await drive(await create_batches(pool, count), concurrency, via_grpc))
                    direct_rounds.append(await drive(await create_batches(pool, count), concurrency, direct))
                results[f"concurrency_{concurrency}"] = {
                    "calls_per_round": count,
                    "grpc_per_s": summary([r["per_s"] for r in grpc_rounds]),
                    "grpc_p50_ms": summary([r["p50_ms"] for r in grpc_rounds]),
                    "grpc_p99_ms": summary([r["p99_ms"] for r in grpc_rounds]),
                    "asyncpg_per_s": summary([r["per_s"] for r in direct_rounds]),
                    "asyncpg_p50_ms": summary([r["p50_ms"] for r in direct_rounds]),
                    "asyncpg_p99_ms": summary([r["p99_ms"] for r in direct_rounds]),
                    "grpc_to_asyncpg_ratio": summary(
                        [g["per_s"] / d["per_s"] for g, d in zip(grpc_rounds, direct_rounds, strict=True)]
                    ),
                }
            results["request_rules"] = request_rules_cost()
            return results
        finally:
            await channel.close()
            await pool.close()
            stack.stop_services()


def render(figures: dict[str, Any]) -> str:
    lines = ["TransitionBatch via gRPC vs the same transaction via asyncpg (same database, same run)"]
    lines.append(
        f"  {'conc':>4} | {'gRPC/s':>8} {'p50':>7} {'p99':>7} | {'asyncpg/s':>9} {'p50':>7} {'p99':>7} | ratio"
    )
    for key, row in figures.items():
        if not key.startswith("concurrency_"):
            continue
        lines.append(
            f"  {key.removeprefix('concurrency_'):>4} | {row['grpc_per_s']['median']:8.0f} "
            f"{row['grpc_p50_ms']['median']:6.2f}ms {row['grpc_p99_ms']['median']:6.2f}ms | "
            f"{row['asyncpg_per_s']['median']:9.0f} {row['asyncpg_p50_ms']['median']:6.2f}ms "
            f"{row['asyncpg_p99_ms']['median']:6.2f}ms | {row['grpc_to_asyncpg_ratio']['median']:.2f}"
        )
    rules = figures.get("request_rules")
    if rules:
        base = figures.get("concurrency_1", {}).get("grpc_p50_ms", {}).get("median")
        share = (
            f" = {rules['check_request_us'] / (base * 1000) * 100:.1f}% of the call's p50 at concurrency 1"
            if base
            else ""
        )
        lines.append(
            "  request rules (buf.validate + text rule, in the interceptor): "
            f"{rules['check_request_us']:.1f} µs/call{share}; text rule alone {rules['text_rule_only_us']:.1f} µs; "
            f"a validator made per call {rules['fresh_validator_us']:.0f} µs"
        )
    return "\n".join(lines)


def run(calls: int = 1500, rounds: int = 3, levels: tuple[int, ...] = CONCURRENCY) -> dict[str, Any]:
    return asyncio.run(measure(calls, rounds, levels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transition_bench")
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="e.g. 1,16,64")
    args = parser.parse_args(argv)
    figures = run(args.calls, args.rounds, tuple(int(c) for c in args.concurrency.split(",")))
    print(render(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
