"""processed_events rows are pruned past the dedup horizon, by the outbox relay's one
pruning path, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import asyncpg
import pytest
from nats.js import JetStreamContext

from essayflow_runtime import outbox
from essayflow_runtime.config import Settings
from tests.support import eventually

# A horizon the test controls: the floor (ack wait, duplicate window) below it.
HORIZON = dataclasses.replace(Settings(), processed_events_retention_s=3600, ack_wait_s=30, duplicate_window_s=600)


def settings_for(base: Settings, **changes: Any) -> Settings:
    horizon: dict[str, Any] = {
        "processed_events_retention_s": HORIZON.processed_events_retention_s,
        "ack_wait_s": HORIZON.ack_wait_s,
        "duplicate_window_s": HORIZON.duplicate_window_s,
    }
    return dataclasses.replace(base, **{**horizon, **changes})


async def processed(pool: asyncpg.Pool, age_s: float, count: int = 1) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    await pool.executemany(
        "INSERT INTO processed_events (consumer, event_id, event_type, processed_at) "
        "VALUES ('test', $1, 'T', clock_timestamp() - make_interval(secs => $2))",
        [(event_id, age_s) for event_id in ids],
    )
    return ids


async def remaining(pool: asyncpg.Pool) -> set[str]:
    return {r["event_id"] for r in await pool.fetch("SELECT event_id FROM processed_events")}


def test_the_horizon_is_never_shorter_than_a_redelivery_can_come() -> None:
    assert outbox.dedup_horizon_s(HORIZON) == 3600
    short = dataclasses.replace(HORIZON, processed_events_retention_s=1)
    assert outbox.dedup_horizon_s(short) == 600  # the duplicate window
    long_window = dataclasses.replace(short, duplicate_window_s=5000)
    assert outbox.dedup_horizon_s(long_window) == 5000
    long_ack_wait = dataclasses.replace(short, ack_wait_s=900)
    assert outbox.dedup_horizon_s(long_ack_wait) == 900
    defaults = Settings()
    assert outbox.dedup_horizon_s(defaults) > defaults.duplicate_window_s > defaults.ack_wait_s


async def test_rows_past_the_horizon_are_pruned_and_younger_ones_kept(
    settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    old = await processed(pool, age_s=4000, count=3)
    young = await processed(pool, age_s=3000, count=2)
    relay = outbox.OutboxRelay(settings_for(settings), pool, private_js, schema)
    assert await relay.prune() == 3
    assert await remaining(pool) == set(young)
    assert not set(old) & await remaining(pool)


async def test_the_floor_keeps_rows_a_redelivery_may_still_need(
    settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    kept = await processed(pool, age_s=500)  # older than the setting, younger than the duplicate window
    gone = await processed(pool, age_s=700)
    relay = outbox.OutboxRelay(settings_for(settings, processed_events_retention_s=1), pool, private_js, schema)
    assert await relay.prune() == 1
    assert await remaining(pool) == set(kept)
    assert gone


async def test_large_backlogs_are_pruned_in_chunks(
    settings: Settings,
    pool: asyncpg.Pool,
    private_js: JetStreamContext,
    schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "PRUNE_CHUNK", 4)
    await processed(pool, age_s=4000, count=10)
    young = await processed(pool, age_s=10)
    relay = outbox.OutboxRelay(settings_for(settings), pool, private_js, schema)
    assert await relay.prune() == 10
    assert await remaining(pool) == set(young)


async def test_the_running_relay_prunes_them_periodically(
    settings: Settings, pool: asyncpg.Pool, private_js: JetStreamContext, schema: str
) -> None:
    await processed(pool, age_s=4000, count=2)
    young = await processed(pool, age_s=1)
    relay = outbox.OutboxRelay(
        settings_for(settings, outbox_prune_interval_s=0.1, outbox_poll_interval_s=0.2), pool, private_js, schema
    )
    task = asyncio.create_task(relay.run())
    try:
        await eventually(
            lambda: _only(pool, set(young)), timeout_s=20, message="the relay never pruned processed_events"
        )
    finally:
        relay.stop()
        await task


async def _only(pool: asyncpg.Pool, expected: set[str]) -> bool:
    return await remaining(pool) == expected
