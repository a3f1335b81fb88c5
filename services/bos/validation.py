"""What BOS reads out of a request, once its field rules hold.

The field rules themselves (UUIDs, ranges, defined statuses, lengths, the pipeline-name pattern)
are buf.validate annotations in bos.proto, checked by the server interceptor before a handler
runs; what is left here needs more than one field's value: page tokens this service issued,
canonical ids, the stalled selection's default statuses, request fingerprints.

Pure: no I/O."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import ids
from essayflow_runtime.errors import FieldErrors
from essayflow_runtime.idempotency import fingerprint
from services.bos.state_machine import NON_TERMINAL_STATUSES

DEFAULT_PAGE_SIZE = 50
DEFAULT_PIPELINES = ("spellcheck",)


def canonical_uuid(text: str) -> str:
    """The canonical form of an id already checked with ``is_uuid``."""
    canonical = ids.canonical_uuid(text)
    if canonical is None:
        raise ValueError(f"{text!r} is not a UUID")
    return canonical


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
    has_version = request.HasField("expected_version")
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
    return CancelRequest(batch_id=canonical_uuid(request.batch_id), reason=request.reason)


@dataclass(frozen=True)
class ReconcileRequest:
    batch_id: str
    reason: str


def reconcile(request: bos_pb2.ReconcileBatchRequest) -> ReconcileRequest:
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
    after = _decode_page_token(request.page_token) if request.page_token else None
    errors.check(not request.page_token or after is not None, "page_token", "is not a token this service issued")
    errors.raise_if_any()
    waited = request.waited_longer_than.ToTimedelta() if request.HasField("waited_longer_than") else None
    statuses = tuple(dict.fromkeys([*([request.status] if request.status else []), *request.statuses]))
    if waited is not None and not statuses:
        # A finished batch waits for nothing: the stalled selection is over the live ones.
        statuses = NON_TERMINAL_STATUSES
    return Page(size=request.page_size or DEFAULT_PAGE_SIZE, statuses=statuses, after=after, waited_longer_than=waited)


@dataclass(frozen=True)
class PurgeRequest:
    batch_id: str
    reason: str


def purge(request: bos_pb2.PurgeBatchRequest) -> PurgeRequest:
    return PurgeRequest(batch_id=canonical_uuid(request.batch_id), reason=request.reason)
