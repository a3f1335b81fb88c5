"""The slot store's compare-and-set loop against an in-memory stand-in for the KV bucket:
a write that loses the race reads again, binds on the fresh tracker, and is counted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import nats.errors
import pytest
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from prometheus_client import REGISTRY

from essayflow.common.v1 import common_pb2
from services.els import slots
from services.els.slots import Outcome, Upload
from services.els.store import SlotStore, tracker_key


@dataclass
class Entry:
    value: bytes
    revision: int


class RacingBucket:
    """A KV bucket in which another writer binds a slot just before our first update."""

    def __init__(self, first: bytes, rival: Upload) -> None:
        self.values: dict[str, Entry] = {}
        self._first = first
        self._rival: Upload | None = rival

    async def create(self, key: str, value: bytes) -> int:
        self.values[key] = Entry(value, 1)
        return 1

    async def get(self, key: str) -> Entry:
        if key not in self.values:
            raise KeyNotFoundError
        return self.values[key]

    async def update(self, key: str, value: bytes, last: int) -> int:
        current = self.values[key]
        if self._rival is not None:  # the other replica gets there first
            rival_tracker, _ = slots.bind(slots.from_json(current.value), self._rival)
            self.values[key] = current = Entry(slots.to_json(rival_tracker), current.revision + 1)
            self._rival = None
        if last != current.revision:
            raise KeyWrongLastSequenceError
        self.values[key] = Entry(value, current.revision + 1)
        return current.revision + 1


def conflicts() -> float:
    labels = {"service": "els", "record": "slot_tracker"}
    return REGISTRY.get_sample_value("essayflow_compare_and_set_conflicts_total", labels) or 0.0


async def test_a_lost_compare_and_set_reads_again_binds_the_next_slot_and_is_counted() -> None:
    tracker = slots.new_tracker(
        batch_id=str(uuid.uuid4()),
        essay_ids=["essay-0", "essay-1"],
        class_id="",
        course_code=common_pb2.COURSE_CODE_ENG5,
        owner_id="teacher-1",
        correlation_id="corr-1",
    )
    rival = Upload(file_name="rival.txt", text_storage_id="b" * 64)
    bucket = RacingBucket(slots.to_json(tracker), rival)
    store = SlotStore(bucket)  # type: ignore[arg-type]
    assert await store.create(tracker)
    seen = await store.read(tracker.batch_id)
    before = conflicts()

    bound = await store.bind(tracker.batch_id, Upload(file_name="mine.txt", text_storage_id="a" * 64), seen=seen)

    assert bound is not None
    after, binding = bound
    assert binding.outcome is Outcome.BOUND and binding.essay_id == "essay-1"  # the rival took essay-0
    assert [s.file_name for s in after.slots] == ["rival.txt", "mine.txt"]
    assert slots.from_json(bucket.values[tracker_key(tracker.batch_id)].value) == after
    assert conflicts() == before + 1


class LostAckBucket(RacingBucket):
    """A KV bucket whose first update times out: applied or not (a PubAck lost while the
    stream's leader changes, or the write never reached it)."""

    def __init__(self, *, applied: bool) -> None:
        super().__init__(b"", Upload(file_name="unused.txt"))
        self._rival = None
        self._applied = applied
        self.timeouts = 0

    async def update(self, key: str, value: bytes, last: int) -> int:
        if self.timeouts == 0:
            self.timeouts += 1
            if self._applied:
                await super().update(key, value, last)
            raise nats.errors.TimeoutError
        return await super().update(key, value, last)


def _tracker() -> slots.Tracker:
    return slots.new_tracker(
        batch_id=str(uuid.uuid4()),
        essay_ids=["essay-0", "essay-1"],
        class_id="",
        course_code=common_pb2.COURSE_CODE_ENG5,
        owner_id="teacher-1",
        correlation_id="corr-1",
    )


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
async def test_an_update_that_timed_out_is_retried_and_binds_one_slot_once(applied: bool) -> None:
    tracker = _tracker()
    bucket = LostAckBucket(applied=applied)
    store = SlotStore(bucket)  # type: ignore[arg-type]
    assert await store.create(tracker)
    mine = Upload(file_name="mine.txt", text_storage_id="a" * 64)

    bound = await store.bind(tracker.batch_id, mine)

    assert bound is not None and bucket.timeouts == 1
    after, binding = bound
    assert binding.outcome is Outcome.BOUND and binding.essay_id == "essay-0"
    assert [s.file_name for s in after.slots] == ["mine.txt", ""], "one slot, not two"
    assert slots.from_json(bucket.values[tracker_key(tracker.batch_id)].value) == after
    # The teacher's own retry of the upload (its answer lost too) finds it bound by its key.
    again = await store.bind(tracker.batch_id, mine)
    assert again is not None and again[1].outcome is Outcome.DUPLICATE and again[0] == after
