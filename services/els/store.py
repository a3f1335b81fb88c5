"""All of ELS's state, in one JetStream KV bucket: every read and write is here.

Keys (valid NATS KV keys):
- ``batch.<batch_id>``   the slot tracker (JSON, see :mod:`services.els.slots`)
- ``pending.<batch_id>`` uploads that arrived before the batch was registered (JSON list)

Every change is a compare-and-set on the key's revision (``kv.update(..., last=rev)``);
a writer that loses the race re-reads and re-applies its change, so any number of
replicas can bind slots of one batch at once without losing or doubling one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from essayflow_runtime import bus
from essayflow_runtime.errors import Unavailable
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import CAS_CONFLICTS
from services.els import slots
from services.els.slots import Binding, Tracker, Upload

log = get_logger(__name__)

T = TypeVar("T")

# How long one change may keep losing compare-and-set races before giving up
# (the caller then retries: a nak for events, UNAVAILABLE for RPCs).
CAS_DEADLINE_S = 20.0
CAS_MAX_BACKOFF_S = 0.05


def tracker_key(batch_id: str) -> str:
    return f"batch.{batch_id}"


def pending_key(batch_id: str) -> str:
    return f"pending.{batch_id}"


async def open_slot_bucket(js: JetStreamContext, bucket: str, *, replicas: int = 1) -> KeyValue:
    """The slot bucket, created by whichever replica starts first.

    Reads use JetStream's direct get (``allow_direct``): the value comes back as a plain
    message, where the stream-message API wraps it in JSON and base64 that nats-py
    decodes on every read, the hottest call of an upload."""
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            config=KeyValueConfig(
                bucket=bucket,
                description="essayflow ELS slot trackers and pending uploads",
                history=1,
                storage=StorageType.FILE,
                replicas=replicas,
                direct=True,
            )
        )
    if await bus.allow_direct_get(js, f"KV_{bucket}"):
        kv = await js.key_value(bucket)  # nats-py decides how to read when it opens the bucket
    return kv


@dataclass(frozen=True)
class Versioned:
    tracker: Tracker
    revision: int


class SlotStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    # --- trackers ---------------------------------------------------------------

    async def get(self, batch_id: str) -> Tracker | None:
        found = await self.read(batch_id)
        return found.tracker if found else None

    async def read(self, batch_id: str) -> Versioned | None:
        """The tracker with its revision: pass it to :meth:`bind` as ``seen`` to save a read."""
        raw = await self._get_raw(tracker_key(batch_id))
        if raw is None:
            return None
        return Versioned(slots.from_json(raw[0]), raw[1])

    async def wait_for(
        self, batch_id: str, timeout_s: float, accept: Callable[[Tracker], bool] = lambda _: True
    ) -> Versioned | None:
        """The tracker, waiting up to ``timeout_s`` for a registration still in flight; None
        if by then there is none that ``accept`` takes. A tracker ``accept`` refuses is
        waited past like a missing one, so the caller cannot tell the two apart by when
        the answer comes."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        delay = 0.01
        while True:
            found = await self.read(batch_id)
            if found is not None and accept(found.tracker):
                return found
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def create(self, tracker: Tracker) -> bool:
        """Create the tracker; False (and nothing written) if it already exists."""
        try:
            await self._kv.create(tracker_key(tracker.batch_id), slots.to_json(tracker))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def bind(
        self, batch_id: str, upload: Upload, *, seen: Versioned | None = None
    ) -> tuple[Tracker, Binding] | None:
        """Bind ``upload`` with compare-and-set; None if the batch has no tracker yet.

        ``seen``, a tracker the caller has just read, is the first attempt's starting
        point; if it is stale by now the compare-and-set fails and a fresh read follows."""
        return await self._change_tracker(batch_id, lambda tracker: slots.bind(tracker, upload), seen=seen)

    async def mark_completion_published(self, batch_id: str) -> None:
        await self._change_tracker(batch_id, lambda tracker: (slots.mark_completion_published(tracker), None))

    # --- pending uploads --------------------------------------------------------

    async def pending(self, batch_id: str) -> list[Upload]:
        entry = await self._get_raw(pending_key(batch_id))
        return slots.uploads_from_json(entry[0]) if entry else []

    async def add_pending(self, batch_id: str, upload: Upload) -> None:
        def add(uploads: list[Upload]) -> list[Upload]:
            if any(kept.key == upload.key for kept in uploads):
                return uploads
            return [*uploads, upload]

        await self._change_pending(batch_id, add)

    async def remove_pending(self, batch_id: str, keys: Sequence[str]) -> None:
        gone = set(keys)
        await self._change_pending(batch_id, lambda uploads: [u for u in uploads if u.key not in gone])

    # --- compare-and-set ----------------------------------------------------------

    async def _get_raw(self, key: str) -> tuple[bytes, int] | None:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return entry.value or b"", entry.revision or 0

    async def _change_tracker(
        self, batch_id: str, change: Callable[[Tracker], tuple[Tracker, T]], *, seen: Versioned | None = None
    ) -> tuple[Tracker, T] | None:
        retry = _Retry(f"tracker {batch_id}", "slot_tracker")
        while True:
            current, seen = seen or await self.read(batch_id), None
            if current is None:
                return None
            updated, result = change(current.tracker)
            if updated == current.tracker:
                return updated, result
            try:
                await self._kv.update(tracker_key(batch_id), slots.to_json(updated), last=current.revision)
            except KeyWrongLastSequenceError:
                await retry.after_conflict()
                continue
            return updated, result

    async def _change_pending(self, batch_id: str, change: Callable[[list[Upload]], list[Upload]]) -> None:
        key = pending_key(batch_id)
        retry = _Retry(f"pending uploads of {batch_id}", "pending_uploads")
        while True:
            raw = await self._get_raw(key)
            uploads = slots.uploads_from_json(raw[0]) if raw else []
            updated = change(uploads)
            if updated == uploads:
                return
            try:
                if raw is None:
                    await self._kv.create(key, slots.uploads_to_json(updated))
                else:
                    await self._kv.update(key, slots.uploads_to_json(updated), last=raw[1])
            except KeyWrongLastSequenceError:
                await retry.after_conflict()
                continue
            return


class _Retry:
    """Jittered exponential backoff between compare-and-set attempts, so many
    writers on one key spread out instead of colliding in lockstep."""

    def __init__(self, what: str, record: str) -> None:
        self._what = what
        self._record = record  # the metric label: which kind of key
        self._attempt = 0
        self._deadline = time.monotonic() + CAS_DEADLINE_S

    async def after_conflict(self) -> None:
        self._attempt += 1
        CAS_CONFLICTS.labels("els", self._record).inc()
        if time.monotonic() > self._deadline:
            log.warning("compare-and-set kept conflicting", key=self._what, attempts=self._attempt)
            raise Unavailable(
                f"too many concurrent changes to {self._what}; retry",
                reason="SLOT_TRACKER_CONTENDED",
                metadata={"attempts": str(self._attempt)},
            )
        ceiling = min(CAS_MAX_BACKOFF_S, 0.001 * 2 ** min(self._attempt, 10))
        await asyncio.sleep(random.uniform(0, ceiling))
