"""A batch's slot tracker and the one rule that binds an upload to a slot.

Pure: no I/O. The tracker is an immutable value serialised to JSON bytes for the
KV bucket; :func:`bind` returns a new tracker, so the caller can write it with a
compare-and-set and simply call :func:`bind` again on a fresh copy when it loses
the race. Statuses and error codes are proto enum values, stored through the one
enum rule of :mod:`essayflow_runtime.enums`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2
from essayflow_runtime import contracts, enums

EssayStatus = common_pb2.EssayStatus
ErrorCode = common_pb2.EssayValidationErrorCode
CourseCode = common_pb2.CourseCode

FREE = common_pb2.ESSAY_STATUS_AWAITING_CONTENT
STORED = common_pb2.ESSAY_STATUS_UPLOADED
FAILED = common_pb2.ESSAY_STATUS_VALIDATION_FAILED


@dataclass(frozen=True)
class Upload:
    """One upload as ELS sees it: either stored text, or a validation failure."""

    file_name: str
    file_upload_id: str = ""
    # Content-store key of the text; empty for a failed upload.
    text_storage_id: str = ""
    # Set (not UNSPECIFIED) for a failed upload.
    error_code: ErrorCode = common_pb2.ESSAY_VALIDATION_ERROR_CODE_UNSPECIFIED
    error_message: str = ""

    @property
    def failed(self) -> bool:
        return self.error_code != 0

    @property
    def key(self) -> str:
        """What makes two uploads the same upload: the text for content (same text,
        same slot); for a failure the uploader's id, or the file name without one."""
        if not self.failed:
            return self.text_storage_id
        return f"failed:id:{self.file_upload_id}" if self.file_upload_id else f"failed:name:{self.file_name}"


@dataclass(frozen=True)
class Slot:
    essay_id: str
    status: EssayStatus = FREE
    file_name: str = ""
    text_storage_id: str = ""
    file_upload_id: str = ""
    error_code: ErrorCode = common_pb2.ESSAY_VALIDATION_ERROR_CODE_UNSPECIFIED
    error_message: str = ""

    @property
    def is_free(self) -> bool:
        return self.status == FREE

    def holds(self, upload: Upload) -> bool:
        if self.is_free:
            return False
        return _slot_key(self) == upload.key


def _slot_key(slot: Slot) -> str:
    return Upload(
        file_name=slot.file_name,
        file_upload_id=slot.file_upload_id,
        text_storage_id=slot.text_storage_id,
        error_code=slot.error_code if slot.status == FAILED else common_pb2.ESSAY_VALIDATION_ERROR_CODE_UNSPECIFIED,
    ).key


@dataclass(frozen=True)
class Tracker:
    batch_id: str
    expected_count: int
    class_id: str
    course_code: CourseCode
    owner_id: str
    # Correlation id of the batch's registration: every event about the batch carries it.
    correlation_id: str
    slots: tuple[Slot, ...]
    excess: tuple[Upload, ...] = ()
    # Excess uploads beyond the kept list (``max_excess``): only counted. A dropped upload
    # sent again is counted again (it is not kept, so it cannot be recognised).
    excess_dropped: int = 0
    completed: bool = False
    completion_event_id: str = ""
    # Set only after JetStream acknowledged the completion event; until then any
    # replica that sees the tracker publishes it again (same event id).
    completion_published: bool = False

    @property
    def completion_due(self) -> bool:
        return self.completed and not self.completion_published

    def stored(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.status == STORED]

    def failed(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.status == FAILED]

    def free_count(self) -> int:
        return sum(1 for slot in self.slots if slot.is_free)

    @property
    def excess_count(self) -> int:
        """Every excess upload seen: the kept ones and the dropped ones."""
        return len(self.excess) + self.excess_dropped


class Outcome(enum.Enum):
    # Bound to a free slot.
    BOUND = "bound"
    # Already bound earlier: the same slot.
    DUPLICATE = "duplicate"
    # A failed upload consumed a free slot.
    FAILED = "failed"
    # A failed upload already recorded earlier: the same slot.
    DUPLICATE_FAILED = "duplicate_failed"
    # Every slot was taken: not bound, recorded as excess.
    EXCESS = "excess"


@dataclass(frozen=True)
class Binding:
    outcome: Outcome
    # The slot the upload is in ("" for excess).
    essay_id: str = ""


def new_tracker(
    *,
    batch_id: str,
    essay_ids: Sequence[str],
    class_id: str,
    course_code: CourseCode,
    owner_id: str,
    correlation_id: str,
) -> Tracker:
    tracker = Tracker(
        batch_id=batch_id,
        expected_count=len(essay_ids),
        class_id=class_id,
        course_code=course_code,
        owner_id=owner_id,
        correlation_id=correlation_id,
        slots=tuple(Slot(essay_id=essay_id) for essay_id in essay_ids),
        completion_event_id=contracts.derived_event_id(batch_id, els_events_pb2.BatchContentProvisioningCompleted),
    )
    # A batch with no slots is complete the moment it exists.
    return replace(tracker, completed=is_complete(tracker))


def is_complete(tracker: Tracker) -> bool:
    """No slot is free any more: every one holds text or a failure."""
    return all(not slot.is_free for slot in tracker.slots)


# Excess uploads a tracker keeps by default (the rest are only counted).
DEFAULT_MAX_EXCESS = 100


# What a tracker or a pending list keeps of an upload is bounded tighter than the
# contract allows on the wire, so that its largest possible value (every slot failed,
# every excess kept, every field at its limit in four-byte characters) is known before
# the first batch and fits the bus's max_payload (:func:`largest_tracker_bytes`): an
# upload id longer than this is kept as its fingerprint (it is only compared), and a
# failure's message is cut to this many characters (the event that brought it, and the
# log, keep it whole).
MAX_KEPT_UPLOAD_ID = 64
MAX_KEPT_MESSAGE = 200
# The contract's bounds on what an upload carries (docs/field-limits.md).
MAX_FILE_NAME = 255
MAX_SLOTS = 500


def kept(upload: Upload) -> Upload:
    """``upload`` as a tracker or a pending list keeps it; the same upload always gives
    the same value, so a repeated upload is still recognised."""
    upload_id, message = upload.file_upload_id, upload.error_message
    if len(upload_id) > MAX_KEPT_UPLOAD_ID:
        upload_id = "sha256:" + hashlib.sha256(upload_id.encode()).hexdigest()
    if len(message) > MAX_KEPT_MESSAGE:
        message = message[: MAX_KEPT_MESSAGE - 1] + "…"
    if (upload_id, message) == (upload.file_upload_id, upload.error_message):
        return upload
    return replace(upload, file_upload_id=upload_id, error_message=message)


def bind(tracker: Tracker, upload: Upload, *, max_excess: int = DEFAULT_MAX_EXCESS) -> tuple[Tracker, Binding]:
    """Bind ``upload`` to the first free slot, idempotently.

    The same upload again (same text, or for a failure the same upload id / file
    name) returns the slot it already has and leaves the tracker unchanged. Filling
    the last free slot marks the tracker completed in the same new value, so the
    compare-and-set that binds the last slot is also the one that completes the batch.
    """
    upload = kept(upload)
    for slot in tracker.slots:
        if slot.holds(upload):
            outcome = Outcome.DUPLICATE_FAILED if upload.failed else Outcome.DUPLICATE
            return tracker, Binding(outcome, slot.essay_id)
    if any(excess.key == upload.key for excess in tracker.excess):
        return tracker, Binding(Outcome.EXCESS)
    index = next((i for i, slot in enumerate(tracker.slots) if slot.is_free), None)
    if index is None:
        if len(tracker.excess) >= max_excess:
            return replace(tracker, excess_dropped=tracker.excess_dropped + 1), Binding(Outcome.EXCESS)
        return replace(tracker, excess=(*tracker.excess, upload)), Binding(Outcome.EXCESS)
    free = tracker.slots[index]
    filled = _filled(free, upload)
    outcome = Outcome.FAILED if upload.failed else Outcome.BOUND
    slots = (*tracker.slots[:index], filled, *tracker.slots[index + 1 :])
    updated = replace(tracker, slots=slots)
    if not updated.completed and is_complete(updated):
        updated = replace(updated, completed=True)
    return updated, Binding(outcome, free.essay_id)


def holds(tracker: Tracker, upload: Upload) -> bool:
    """Whether the tracker already has ``upload``: in a slot, or kept as excess. Binding it
    again would change nothing (:func:`bind`'s duplicate outcomes)."""
    upload = kept(upload)
    return any(slot.holds(upload) for slot in tracker.slots) or any(e.key == upload.key for e in tracker.excess)


def _filled(free: Slot, upload: Upload) -> Slot:
    """``free`` holding ``upload``: its text, or its failure."""
    if upload.failed:
        return replace(
            free,
            status=FAILED,
            file_name=upload.file_name,
            file_upload_id=upload.file_upload_id,
            error_code=upload.error_code,
            error_message=upload.error_message,
        )
    return replace(
        free,
        status=STORED,
        file_name=upload.file_name,
        file_upload_id=upload.file_upload_id,
        text_storage_id=upload.text_storage_id,
    )


def mark_completion_published(tracker: Tracker) -> Tracker:
    return replace(tracker, completion_published=True)


# --- JSON form (the KV value) ---------------------------------------------------


def _enum_or_empty(enum_type: Any, number: int) -> str:
    return enums.to_db(enum_type, number) if number else ""


def _error_code(text: str) -> ErrorCode:
    return cast(ErrorCode, enums.from_db(ErrorCode, text) if text else 0)


def _course_code(text: str) -> CourseCode:
    return cast(CourseCode, enums.from_db(CourseCode, text) if text else 0)


def _upload_dict(upload: Upload) -> dict[str, Any]:
    return {
        "file_name": upload.file_name,
        "file_upload_id": upload.file_upload_id,
        "text_storage_id": upload.text_storage_id,
        "error_code": _enum_or_empty(ErrorCode, upload.error_code),
        "error_message": upload.error_message,
    }


def _upload_from(data: dict[str, Any]) -> Upload:
    return Upload(
        file_name=data["file_name"],
        file_upload_id=data.get("file_upload_id", ""),
        text_storage_id=data.get("text_storage_id", ""),
        error_code=_error_code(data.get("error_code", "")),
        error_message=data.get("error_message", ""),
    )


def _slot_dict(slot: Slot) -> dict[str, Any]:
    return {
        "essay_id": slot.essay_id,
        "status": enums.to_db(EssayStatus, slot.status),
        "file_name": slot.file_name,
        "text_storage_id": slot.text_storage_id,
        "file_upload_id": slot.file_upload_id,
        "error_code": _enum_or_empty(ErrorCode, slot.error_code),
        "error_message": slot.error_message,
    }


def _slot_from(data: dict[str, Any]) -> Slot:
    return Slot(
        essay_id=data["essay_id"],
        status=cast(EssayStatus, enums.from_db(EssayStatus, data["status"])),
        file_name=data.get("file_name", ""),
        text_storage_id=data.get("text_storage_id", ""),
        file_upload_id=data.get("file_upload_id", ""),
        error_code=_error_code(data.get("error_code", "")),
        error_message=data.get("error_message", ""),
    )


def to_json(tracker: Tracker) -> bytes:
    document = {
        "batch_id": tracker.batch_id,
        "expected_count": tracker.expected_count,
        "class_id": tracker.class_id,
        "course_code": _enum_or_empty(CourseCode, tracker.course_code),
        "owner_id": tracker.owner_id,
        "correlation_id": tracker.correlation_id,
        "slots": [_slot_dict(slot) for slot in tracker.slots],
        "excess": [_upload_dict(upload) for upload in tracker.excess],
        "excess_dropped": tracker.excess_dropped,
        "completed": tracker.completed,
        "completion_event_id": tracker.completion_event_id,
        "completion_published": tracker.completion_published,
    }
    return _dumps(document)


def _dumps(document: object) -> bytes:
    # UTF-8 as it is, not \u escapes: a tracker is one KV value bounded by the server's
    # max_payload, and an escaped name takes three to six times the bytes (å 6, an emoji 12).
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def from_json(raw: bytes) -> Tracker:
    data = json.loads(raw)
    return Tracker(
        batch_id=data["batch_id"],
        expected_count=int(data["expected_count"]),
        class_id=data.get("class_id", ""),
        course_code=_course_code(data.get("course_code", "")),
        owner_id=data.get("owner_id", ""),
        correlation_id=data.get("correlation_id", ""),
        slots=tuple(_slot_from(slot) for slot in data["slots"]),
        excess=tuple(_upload_from(upload) for upload in data.get("excess", [])),
        excess_dropped=int(data.get("excess_dropped", 0)),
        completed=bool(data.get("completed", False)),
        completion_event_id=data.get("completion_event_id", ""),
        completion_published=bool(data.get("completion_published", False)),
    )


def uploads_to_json(uploads: Sequence[Upload]) -> bytes:
    return _dumps([_upload_dict(upload) for upload in uploads])


def uploads_from_json(raw: bytes) -> list[Upload]:
    return [_upload_from(item) for item in json.loads(raw)] if raw else []


def text_ids(tracker: Tracker) -> set[str]:
    """Every content-store id the tracker refers to: stored slots and kept excess uploads."""
    held = {slot.text_storage_id for slot in tracker.slots if slot.text_storage_id}
    return held | {upload.text_storage_id for upload in tracker.excess if upload.text_storage_id}


# --- the largest value a key can hold -----------------------------------------------


def _longest(enum_type: Any) -> Any:
    """The value of ``enum_type`` with the longest stored form."""
    return max((v for v in enum_type.values() if v), key=lambda v: len(enums.to_db(enum_type, v)))


def _largest_upload(index: int, *, stored: bool) -> Upload:
    # Four-byte characters everywhere the contract allows free text: the most UTF-8
    # bytes per character (JSON keeps them unescaped, see _dumps).
    wide = "\U0001F600"
    return kept(
        Upload(
            file_name=(wide * MAX_FILE_NAME)[: MAX_FILE_NAME - len(str(index))] + str(index),
            file_upload_id=f"upload-{index}-" + "x" * MAX_FILE_NAME,
            text_storage_id="t" * MAX_KEPT_UPLOAD_ID if stored else "",
            error_code=ErrorCode.ESSAY_VALIDATION_ERROR_CODE_UNSPECIFIED if stored else _longest(ErrorCode),
            error_message="" if stored else wide * (MAX_KEPT_MESSAGE * 2),
        )
    )


def largest_tracker_bytes(*, max_excess: int = DEFAULT_MAX_EXCESS) -> int:
    """The size of the largest tracker a batch can have: every one of the most slots a
    batch may have failed with every field at its limit, and every excess upload kept."""
    tracker = new_tracker(
        batch_id="b" * 36,
        essay_ids=[str(index).rjust(36, "0") for index in range(MAX_SLOTS)],
        class_id="c" * 36,
        course_code=_longest(CourseCode),
        owner_id="o" * 64,
        correlation_id="r" * 36,
    )
    # Filled directly, as bind would fill them (binding one by one is quadratic: this runs
    # at every ELS start).
    filled = tuple(_filled(slot, _largest_upload(i, stored=False)) for i, slot in enumerate(tracker.slots))
    excess = tuple(_largest_upload(MAX_SLOTS + i, stored=False) for i in range(max_excess))
    largest = replace(
        tracker, slots=filled, excess=excess, excess_dropped=2**31, completed=True, completion_published=True
    )
    return len(to_json(largest))


def largest_pending_bytes(*, max_pending: int) -> int:
    """The size of the largest list of uploads waiting for a batch's registration."""
    # A failure keeps more than a stored text does (its message and code, where a text
    # keeps only its storage id).
    return len(uploads_to_json([_largest_upload(index, stored=False) for index in range(max_pending)]))
