"""All of ELS's state, in one JetStream KV bucket: every read and write is here.

Keys (valid NATS KV keys):
- ``batch.<batch_id>``   the slot tracker (JSON, see :mod:`services.els.slots`)
- ``pending.<batch_id>`` uploads that arrived before the batch was registered (JSON list)

Every change is a compare-and-set on the key's revision (``kv.update(..., last=rev)``);
a writer that loses the race re-reads and re-applies its change, so any number of
replicas can bind slots of one batch at once without losing or doubling one.

Growth is bounded (:class:`Limits`): every write of a tracker or a pending list carries a
per-message TTL (``Nats-TTL``, nats-server 2.11+, on a bucket with ``allow_msg_ttl``), so
a key expires that long after its last change; the excess list of a tracker is capped
(only the number of dropped uploads is kept beyond it), and so is a pending list.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import Header, KeyValueConfig, StorageType
from nats.js.client import KV_PRE_TEMPLATE
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue

from essayflow_runtime import bus
from essayflow_runtime.config import Settings
from essayflow_runtime.errors import ResourceExhausted, Unavailable
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


# A read or write JetStream did not answer: during a leader election (a cluster), or
# while the connection is being re-established. A write may have been applied all the same.
UNCONFIRMED = (nats.errors.TimeoutError, nats.errors.NoRespondersError)

# JetStream's "wrong last sequence" API errors: a compare-and-set that lost.
_WRONG_LAST_SEQUENCE = (10071, 10164)


@dataclass(frozen=True)
class Limits:
    """How far ELS's keys may grow, and how long they live (None: no expiry)."""

    tracker_ttl_s: float | None = None
    pending_ttl_s: float | None = None
    max_excess: int = slots.DEFAULT_MAX_EXCESS
    max_pending: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            tracker_ttl_s=settings.els_tracker_ttl_s or None,
            pending_ttl_s=settings.els_pending_ttl_s or None,
            max_excess=settings.els_max_excess,
            max_pending=settings.els_max_pending,
        )


async def open_slot_bucket(js: JetStreamContext, bucket: str, *, replicas: int | None = None) -> KeyValue:
    """The slot bucket, created by whichever replica starts first.

    Reads use JetStream's direct get (``allow_direct``): the value comes back as a plain
    message, where the stream-message API wraps it in JSON and base64 that nats-py
    decodes on every read, the hottest call of an upload. ``replicas``: the bucket's copies
    (1 when None) when it is created, and what an existing one is changed to when given."""
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            config=KeyValueConfig(
                bucket=bucket,
                description="essayflow ELS slot trackers and pending uploads",
                history=1,
                storage=StorageType.FILE,
                replicas=replicas or 1,
                direct=True,
            )
        )
    changed = await bus.allow_direct_get(js, f"KV_{bucket}")
    changed = await bus.allow_msg_ttl(js, f"KV_{bucket}") or changed
    if replicas is not None:
        changed = await bus.ensure_replicas(js, f"KV_{bucket}", replicas) or changed
    if changed:
        kv = await js.key_value(bucket)  # nats-py decides how to read when it opens the bucket
    return kv


@dataclass(frozen=True)
class Versioned:
    tracker: Tracker
    revision: int


class SlotStore:
    def __init__(
        self, kv: KeyValue, *, js: JetStreamContext | None = None, bucket: str = "", limits: Limits | None = None
    ) -> None:
        """With ``limits`` that expire keys, ``js`` and ``bucket`` are needed too: nats-py's
        ``KeyValue.update`` cannot send a TTL, so a compare-and-set with one is published here."""
        self._kv = kv
        self._limits = limits or Limits()
        self._js = js
        self._prefix = KV_PRE_TEMPLATE.format(bucket=bucket)
        self._writers = _KeyedLocks()
        if (self._limits.tracker_ttl_s or self._limits.pending_ttl_s) and (js is None or not bucket):
            raise ValueError("expiring keys need the JetStream context and the bucket name")

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
            await self._create(tracker_key(tracker.batch_id), slots.to_json(tracker), self._limits.tracker_ttl_s)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def bind(
        self, batch_id: str, upload: Upload, *, seen: Versioned | None = None
    ) -> tuple[Tracker, Binding] | None:
        """Bind ``upload`` with compare-and-set; None if the batch has no tracker yet.

        ``seen``, a tracker the caller has just read, is the first attempt's starting
        point; if it is stale by now the compare-and-set fails and a fresh read follows."""
        max_excess = self._limits.max_excess
        return await self._change_tracker(
            batch_id, lambda tracker: slots.bind(tracker, upload, max_excess=max_excess), seen=seen
        )

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
            if len(uploads) >= self._limits.max_pending:
                raise ResourceExhausted(
                    f"batch {batch_id} has {len(uploads)} uploads waiting for its registration already",
                    reason="TOO_MANY_PENDING_UPLOADS",
                    metadata={"batch_id": batch_id, "max_pending": str(self._limits.max_pending)},
                )
            return [*uploads, upload]

        await self._change_pending(batch_id, add)

    async def remove_pending(self, batch_id: str, keys: Sequence[str]) -> None:
        gone = set(keys)
        await self._change_pending(batch_id, lambda uploads: [u for u in uploads if u.key not in gone])

    # --- compare-and-set ----------------------------------------------------------

    async def _get_raw(self, key: str) -> tuple[bytes, int] | None:
        try:
            entry = await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):  # never written, or purged
            return None
        return entry.value or b"", entry.revision or 0

    async def _change_tracker(
        self, batch_id: str, change: Callable[[Tracker], tuple[Tracker, T]], *, seen: Versioned | None = None
    ) -> tuple[Tracker, T] | None:
        async with self._writers.held(tracker_key(batch_id)):
            return await self._change_tracker_once_held(batch_id, change, seen=seen)

    async def _change_tracker_once_held(
        self, batch_id: str, change: Callable[[Tracker], tuple[Tracker, T]], *, seen: Versioned | None
    ) -> tuple[Tracker, T] | None:
        retry = _Retry(f"tracker {batch_id}", "slot_tracker")
        # What a write that timed out would have made of the tracker, and what it returned.
        unconfirmed: tuple[Tracker, T] | None = None
        while True:
            try:
                current, seen = seen or await self.read(batch_id), None
            except UNCONFIRMED:
                await retry.after_timeout()
                continue
            if current is None:
                return None
            if unconfirmed is not None and current.tracker == unconfirmed[0]:
                # The write that timed out was applied (a PubAck lost in a leader election).
                return unconfirmed
            updated, result = change(current.tracker)
            if updated == current.tracker:
                return updated, result
            try:
                await self._update(
                    tracker_key(batch_id), slots.to_json(updated), current.revision, self._limits.tracker_ttl_s
                )
            except KeyWrongLastSequenceError:
                await retry.after_conflict()
                continue
            except UNCONFIRMED:
                # Applied or not, the compare-and-set on the revision makes the retry safe: a
                # second write of the same change conflicts, and the fresh read shows the first
                # one (an upload already bound is DUPLICATE by its key, never a second slot).
                unconfirmed = (updated, result)
                await retry.after_timeout()
                continue
            return updated, result

    async def _change_pending(self, batch_id: str, change: Callable[[list[Upload]], list[Upload]]) -> None:
        key = pending_key(batch_id)
        async with self._writers.held(key):
            await self._change_pending_held(key, batch_id, change)

    async def _change_pending_held(
        self, key: str, batch_id: str, change: Callable[[list[Upload]], list[Upload]]
    ) -> None:
        retry = _Retry(f"pending uploads of {batch_id}", "pending_uploads")
        while True:
            try:
                raw = await self._get_raw(key)
            except UNCONFIRMED:
                await retry.after_timeout()
                continue
            uploads = slots.uploads_from_json(raw[0]) if raw else []
            updated = change(uploads)
            if updated == uploads:
                return
            ttl = self._limits.pending_ttl_s
            try:
                if raw is None:
                    await self._create(key, slots.uploads_to_json(updated), ttl)
                else:
                    await self._update(key, slots.uploads_to_json(updated), raw[1], ttl)
            except KeyWrongLastSequenceError:
                await retry.after_conflict()
                continue
            except UNCONFIRMED:
                # The change is applied to what the next read shows: if this write was applied,
                # the change finds nothing to do (pending uploads are kept by their key).
                await retry.after_timeout()
                continue
            return

    async def _create(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is None:
            await self._kv.create(key, value)
        else:
            await self._kv.create(key, value, msg_ttl=ttl)

    async def _update(self, key: str, value: bytes, last: int, ttl: float | None) -> None:
        """Compare-and-set on ``last``, with the key's TTL renewed by this write."""
        if ttl is None:
            await self._kv.update(key, value, last=last)
            return
        assert self._js is not None
        try:
            await self._js.publish(
                self._prefix + key, value, headers={Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(last)}, msg_ttl=ttl
            )
        except APIError as err:
            if err.err_code in _WRONG_LAST_SEQUENCE:
                raise KeyWrongLastSequenceError(description=err.description) from err
            raise

    # --- purge ------------------------------------------------------------------

    async def forget(self, batch_id: str) -> None:
        """Remove the batch's tracker and pending uploads, every revision of them
        (``kv.purge``). The purge markers expire like pending lists do."""
        for key in (tracker_key(batch_id), pending_key(batch_id)):
            if self._limits.pending_ttl_s is None:
                await self._kv.purge(key)
            else:
                await self._kv.purge(key, msg_ttl=self._limits.pending_ttl_s)

    async def text_ids_in_use(self, *, except_batch: str) -> set[str]:
        """Every text id a tracker or pending list other than ``except_batch``'s holds:
        texts are content-addressed, so two batches may share one."""
        in_use: set[str] = set()
        try:
            keys = await self._kv.keys()
        except NoKeysError:
            return in_use
        for key in keys:
            kind, _, batch_id = key.partition(".")
            if batch_id == except_batch or kind not in ("batch", "pending"):
                continue
            raw = await self._get_raw(key)
            if raw is None or not raw[0]:
                continue
            if kind == "batch":
                in_use |= slots.text_ids(slots.from_json(raw[0]))
            else:
                in_use |= {u.text_storage_id for u in slots.uploads_from_json(raw[0]) if u.text_storage_id}
        return in_use


class _KeyedLocks:
    """One writer per key at a time within this process.

    The compare-and-set still decides between replicas; this only stops the uploads of
    one batch that a replica handles at once (a consumer's fetched messages, concurrent
    RPCs) from colliding with each other, each collision costing a read, a decode and an
    encode of the whole tracker (up to a megabyte) again."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class _Retry:
    """Jittered exponential backoff between compare-and-set attempts, so many
    writers on one key spread out instead of colliding in lockstep."""

    def __init__(self, what: str, record: str) -> None:
        self._what = what
        self._record = record  # the metric label: which kind of key
        self._attempt = 0
        self._deadline = time.monotonic() + CAS_DEADLINE_S

    async def after_timeout(self) -> None:
        """A read or write that JetStream did not answer (an election under way)."""
        self._attempt += 1
        if time.monotonic() > self._deadline:
            log.warning("slot store kept timing out", key=self._what, attempts=self._attempt)
            raise Unavailable(
                f"the slot store did not answer for {self._what}; retry",
                reason="DEPENDENCY_UNAVAILABLE",
                metadata={"attempts": str(self._attempt)},
            )
        await asyncio.sleep(min(1.0, 0.05 * 2 ** min(self._attempt, 5)))

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
