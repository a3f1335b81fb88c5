"""The stalled-batch gauges: batches by status, and the oldest wait per non-terminal status.

A worker refreshes them every ``batch_wait_stats_interval_s`` from one aggregate query over the
``(status, status_changed_at)`` index, so a scrape never touches the database. Every replica
reports the same figures (they are the database's, not the process's).
"""

from __future__ import annotations

import asyncpg

from essayflow.common.v1 import common_pb2
from essayflow_runtime.config import Settings
from essayflow_runtime.enums import to_db
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import BATCH_OLDEST_WAIT, BATCHES_BY_STATUS
from essayflow_runtime.periodic import Periodic
from services.bos import store
from services.bos.state_machine import TERMINAL_STATUSES

log = get_logger(__name__)

_STATUSES = [v.number for v in common_pb2.BatchStatus.DESCRIPTOR.values if v.number]


def publish(waits: list[store.StatusWait]) -> None:
    """Set every status's gauges (zero for a status no batch is in, so none goes stale)."""
    by_status = {w.status: w for w in waits}
    for status in _STATUSES:
        label = to_db(common_pb2.BatchStatus, status)
        found = by_status.get(status)
        BATCHES_BY_STATUS.labels(label).set(found.count if found else 0)
        if status not in TERMINAL_STATUSES:
            BATCH_OLDEST_WAIT.labels(label).set(found.oldest_wait_s if found else 0)


class BatchWaitStats:
    """A Worker: refreshes the gauges until stopped; a failed refresh is retried next time."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._loop = Periodic("batch wait gauges", settings.batch_wait_stats_interval_s, self.refresh)

    def stop(self) -> None:
        self._loop.stop()

    async def refresh(self) -> None:
        publish(await store.waits_by_status(self._pool))

    async def run(self) -> None:
        await self._loop.run()
