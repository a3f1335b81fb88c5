"""Every SQL statement of BOS, and the typed records they return.

Tables live in the ``bos`` schema (the pool's search_path). Enum columns hold the
strings :mod:`essayflow_runtime.enums` derives from proto; nothing here spells one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias, cast

import asyncpg

from essayflow.common.v1 import common_pb2
from essayflow_runtime.contracts import SealedEvent
from essayflow_runtime.enums import from_db, to_db
from services.bos.state_machine import GUEST, TERMINAL_STATUSES, BatchFacts

# Channel the batch_transitions trigger notifies on (payload: batch id); frozen in 0001_initial.
CHANGES_CHANNEL = "essayflow_bos_batch_changes"

STATUS = common_pb2.BatchStatus
ASSOCIATION = common_pb2.StudentAssociationStatus
METHOD = common_pb2.AssociationValidationMethod

Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool


def _opt_to_db(enum: Any, number: int) -> str | None:
    return to_db(enum, number) if number else None


def _opt_from_db(enum: Any, text: str | None) -> Any:
    return from_db(enum, text) if text else 0


def _status(text: str) -> common_pb2.BatchStatus:
    return cast(common_pb2.BatchStatus, from_db(STATUS, text))


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    owner_id: str
    class_id: str  # "" for a GUEST batch
    batch_type: common_pb2.BatchType
    course_code: common_pb2.CourseCode
    title: str
    expected_essay_count: int
    essay_ids: list[str]
    status: common_pb2.BatchStatus
    version: int
    correlation_id: str
    content_completed_at: datetime | None
    every_upload_failed: bool
    essays_stored_at: datetime | None
    associations_confirmed_at: datetime | None
    stored_essay_count: int
    created_at: datetime
    updated_at: datetime
    # When the batch entered its current status (set by record_transition with the status).
    status_changed_at: datetime | None = None

    @property
    def status_since(self) -> datetime:
        return self.status_changed_at or self.created_at

    @property
    def is_guest(self) -> bool:
        return self.batch_type == GUEST

    def facts(self) -> BatchFacts:
        return BatchFacts(
            batch_type=self.batch_type,
            content_complete=self.content_completed_at is not None,
            every_upload_failed=self.every_upload_failed,
            essays_stored=self.essays_stored_at is not None and self.stored_essay_count > 0,
            associations_confirmed=self.associations_confirmed_at is not None,
        )


@dataclass(frozen=True)
class EssayRecord:
    essay_id: str
    text_storage_id: str
    file_name: str
    student_id: str  # "" when none
    # UNSPECIFIED when none (GUEST, or not yet confirmed).
    association_status: common_pb2.StudentAssociationStatus
    validation_method: common_pb2.AssociationValidationMethod


@dataclass(frozen=True)
class TransitionRecord:
    batch_id: str
    version: int
    from_status: common_pb2.BatchStatus
    to_status: common_pb2.BatchStatus
    cause: str
    actor: str
    idempotency_key: str
    correlation_id: str
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class NewBatch:
    batch_id: str
    owner_id: str
    class_id: str
    batch_type: common_pb2.BatchType
    course_code: common_pb2.CourseCode
    title: str
    essay_ids: list[str]
    correlation_id: str
    registration_key: str
    # The registering caller's role (the subject is owner_id) and the request's fingerprint.
    registration_role: str
    registration_fingerprint: bytes


_BATCH_COLUMNS = (
    "b.batch_id, b.owner_id, b.class_id, b.batch_type, b.course_code, b.title, b.expected_essay_count, "
    "b.essay_ids, b.status, b.version, b.correlation_id, b.content_completed_at, b.every_upload_failed, "
    "b.essays_stored_at, b.associations_confirmed_at, b.created_at, b.updated_at, b.status_changed_at, "
    "(SELECT count(*) FROM batch_essays e WHERE e.batch_id = b.batch_id) AS stored_essay_count"
)


def _batch(row: asyncpg.Record) -> BatchRecord:
    return BatchRecord(
        batch_id=str(row["batch_id"]),
        owner_id=row["owner_id"],
        class_id=str(row["class_id"]) if row["class_id"] else "",
        batch_type=cast(common_pb2.BatchType, from_db(common_pb2.BatchType, row["batch_type"])),
        course_code=cast(common_pb2.CourseCode, from_db(common_pb2.CourseCode, row["course_code"])),
        title=row["title"],
        expected_essay_count=row["expected_essay_count"],
        essay_ids=[str(e) for e in row["essay_ids"]],
        status=_status(row["status"]),
        version=row["version"],
        correlation_id=row["correlation_id"],
        content_completed_at=row["content_completed_at"],
        every_upload_failed=row["every_upload_failed"],
        essays_stored_at=row["essays_stored_at"],
        associations_confirmed_at=row["associations_confirmed_at"],
        stored_essay_count=row["stored_essay_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        status_changed_at=row["status_changed_at"],
    )


def _transition(row: asyncpg.Record) -> TransitionRecord:
    return TransitionRecord(
        batch_id=str(row["batch_id"]),
        version=row["version"],
        from_status=_status(row["from_status"]),
        to_status=_status(row["to_status"]),
        cause=row["cause"],
        actor=row["actor"],
        idempotency_key=row["idempotency_key"] or "",
        correlation_id=row["correlation_id"],
        reason=row["reason"],
        occurred_at=row["occurred_at"],
    )


def _essay(row: asyncpg.Record) -> EssayRecord:
    return EssayRecord(
        essay_id=str(row["essay_id"]),
        text_storage_id=row["text_storage_id"],
        file_name=row["file_name"],
        student_id=row["student_id"] or "",
        association_status=_opt_from_db(ASSOCIATION, row["association_status"]),
        validation_method=_opt_from_db(METHOD, row["validation_method"]),
    )


# -- batches -----------------------------------------------------------------------------


async def insert_batch(conn: Executor, new: NewBatch, status: int) -> BatchRecord | None:
    """The new batch, or None when the owner, in the same role, already registered one with
    this key."""
    row = await conn.fetchrow(
        "INSERT INTO batches AS b (batch_id, owner_id, class_id, batch_type, course_code, title, "
        "expected_essay_count, essay_ids, status, correlation_id, registration_key, registration_role, "
        "registration_fingerprint) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (owner_id, registration_role, registration_key) WHERE registration_key IS NOT NULL DO NOTHING "
        f"RETURNING {_BATCH_COLUMNS}",
        new.batch_id,
        new.owner_id,
        new.class_id or None,
        to_db(common_pb2.BatchType, new.batch_type),
        to_db(common_pb2.CourseCode, new.course_code),
        new.title,
        len(new.essay_ids),
        new.essay_ids,
        to_db(STATUS, status),
        new.correlation_id,
        new.registration_key or None,
        new.registration_role if new.registration_key else None,
        new.registration_fingerprint if new.registration_key else None,
    )
    return _batch(row) if row else None


async def find_registration(
    conn: Executor, owner_id: str, role: str, registration_key: str
) -> tuple[BatchRecord, bytes] | None:
    """The batch this caller registered with this key, and that request's fingerprint."""
    row = await conn.fetchrow(
        f"SELECT {_BATCH_COLUMNS}, b.registration_fingerprint FROM batches b "
        "WHERE b.owner_id = $1 AND b.registration_role = $2 AND b.registration_key = $3",
        owner_id,
        role,
        registration_key,
    )
    return (_batch(row), bytes(row["registration_fingerprint"] or b"")) if row else None


async def get_batch(conn: Executor, batch_id: str) -> BatchRecord | None:
    row = await conn.fetchrow(f"SELECT {_BATCH_COLUMNS} FROM batches b WHERE b.batch_id = $1", batch_id)
    return _batch(row) if row else None


async def lock_batch(conn: asyncpg.Connection, batch_id: str) -> BatchRecord | None:
    """The batch, locked until the caller's transaction ends: writers of one batch queue here."""
    row = await conn.fetchrow(f"SELECT {_BATCH_COLUMNS} FROM batches b WHERE b.batch_id = $1 FOR UPDATE", batch_id)
    return _batch(row) if row else None


@dataclass(frozen=True)
class Seen:
    """A batch as read without a lock, with what a keyed request needs next to it."""

    batch: BatchRecord | None
    # The answer this caller was already given for the request's key, if any, and the
    # fingerprint of the request that got it.
    first_response: bytes | None
    first_fingerprint: bytes | None
    # The row version's xmin: any change to the row since (status or a fact) changes it.
    row_xmin: int


@dataclass(frozen=True)
class Caller:
    """Whose idempotency key it is: keys of different callers never meet."""

    role: str
    subject: str


async def read_for_request(conn: Executor, batch_id: str, operation: str, caller: Caller, key: str) -> Seen:
    """The batch and the answer stored for ``caller``'s ``key`` (``idempotency_keys``), in
    one round trip and without a lock: the write that follows compare-and-sets on
    ``row_xmin`` (see :func:`record_transition`)."""
    row = await conn.fetchrow(
        f"SELECT {_BATCH_COLUMNS}, b.xmin AS row_xmin, k.response AS first_response, "
        "k.fingerprint AS first_fingerprint FROM batches b "
        "LEFT JOIN idempotency_keys k ON k.operation = $2 AND k.batch_id = b.batch_id "
        "AND k.caller_role = $3 AND k.caller_subject = $4 AND k.idempotency_key = $5 "
        "WHERE b.batch_id = $1",
        batch_id,
        operation,
        caller.role,
        caller.subject,
        key,
    )
    if row is None:
        return Seen(None, None, None, 0)
    return Seen(_batch(row), row["first_response"], row["first_fingerprint"], row["row_xmin"])


async def list_batches(
    conn: Executor,
    *,
    owner_id: str | None,
    statuses: Sequence[int] = (),
    after: tuple[datetime, str] | None,
    limit: int,
    waited_longer_than: timedelta | None = None,
) -> list[BatchRecord]:
    """Newest first; ``after`` is the (created_at, batch_id) of the previous page's last batch.
    ``statuses`` empty: any. ``waited_longer_than``: only batches that entered their status
    longer ago than that, by the database's clock (the clock that stamps the column)."""
    rows = await conn.fetch(
        f"SELECT {_BATCH_COLUMNS} FROM batches b "
        "WHERE ($1::text IS NULL OR b.owner_id = $1) "
        "AND (cardinality($2::text[]) = 0 OR b.status = ANY($2::text[])) "
        "AND ($3::timestamptz IS NULL OR (b.created_at, b.batch_id) < ($3, $4::uuid)) "
        "AND ($6::interval IS NULL OR b.status_changed_at < clock_timestamp() - $6::interval) "
        "ORDER BY b.created_at DESC, b.batch_id DESC LIMIT $5",
        owner_id,
        [to_db(STATUS, s) for s in statuses],
        after[0] if after else None,
        after[1] if after else None,
        limit,
        waited_longer_than,
    )
    return [_batch(r) for r in rows]


@dataclass(frozen=True)
class StatusWait:
    """How many batches are in a status, and how long the one in it longest has waited."""

    status: common_pb2.BatchStatus
    count: int
    oldest_wait_s: float


async def waits_by_status(conn: Executor) -> list[StatusWait]:
    """One aggregate over the (status, status_changed_at) index: a row per status in use."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n, "
        "extract(epoch FROM clock_timestamp() - min(status_changed_at))::float8 AS oldest_wait_s "
        "FROM batches GROUP BY status"
    )
    return [StatusWait(_status(r["status"]), r["n"], max(0.0, r["oldest_wait_s"])) for r in rows]


async def record_content_completed(
    conn: asyncpg.Connection, batch_id: str, *, every_upload_failed: bool, failed_upload_count: int
) -> None:
    await conn.execute(
        "UPDATE batches SET content_completed_at = coalesce(content_completed_at, clock_timestamp()), "
        "every_upload_failed = $2, failed_upload_count = $3, updated_at = clock_timestamp() "
        "WHERE batch_id = $1",
        batch_id,
        every_upload_failed,
        failed_upload_count,
    )


async def record_essays_stored(conn: asyncpg.Connection, batch_id: str) -> None:
    await conn.execute(
        "UPDATE batches SET essays_stored_at = clock_timestamp(), updated_at = clock_timestamp() WHERE batch_id = $1",
        batch_id,
    )


async def record_associations_confirmed(conn: asyncpg.Connection, batch_id: str) -> None:
    await conn.execute(
        "UPDATE batches SET associations_confirmed_at = coalesce(associations_confirmed_at, clock_timestamp()), "
        "updated_at = clock_timestamp() WHERE batch_id = $1",
        batch_id,
    )


# -- essays ------------------------------------------------------------------------------


async def replace_essays(conn: asyncpg.Connection, batch_id: str, essays: Sequence[EssayRecord]) -> None:
    """The batch's stored essays become exactly ``essays``."""
    await conn.execute("DELETE FROM batch_essays WHERE batch_id = $1", batch_id)
    await conn.executemany(
        "INSERT INTO batch_essays (batch_id, essay_id, text_storage_id, file_name, student_id, "
        "association_status, validation_method) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (
                batch_id,
                e.essay_id,
                e.text_storage_id,
                e.file_name,
                e.student_id or None,
                _opt_to_db(ASSOCIATION, e.association_status),
                _opt_to_db(METHOD, e.validation_method),
            )
            for e in essays
        ],
    )


async def essays_of(conn: Executor, batch: BatchRecord) -> list[EssayRecord]:
    """The batch's essays, without a query when it has none (most status changes come
    before any content: the transition path saves a round trip)."""
    return await list_essays(conn, batch.batch_id) if batch.stored_essay_count else []


async def list_essays(conn: Executor, batch_id: str) -> list[EssayRecord]:
    rows = await conn.fetch(
        "SELECT essay_id, text_storage_id, file_name, student_id, association_status, validation_method "
        "FROM batch_essays WHERE batch_id = $1 ORDER BY stored_at, essay_id",
        batch_id,
    )
    return [_essay(r) for r in rows]


# -- history -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The response a keyed request gave, kept so that a retry gets it again."""

    operation: str
    key: str
    caller: Caller
    # Of the request that got this answer (essayflow_runtime.idempotency.fingerprint).
    fingerprint: bytes
    response: bytes


async def record_transition(
    conn: asyncpg.Connection,
    t: TransitionRecord,
    event: SealedEvent,
    answer: Answer | None = None,
    *,
    unchanged_since: int | None = None,
) -> bool:
    """Everything a status change writes, in one statement (one round trip on the hot
    path): compare-and-set the batch from ``t.from_status`` at version ``t.version - 1``
    to ``t.to_status``, append the history row, put ``event`` in the outbox and keep
    ``answer``. With ``unchanged_since`` (a ``Seen.row_xmin``) the row must also be the
    very version that was read: a fact recorded meanwhile fails the compare-and-set too.
    False, and nothing written, when the batch is no longer where the caller saw it. A
    second answer for the same key raises UniqueViolationError."""
    recorded = await conn.fetchval(
        "WITH moved AS ("
        "  UPDATE batches SET status = $4, version = version + 1, updated_at = $10, status_changed_at = $10 "
        "  WHERE batch_id = $1 AND status = $3 AND version = $2 - 1 "
        "  AND ($18::xid IS NULL OR xmin = $18::xid) RETURNING batch_id, version), "
        "recorded AS ("
        "  INSERT INTO batch_transitions (batch_id, version, from_status, to_status, cause, actor, "
        "  idempotency_key, correlation_id, reason, occurred_at) "
        "  SELECT moved.batch_id, moved.version, $3, $4, $5, $6, $7, $8, $9, $10 FROM moved RETURNING batch_id), "
        "announced AS ("
        "  INSERT INTO outbox (event_id, subject, event_type, envelope) "
        "  SELECT $11, $12, $13, $14 FROM recorded ON CONFLICT (event_id) DO NOTHING), "
        "answered AS ("
        "  INSERT INTO idempotency_keys (operation, batch_id, idempotency_key, response, caller_role, "
        "  caller_subject, fingerprint) "
        "  SELECT $15, recorded.batch_id, $16, $17, $19, $20, $21 FROM recorded WHERE $15::text IS NOT NULL) "
        "SELECT count(*) FROM recorded",
        t.batch_id,
        t.version,
        to_db(STATUS, t.from_status),
        to_db(STATUS, t.to_status),
        t.cause,
        t.actor,
        t.idempotency_key or None,
        t.correlation_id,
        t.reason,
        t.occurred_at,
        event.event_id,
        event.subject,
        event.event_type,
        event.data,
        answer.operation if answer else None,
        answer.key if answer else None,
        answer.response if answer else None,
        unchanged_since,
        answer.caller.role if answer else None,
        answer.caller.subject if answer else None,
        answer.fingerprint if answer else None,
    )
    return bool(recorded)


async def list_transitions(conn: Executor, batch_id: str, after_version: int = 0) -> list[TransitionRecord]:
    rows = await conn.fetch(
        "SELECT * FROM batch_transitions WHERE batch_id = $1 AND version > $2 ORDER BY version",
        batch_id,
        after_version,
    )
    return [_transition(r) for r in rows]


# -- purge -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeRecord:
    purged_at: datetime
    purged_by: str
    reason: str
    first_time: bool


async def purge_personal_data(
    conn: asyncpg.Connection, batch_id: str, *, purged_by: str, reason: str
) -> tuple[PurgeRecord, list[str]]:
    """Delete the batch's stored essays (text references, file names, students) and the
    answers kept for its keyed requests (they embed the essays), and record the purge
    (the first one wins). The batch row and its history stay. Returns the record and
    the text storage ids the essays referenced. Call with the batch row locked."""
    text_ids = await conn.fetch(
        "DELETE FROM batch_essays WHERE batch_id = $1 RETURNING text_storage_id", batch_id
    )
    await conn.execute("DELETE FROM idempotency_keys WHERE batch_id = $1", batch_id)
    row = await conn.fetchrow(
        "UPDATE batches b SET purged_at = coalesce(b.purged_at, clock_timestamp()), "
        "purged_by = coalesce(b.purged_by, $2), purge_reason = CASE WHEN b.purged_at IS NULL THEN $3 "
        "ELSE b.purge_reason END, updated_at = clock_timestamp() "
        "FROM (SELECT purged_at IS NULL AS first_time FROM batches WHERE batch_id = $1) AS before "
        "WHERE b.batch_id = $1 RETURNING b.purged_at, b.purged_by, b.purge_reason, before.first_time",
        batch_id,
        purged_by,
        reason,
    )
    assert row is not None
    record = PurgeRecord(row["purged_at"], row["purged_by"], row["purge_reason"], row["first_time"])
    return record, sorted({r["text_storage_id"] for r in text_ids if r["text_storage_id"]})


async def due_for_text_retention(conn: Executor, retention_s: float, limit: int) -> list[str]:
    """Batches not yet purged whose terminal status was reached more than
    ``retention_s`` ago (the time of their last history row)."""
    terminal = [to_db(STATUS, s) for s in sorted(TERMINAL_STATUSES)]
    rows = await conn.fetch(
        "SELECT b.batch_id FROM batches b WHERE b.purged_at IS NULL AND b.status = ANY($1::text[]) "
        "AND (SELECT max(t.occurred_at) FROM batch_transitions t WHERE t.batch_id = b.batch_id) "
        "< clock_timestamp() - make_interval(secs => $2) "
        f"ORDER BY b.batch_id LIMIT {int(limit)}",
        terminal,
        retention_s,
    )
    return [str(r["batch_id"]) for r in rows]
