"""PostgreSQL with a synchronous streaming-replication standby, and the failover to it.

A primary and a standby from the embedded binaries (``EmbeddedPostgresStandby``); the
clients use the one multi-host URL ``postgresql://…@primary,standby/db?target_session_attrs=
read-write``. Alembic migrates through it, a commit on the primary is on the standby, and after
``kill -9`` of the primary and the standby's promotion a pool made before the failover serves
from the new primary: the failures in between are transient, nothing committed is missing and
commits do not wait for a synchronous standby that no longer exists.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from essayflow_runtime import db, failures, migrations
from essayflow_runtime.embedded import EmbeddedPostgresStandby
from tests.conftest import _create_database
from tests.support import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def pair() -> Iterator[EmbeddedPostgresStandby]:
    # Outside pytest's 0700 temp dir (postgres runs unprivileged when the tests run as root).
    data_dir = Path(tempfile.mkdtemp(prefix="essayflow-pg-standby-"))
    servers = EmbeddedPostgresStandby(data_dir)
    try:
        yield servers.start()
    finally:
        servers.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def _port(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT inet_server_port()"))


async def test_commits_are_synchronous_and_a_pool_follows_the_promoted_standby(pair: EmbeddedPostgresStandby) -> None:
    assert pair.psql(pair.primary, "SELECT state || ' ' || sync_state FROM pg_stat_replication") == "streaming sync"
    assert pair.psql(pair.primary, "SHOW synchronous_commit") == "on"
    assert pair.in_recovery(pair.standby)

    url = await asyncio.to_thread(_create_database, pair.url, migrate=False)
    assert "target_session_attrs=read-write" in url and f",127.0.0.1:{pair.standby.port}/" in url
    await asyncio.to_thread(migrations.upgrade, "bos", url)  # Alembic through the multi-host URL

    pool = await db.create_pool(url, "bos", min_size=2, max_size=4)
    try:
        assert await _port(pool) == pair.primary.port
        for number in range(20):
            await pool.execute(
                "INSERT INTO processed_events (consumer, event_id, event_type) VALUES ('t', $1, 'E')", str(number)
            )
        database = url.rpartition("/")[2].partition("?")[0]

        async def on_standby() -> bool:
            count = "SELECT count(*) FROM bos.processed_events"
            return await asyncio.to_thread(pair.psql, pair.standby, count, database) == "20"

        await eventually(on_standby, timeout_s=10, message="the standby has every committed row")

        await asyncio.to_thread(pair.kill_primary)
        with pytest.raises(Exception) as lost:  # whatever the pool raises, it must be transient
            await pool.fetchval("SELECT count(*) FROM processed_events")
        assert failures.is_transient(lost.value), repr(lost.value)
        # No server accepts writes (the standby still recovers): transient too.
        with pytest.raises(Exception) as refused:
            await db.connect(url, "bos")
        assert failures.is_transient(refused.value), repr(refused.value)

        await asyncio.to_thread(pair.promote)
        assert not pair.in_recovery(pair.standby)

        async def serving_again() -> int | None:
            try:
                return await _port(pool)
            except Exception as error:
                assert failures.is_transient(error), repr(error)
                return None

        assert await eventually(serving_again, timeout_s=10) == pair.standby.port
        assert await pool.fetchval("SELECT count(*) FROM processed_events") == 20, "nothing committed is lost"
        # No synchronous standby is configured any more: a commit returns at once.
        async with asyncio.timeout(5):
            await pool.execute("INSERT INTO processed_events (consumer, event_id, event_type) VALUES ('t', 'x', 'E')")
        # Every connection the pool hands out now is to the new primary.
        async with pool.acquire() as first, pool.acquire() as second:
            ports = {await conn.fetchval("SELECT inet_server_port()") for conn in (first, second)}
        assert ports == {pair.standby.port}
        await asyncio.to_thread(migrations.upgrade, "cms", url)  # Alembic finds the new primary too
    finally:
        await pool.close()
