"""The text retention sweep: batches terminal for longer than ``text_retention_s`` are
purged through the same path as PurgeBatch (:func:`services.bos.purge.purge`).

Safe with any number of BOS replicas: a purge locks the batch row, and a batch another
replica purged meanwhile is simply purged again (the same event id, dropped as a
duplicate or acted on idempotently)."""

from __future__ import annotations

import asyncpg

from essayflow_runtime.config import Settings
from essayflow_runtime.logs import get_logger
from essayflow_runtime.periodic import Periodic
from services.bos import purge, store
from services.bos.transitions import SERVICE_ACTOR

log = get_logger(__name__)

# Batches purged per query of the sweep (it queries again until none are due).
SWEEP_CHUNK = 100


class TextRetentionSweep:
    """A Worker: sweeps every ``text_retention_sweep_interval_s``; off when the retention is 0."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self._settings = settings
        self._pool = pool
        self._loop = Periodic("text retention sweep", settings.text_retention_sweep_interval_s, self._pass)

    def stop(self) -> None:
        self._loop.stop()

    async def run(self) -> None:
        if self._settings.text_retention_s > 0:
            await self._loop.run()

    async def _pass(self) -> None:
        if purged := await self.sweep_once():
            log.info("texts past retention purged", batches=purged)

    async def sweep_once(self) -> int:
        """Purge every batch due now; returns how many."""
        purged = 0
        while not self._loop.stopping:
            due = await store.due_for_text_retention(self._pool, self._settings.text_retention_s, SWEEP_CHUNK)
            for batch_id in due:
                await purge.purge(
                    self._pool,
                    batch_id,
                    actor=SERVICE_ACTOR,
                    cause=purge.RETENTION_CAUSE,
                    reason=f"terminal for more than {self._settings.text_retention_s:g} s",
                )
                purged += 1
            if len(due) < SWEEP_CHUNK:
                break
        return purged
