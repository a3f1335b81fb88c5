"""Request checks: every bad field is reported at once, as INVALID_ARGUMENT with field violations.

Pure: no I/O."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import ids
from essayflow_runtime.errors import FieldErrors
from essayflow_runtime.idempotency import fingerprint
from services.bos.state_machine import NON_TERMINAL_STATUSES

MAX_ESSAYS = 500
MAX_TITLE = 200
MAX_KEY = 200
MAX_REASON = 1000
DEFAULT_PAGE_SIZE = 50
# The longest wait the stalled selection accepts (ten years): anything longer is a mistake.
MAX_WAIT_S = 10 * 366 * 86400
MAX_PAGE_SIZE = 200
DEFAULT_PIPELINES = ("spellcheck",)
_PIPELINE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def canonical_uuid(text: str) -> str:
    """The canonical form of an id already checked with ``is_uuid``."""
    canonical = ids.canonical_uuid(text)
    if canonical is None:
        raise ValueError(f"{text!r} is not a UUID")
    return canonical


def _check_batch_id(errors: FieldErrors, batch_id: str) -> None:
    errors.check(ids.is_uuid(batch_id), "batch_id", "must be a UUID")


def _defined(enum: Any, value: int) -> bool:
    return value in enum.DESCRIPTOR.values_by_number


@dataclass(frozen=True)
class Registration:
    expected_essay_count: int
    course_code: common_pb2.CourseCode
    class_id: str  # "" for GUEST
    title: str
    idempotency_key: str
    # Of the request as sent, without its key: a retry under the same key must match it.
    fingerprint: bytes
    # The caller registers against a class of another course on purpose.
    allow_other_course: bool = False


def registration(request: bos_pb2.RegisterBatchRequest) -> Registration:
    errors = FieldErrors()
    errors.check(
        1 <= request.expected_essay_count <= MAX_ESSAYS,
        "expected_essay_count",
        f"must be between 1 and {MAX_ESSAYS}",
    )
    errors.check(
        request.course_code != 0 and _defined(common_pb2.CourseCode, request.course_code),
        "course_code",
        "must be a defined course code",
    )
    errors.check(not request.class_id or ids.is_uuid(request.class_id), "class_id", "must be a UUID or empty")
    errors.check(len(request.title) <= MAX_TITLE, "title", f"must be at most {MAX_TITLE} characters")
    errors.check(len(request.idempotency_key) <= MAX_KEY, "idempotency_key", f"must be at most {MAX_KEY} characters")
    errors.raise_if_any()
    return Registration(
        expected_essay_count=request.expected_essay_count,
        course_code=request.course_code,
        class_id=canonical_uuid(request.class_id) if request.class_id else "",
        title=request.title,
        idempotency_key=request.idempotency_key,
        fingerprint=fingerprint(request),
        allow_other_course=request.allow_other_course,
    )


def batch_id(value: str) -> str:
    errors = FieldErrors()
    _check_batch_id(errors, value)
    errors.raise_if_any()
    return canonical_uuid(value)


@dataclass(frozen=True)
class TransitionRequest:
    batch_id: str
    expected_status: common_pb2.BatchStatus
    target_status: common_pb2.BatchStatus
    expected_version: int | None
    idempotency_key: str
    reason: str
    fingerprint: bytes


def transition(request: bos_pb2.TransitionBatchRequest) -> TransitionRequest:
    errors = FieldErrors()
    _check_batch_id(errors, request.batch_id)
    statuses = common_pb2.BatchStatus
    for name in ("expected_status", "target_status"):
        value = getattr(request, name)
        errors.check(value != 0 and _defined(statuses, value), name, "must be a defined batch status")
    has_version = request.HasField("expected_version")
    errors.check(not has_version or request.expected_version >= 0, "expected_version", "must not be negative")
    errors.check(bool(request.idempotency_key), "idempotency_key", "is required")
    errors.check(len(request.idempotency_key) <= MAX_KEY, "idempotency_key", f"must be at most {MAX_KEY} characters")
    errors.check(len(request.reason) <= MAX_REASON, "reason", f"must be at most {MAX_REASON} characters")
    errors.raise_if_any()
    return TransitionRequest(
        batch_id=canonical_uuid(request.batch_id),
        expected_status=request.expected_status,
        target_status=request.target_status,
        expected_version=request.expected_version if has_version else None,
        idempotency_key=request.idempotency_key,
        reason=request.reason,
        fingerprint=fingerprint(request),
    )


@dataclass(frozen=True)
class PipelineRequest:
    batch_id: str
    pipelines: tuple[str, ...]
    idempotency_key: str
    fingerprint: bytes


def pipeline(request: bos_pb2.RequestPipelineRequest) -> PipelineRequest:
    errors = FieldErrors()
    _check_batch_id(errors, request.batch_id)
    for i, name in enumerate(request.pipelines):
        errors.check(bool(_PIPELINE_NAME.match(name)), f"pipelines[{i}]", "must be a lower_snake pipeline name")
    errors.check(len(request.idempotency_key) <= MAX_KEY, "idempotency_key", f"must be at most {MAX_KEY} characters")
    errors.raise_if_any()
    return PipelineRequest(
        batch_id=canonical_uuid(request.batch_id),
        pipelines=tuple(dict.fromkeys(request.pipelines)) or DEFAULT_PIPELINES,
        idempotency_key=request.idempotency_key,
        fingerprint=fingerprint(request),
    )


@dataclass(frozen=True)
class CancelRequest:
    batch_id: str
    reason: str


def cancel(request: bos_pb2.CancelBatchRequest) -> CancelRequest:
    errors = FieldErrors()
    _check_batch_id(errors, request.batch_id)
    errors.check(len(request.reason) <= MAX_REASON, "reason", f"must be at most {MAX_REASON} characters")
    errors.raise_if_any()
    return CancelRequest(batch_id=canonical_uuid(request.batch_id), reason=request.reason)


@dataclass(frozen=True)
class ReconcileRequest:
    batch_id: str
    reason: str


def reconcile(request: bos_pb2.ReconcileBatchRequest) -> ReconcileRequest:
    errors = FieldErrors()
    _check_batch_id(errors, request.batch_id)
    errors.check(len(request.reason) <= MAX_REASON, "reason", f"must be at most {MAX_REASON} characters")
    errors.raise_if_any()
    return ReconcileRequest(batch_id=canonical_uuid(request.batch_id), reason=request.reason)


@dataclass(frozen=True)
class Page:
    size: int
    # Empty: any status.
    statuses: tuple[common_pb2.BatchStatus, ...]
    after: tuple[datetime, str] | None
    # Only batches in their status longer than this (the stalled selection).
    waited_longer_than: timedelta | None = None


def encode_page_token(created_at: datetime, last_batch_id: str) -> str:
    raw = f"{created_at.isoformat()}|{last_batch_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str) -> tuple[datetime, str] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, _, last = raw.partition("|")
        parsed = datetime.fromisoformat(moment)
    except (ValueError, UnicodeDecodeError):
        return None
    if parsed.tzinfo is None or not ids.is_uuid(last):
        return None
    return parsed, canonical_uuid(last)


def page(request: bos_pb2.ListBatchesRequest) -> Page:
    errors = FieldErrors()
    errors.check(0 <= request.page_size <= MAX_PAGE_SIZE, "page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    errors.check(_defined(common_pb2.BatchStatus, request.status), "status", "must be a batch status")
    for i, status in enumerate(request.statuses):
        errors.check(
            status != 0 and _defined(common_pb2.BatchStatus, status), f"statuses[{i}]", "must be a batch status"
        )
    after = _decode_page_token(request.page_token) if request.page_token else None
    errors.check(not request.page_token or after is not None, "page_token", "is not a token this service issued")
    waited: timedelta | None = None
    if request.HasField("waited_longer_than"):
        span = request.waited_longer_than
        valid = span.seconds >= 0 and span.nanos >= 0 and span.seconds <= MAX_WAIT_S
        errors.check(valid, "waited_longer_than", f"must be between 0 and {MAX_WAIT_S} seconds")
        waited = span.ToTimedelta() if valid else None
    errors.raise_if_any()
    statuses = tuple(dict.fromkeys([*([request.status] if request.status else []), *request.statuses]))
    if waited is not None and not statuses:
        # A finished batch waits for nothing: the stalled selection is over the live ones.
        statuses = NON_TERMINAL_STATUSES
    return Page(size=request.page_size or DEFAULT_PAGE_SIZE, statuses=statuses, after=after, waited_longer_than=waited)


MAX_PURGE_REASON = 500


@dataclass(frozen=True)
class PurgeRequest:
    batch_id: str
    reason: str


def purge(request: bos_pb2.PurgeBatchRequest) -> PurgeRequest:
    errors = FieldErrors()
    _check_batch_id(errors, request.batch_id)
    errors.check(
        len(request.reason) <= MAX_PURGE_REASON, "reason", f"must be at most {MAX_PURGE_REASON} characters"
    )
    errors.raise_if_any()
    return PurgeRequest(batch_id=canonical_uuid(request.batch_id), reason=request.reason)
