"""The slot tracker's one binding rule, without any I/O."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2
from essayflow_runtime import contracts, enums
from services.els import slots
from services.els.slots import Outcome, Tracker, Upload

TOO_SHORT = common_pb2.ESSAY_VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT


def tracker(count: int = 3) -> Tracker:
    return slots.new_tracker(
        batch_id=str(uuid.uuid4()),
        essay_ids=[f"essay-{i}" for i in range(count)],
        class_id="class-1",
        course_code=common_pb2.COURSE_CODE_SV2,
        owner_id="teacher-1",
        correlation_id="corr-1",
    )


def text(n: int) -> Upload:
    return Upload(file_name=f"e{n}.txt", text_storage_id=f"{n:064x}")


def failure(name: str, upload_id: str = "") -> Upload:
    return Upload(file_name=name, file_upload_id=upload_id, error_code=TOO_SHORT, error_message="short")


def test_a_new_tracker_has_one_free_slot_per_essay_id() -> None:
    fresh = tracker(3)
    assert [s.essay_id for s in fresh.slots] == ["essay-0", "essay-1", "essay-2"]
    assert all(s.is_free for s in fresh.slots)
    assert not fresh.completed and not slots.is_complete(fresh)
    assert fresh.completion_event_id == contracts.derived_event_id(
        fresh.batch_id, els_events_pb2.BatchContentProvisioningCompleted
    )


def test_a_batch_without_slots_is_complete_at_once() -> None:
    assert tracker(0).completed


def test_uploads_take_the_first_free_slot() -> None:
    one, first = slots.bind(tracker(), text(1))
    two, second = slots.bind(one, text(2))
    assert (first.outcome, first.essay_id) == (Outcome.BOUND, "essay-0")
    assert (second.outcome, second.essay_id) == (Outcome.BOUND, "essay-1")
    assert two.slots[0].status == common_pb2.ESSAY_STATUS_UPLOADED
    assert two.slots[1].text_storage_id == text(2).text_storage_id


def test_the_same_text_again_is_the_same_slot_and_changes_nothing() -> None:
    bound, _ = slots.bind(tracker(), text(1))
    again, binding = slots.bind(bound, Upload(file_name="renamed.txt", text_storage_id=text(1).text_storage_id))
    assert again == bound
    assert (binding.outcome, binding.essay_id) == (Outcome.DUPLICATE, "essay-0")


def test_a_failed_upload_consumes_a_slot_as_failed() -> None:
    after, binding = slots.bind(tracker(), failure("bad.txt", "u-1"))
    assert (binding.outcome, binding.essay_id) == (Outcome.FAILED, "essay-0")
    assert after.slots[0].status == common_pb2.ESSAY_STATUS_VALIDATION_FAILED
    assert after.slots[0].error_code == TOO_SHORT
    assert [s.essay_id for s in after.failed()] == ["essay-0"]


def test_a_failed_upload_is_the_same_by_upload_id_or_else_by_file_name() -> None:
    state, _ = slots.bind(tracker(4), failure("a.txt", "u-1"))
    state, by_id = slots.bind(state, failure("a-renamed.txt", "u-1"))
    state, named = slots.bind(state, failure("b.txt"))
    state, by_name = slots.bind(state, failure("b.txt"))
    state, other = slots.bind(state, failure("a.txt", "u-2"))
    assert (by_id.outcome, by_id.essay_id) == (Outcome.DUPLICATE_FAILED, "essay-0")
    assert (named.outcome, by_name.outcome, by_name.essay_id) == (Outcome.FAILED, Outcome.DUPLICATE_FAILED, "essay-1")
    assert (other.outcome, other.essay_id) == (Outcome.FAILED, "essay-2")


def test_a_failure_and_a_text_never_match_each_other() -> None:
    state, _ = slots.bind(tracker(), failure("a.txt"))
    _, binding = slots.bind(state, Upload(file_name="a.txt", text_storage_id=text(1).text_storage_id))
    assert binding.outcome is Outcome.BOUND


def test_uploads_beyond_the_slots_are_excess_once() -> None:
    state, _ = slots.bind(tracker(1), text(1))
    state, extra = slots.bind(state, text(2))
    again, repeat = slots.bind(state, text(2))
    assert extra.outcome is Outcome.EXCESS and extra.essay_id == ""
    assert state.excess == (text(2),)
    assert repeat.outcome is Outcome.EXCESS and again == state


def test_the_bind_that_takes_the_last_slot_completes_the_batch() -> None:
    state, _ = slots.bind(tracker(2), text(1))
    assert not state.completed
    state, _ = slots.bind(state, failure("bad.txt"))
    assert state.completed and state.completion_due
    assert slots.mark_completion_published(state).completion_due is False


def test_the_json_form_round_trips_and_stores_statuses_by_the_enum_rule() -> None:
    state, _ = slots.bind(tracker(3), text(1))
    state, _ = slots.bind(state, failure("bad.txt", "u-9"))
    raw = slots.to_json(state)
    assert slots.from_json(raw) == state
    document = json.loads(raw)
    assert [s["status"] for s in document["slots"]] == [
        enums.to_db(common_pb2.EssayStatus, common_pb2.ESSAY_STATUS_UPLOADED),
        enums.to_db(common_pb2.EssayStatus, common_pb2.ESSAY_STATUS_VALIDATION_FAILED),
        enums.to_db(common_pb2.EssayStatus, common_pb2.ESSAY_STATUS_AWAITING_CONTENT),
    ]
    assert document["slots"][1]["error_code"] == "content_too_short"
    assert document["course_code"] == "sv2"


def test_pending_uploads_round_trip() -> None:
    uploads = [text(1), failure("bad.txt", "u-2")]
    assert slots.uploads_from_json(slots.uploads_to_json(uploads)) == uploads
    assert slots.uploads_from_json(b"") == []


uploads = st.one_of(
    st.integers(0, 12).map(text),
    st.tuples(st.sampled_from(["a.txt", "b.txt"]), st.sampled_from(["", "u-1", "u-2"])).map(
        lambda pair: failure(*pair)
    ),
)


@given(slot_count=st.integers(0, 8), sequence=st.lists(uploads, max_size=30))
def test_any_sequence_of_uploads_keeps_the_tracker_consistent(slot_count: int, sequence: list[Upload]) -> None:
    state = tracker(slot_count)
    places: dict[str, str] = {}
    completions = 0
    for upload in sequence:
        was_completed = state.completed
        state, binding = slots.bind(state, upload)
        completions += int(state.completed and not was_completed)
        if binding.essay_id:
            # An upload always lands in the same slot, whenever it is repeated.
            assert places.setdefault(upload.key, binding.essay_id) == binding.essay_id
    taken = [s for s in state.slots if not s.is_free]
    assert len({s.essay_id for s in taken}) == len(taken)
    assert len(set(places.values())) == len(places)
    assert state.completed == (state.free_count() == 0)
    assert completions == (1 if state.completed and slot_count else 0)
    assert len(set(u.key for u in state.excess)) == len(state.excess)
    if state.excess:
        assert state.completed


def test_the_excess_list_is_capped_and_the_rest_only_counted() -> None:
    state = tracker(1)
    state, _ = slots.bind(state, text(0))
    for n in range(1, 6):
        state, binding = slots.bind(state, text(n), max_excess=2)
        assert binding.outcome is Outcome.EXCESS
    assert state.excess == (text(1), text(2))
    assert state.excess_dropped == 3 and state.excess_count == 5
    again, _ = slots.bind(state, text(1), max_excess=2)
    assert again == state  # a kept excess upload is still recognised
    assert slots.from_json(slots.to_json(state)) == state


def test_text_ids_are_the_stored_and_kept_excess_texts() -> None:
    state = tracker(2)
    state, _ = slots.bind(state, text(0))
    state, _ = slots.bind(state, failure("bad.txt"))
    state, _ = slots.bind(state, text(7))
    assert slots.text_ids(state) == {text(0).text_storage_id, text(7).text_storage_id}


def test_names_are_stored_as_utf8_not_escaped_so_a_tracker_stays_small() -> None:
    """A tracker is one KV value under the server's max_payload: a name of 200 å costs its
    400 UTF-8 bytes, not the 1,200 of \\u00e5 escapes (an emoji would cost 12 instead of 4)."""
    name = "å" * 200 + ".txt"
    state, _ = slots.bind(tracker(1), failure(name, "u-1"))
    raw = slots.to_json(state)
    assert name.encode() in raw
    assert b"\\u00e5" not in raw
    assert slots.from_json(raw) == state
    pending = slots.uploads_to_json([failure(name, "u-2")])
    assert name.encode() in pending
    assert slots.uploads_from_json(pending) == [failure(name, "u-2")]


def test_a_long_upload_id_is_kept_as_its_fingerprint_and_still_recognised() -> None:
    long_id = "u" * 255
    state, first = slots.bind(tracker(2), failure("a.txt", long_id))
    kept_id = state.slots[0].file_upload_id
    assert kept_id.startswith("sha256:") and len(kept_id) <= 71
    again, second = slots.bind(state, failure("a.txt", long_id))
    assert again == state and second == slots.Binding(slots.Outcome.DUPLICATE_FAILED, first.essay_id)
    other, third = slots.bind(state, failure("a.txt", "u" * 254 + "v"))
    assert third.outcome == slots.Outcome.FAILED and other.slots[1].file_upload_id != kept_id


def test_a_failures_message_is_kept_cut_to_its_bound() -> None:
    upload = replace(failure("a.txt", "u-1"), error_message="x" * 1000)
    state, _ = slots.bind(tracker(1), upload)
    message = state.slots[0].error_message
    assert len(message) == slots.MAX_KEPT_MESSAGE and message.endswith("…")


def test_the_largest_tracker_is_what_its_bound_says() -> None:
    """Every slot of the largest batch failed with the longest values the contract allows,
    every excess upload kept: the bound ELS checks at start-up against max_payload."""
    state = slots.new_tracker(
        batch_id=str(uuid.uuid4()),
        essay_ids=[str(uuid.uuid4()) for _ in range(slots.MAX_SLOTS)],
        class_id=str(uuid.uuid4()),
        course_code=common_pb2.COURSE_CODE_ENG5,
        owner_id="teacher-1",
        correlation_id=str(uuid.uuid4()),
    )
    for index in range(slots.MAX_SLOTS + slots.DEFAULT_MAX_EXCESS):
        name = ("\U0001f600" * 255)[: 255 - len(str(index))] + str(index)
        upload = slots.Upload(
            file_name=name,
            file_upload_id=f"{index}".ljust(255, "u"),
            error_code=common_pb2.ESSAY_VALIDATION_ERROR_CODE_OTHER,
            error_message="\U0001f600" * 1000,
        )
        state, _ = slots.bind(state, upload)
    assert len(state.excess) == slots.DEFAULT_MAX_EXCESS
    size = len(slots.to_json(state))
    assert size <= slots.largest_tracker_bytes() < size * 1.01


def test_holds_is_what_binding_again_would_leave_unchanged() -> None:
    current = tracker(2)
    long_id = failure("f.txt", upload_id="u" * 300)  # kept as its fingerprint
    for upload in (text(1), long_id, text(2), text(3)):  # the last one is excess
        current, _ = slots.bind(current, upload)
    for upload in (text(1), long_id, text(3)):
        assert slots.holds(current, upload)
        assert slots.bind(current, upload)[0] == current
    assert not slots.holds(current, text(4))
    assert not slots.holds(tracker(2), text(1))
