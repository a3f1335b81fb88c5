"""WatchBatch: a batch's current state, then every status change as it commits.

The history table is the source: a trigger NOTIFYs on every inserted transition, so a
change committed by any replica wakes the watchers on every replica. One LISTEN
connection per process (:class:`BatchChangeFeed`) fans the notifications out; each
watcher then reads the new history rows itself, and only then: a watcher does not poll.
Notifications sent while the listener was reconnecting are covered by waking every
watcher once it listens again (they read what they missed).

Streams are capped per caller and per process (``watch_max_per_caller``,
``watch_max_total``): one more is RESOURCE_EXHAUSTED with ErrorInfo
``WATCH_LIMIT_REACHED`` naming the limit, so one client cannot hold every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator

import asyncpg

from essayflow.bos.v1 import bos_pb2
from essayflow_runtime import db
from essayflow_runtime.auth import Principal
from essayflow_runtime.config import Settings
from essayflow_runtime.errors import ResourceExhausted
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import WATCH_REFUSED, WATCH_STREAMS
from services.bos import commands, encoding, store
from services.bos.state_machine import TERMINAL_STATUSES

log = get_logger(__name__)


class BatchChangeFeed:
    """Wakes the watchers of a batch when any replica commits a transition of it. A Worker."""

    def __init__(self, settings: Settings, schema: str = "bos") -> None:
        self._settings = settings
        self._schema = schema
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._streams: dict[str, int] = defaultdict(int)  # open streams per caller
        self._stopping = asyncio.Event()

    @contextlib.contextmanager
    def admit(self, caller: str) -> Iterator[None]:
        """Hold one of the caller's and one of the process's stream places, or refuse."""
        per_caller, total = self._settings.watch_max_per_caller, self._settings.watch_max_total
        open_total = sum(self._streams.values())
        if open_total >= total:
            raise self._refuse("total", total, open_total)
        if self._streams[caller] >= per_caller:
            raise self._refuse("per_caller", per_caller, self._streams[caller])
        self._streams[caller] += 1
        WATCH_STREAMS.inc()
        try:
            yield
        finally:
            WATCH_STREAMS.dec()
            self._streams[caller] -= 1
            if not self._streams[caller]:
                del self._streams[caller]

    @staticmethod
    def _refuse(limit: str, maximum: int, current: int) -> ResourceExhausted:
        WATCH_REFUSED.labels(limit).inc()
        return ResourceExhausted(
            f"too many WatchBatch streams open ({limit} limit {maximum}); close one and retry",
            reason="WATCH_LIMIT_REACHED",
            metadata={"limit": limit, "max_streams": str(maximum), "open_streams": str(current)},
        )

    @contextlib.contextmanager
    def subscribe(self, batch_id: str) -> Iterator[asyncio.Event]:
        wake = asyncio.Event()
        self._waiters[batch_id].add(wake)
        try:
            yield wake
        finally:
            self._waiters[batch_id].discard(wake)
            if not self._waiters[batch_id]:
                del self._waiters[batch_id]

    def _notify(self, batch_id: str) -> None:
        for wake in self._waiters.get(batch_id, ()):
            wake.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for wake in waiters:
                wake.set()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await db.listen(
            self._settings.database_url,
            self._schema,
            store.CHANGES_CHANNEL,
            on_notify=self._notify,
            on_connected=self._wake_all,  # catch up on changes committed while nobody listened
            stopping=self._stopping,
        )


async def watch(
    pool: asyncpg.Pool, feed: BatchChangeFeed, principal: Principal, batch_id: str
) -> AsyncIterator[bos_pb2.WatchBatchResponse]:
    """Ends after a terminal status has been sent; otherwise runs until the caller leaves."""
    # Admitted first (a refused caller costs no query); subscribed before reading, so a
    # change committed in between still wakes us.
    with feed.admit(principal.subject), feed.subscribe(batch_id) as wake:
        batch, essays = await commands.get(pool, principal, batch_id)
        yield bos_pb2.WatchBatchResponse(batch=encoding.batch(batch, essays))
        seen = batch.version
        while batch.status not in TERMINAL_STATUSES:
            await wake.wait()
            wake.clear()
            changes = await store.list_transitions(pool, batch_id, after_version=seen)
            if not changes:
                continue
            batch, essays = await commands.get(pool, principal, batch_id)
            for change in changes:
                # The row as of this change: its status and version, the rest as it is now.
                as_of = dataclasses.replace(batch, status=change.to_status, version=change.version)
                yield bos_pb2.WatchBatchResponse(
                    batch=encoding.batch(as_of, essays), transition=encoding.transition(change)
                )
                seen = change.version
            batch = dataclasses.replace(batch, status=changes[-1].to_status)
