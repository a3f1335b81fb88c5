"""The validation deadline: pending essays of overdue batches are resolved by rule
(a suggestion scoring at least 0.7 is kept, anything else becomes no match) and the
batch is published. Teacher decisions are never touched.

Safe with any number of CMS replicas: each batch is claimed with
``FOR UPDATE SKIP LOCKED`` and resolved in its own transaction, so two sweepers never
take the same batch and a teacher deciding the batch at that moment either commits
first (the batch is no longer awaiting) or waits and finds it confirmed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from essayflow_runtime.config import Settings
from essayflow_runtime.logs import get_logger
from essayflow_runtime.periodic import Periodic
from services.cms import confirmation, store, validation

log = get_logger(__name__)


class DeadlineSweep:
    """A Worker: sweeps every ``deadline_sweep_interval_s`` until stopped."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self._settings = settings
        self._pool = pool
        self._loop = Periodic("deadline sweep", settings.deadline_sweep_interval_s, self._pass)

    def stop(self) -> None:
        self._loop.stop()

    async def run(self) -> None:
        await self._loop.run()

    async def _pass(self) -> None:
        if resolved := await self.sweep_once():
            log.info("validation deadline passed", batches=resolved)

    async def sweep_once(self, as_of: datetime | None = None) -> int:
        """Resolve every batch overdue at ``as_of`` (default: the database's now) that no one
        else holds; returns how many this call published."""
        resolved = 0
        while not self._loop.stopping and await self._resolve_one(as_of):
            resolved += 1
        return resolved

    async def _resolve_one(self, as_of: datetime | None) -> bool:
        async with self._pool.acquire() as conn, conn.transaction():
            batch = await store.claim_overdue_batch(conn, as_of)
            if batch is None:
                return False
            now = datetime.now(UTC)
            views = await store.batch_associations(conn, batch.batch_id)
            resolutions = [validation.resolve_on_timeout(v.association, now) for v in views if v.association.is_pending]
            await store.apply_resolutions(conn, batch.batch_id, resolutions, only_pending=True)
            if not await confirmation.publish_if_complete(conn, batch, now):
                raise RuntimeError(f"batch {batch.batch_id} still pending after its deadline was applied")
            return True
