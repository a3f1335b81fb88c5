"""Every SQL statement of CMS. Rows come back as records with proto enum numbers;
the strings in the database come from (and go to) essayflow_runtime.enums only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias, cast

import asyncpg

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime.enums import from_db, to_db
from services.cms.roster import NewStudent, PageCursor
from services.cms.validation import NO_METHOD, Association, CourseCode, Method, Resolution, Status, Suggestion

# Pool connections are proxies of this; asyncpg ships no stubs, so this is the honest name.
Connection: TypeAlias = asyncpg.Connection

_Status = common_pb2.StudentAssociationStatus
_Method = common_pb2.AssociationValidationMethod
_Course = common_pb2.CourseCode
_State = cms_pb2.BatchValidationState
State = cms_pb2.BatchValidationState


def _course(text: str) -> CourseCode:
    return cast(CourseCode, from_db(_Course, text))


def _status(text: str) -> Status:
    return cast(Status, from_db(_Status, text))


def _method(text: str | None) -> Method:
    return NO_METHOD if text is None else cast(Method, from_db(_Method, text))


def _state(text: str) -> State:
    return cast(State, from_db(_State, text))


PENDING_DB = to_db(_Status, common_pb2.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION)
AWAITING_DB = to_db(_State, cms_pb2.BATCH_VALIDATION_STATE_AWAITING_VALIDATION)
CONFIRMED_DB = to_db(_State, cms_pb2.BATCH_VALIDATION_STATE_CONFIRMED)


@dataclass(frozen=True)
class ClassRecord:
    class_id: str
    owner_id: str
    name: str
    course_code: CourseCode
    auto_confirm_high_confidence: bool
    created_at: datetime
    student_count: int


@dataclass(frozen=True)
class StudentRecord:
    student_id: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    class_id: str
    owner_id: str  # the teacher who owns the batch's class
    course_code: CourseCode
    deadline: datetime
    state: State
    confirmed_at: datetime | None
    timeout_triggered: bool
    correlation_id: str
    causation_id: str

    @property
    def is_confirmed(self) -> bool:
        return self.state == cms_pb2.BATCH_VALIDATION_STATE_CONFIRMED


@dataclass(frozen=True)
class AssociationView:
    """An association with what a reviewer sees besides the decision itself."""

    association: Association
    batch_id: str
    class_id: str
    suggested_student: StudentRecord | None
    student: StudentRecord | None
    match_reasons: list[dict[str, Any]]
    created_at: datetime


def _id(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------- classes and rosters

_CLASS_COLUMNS = (
    "c.class_id, c.owner_id, c.name, c.course_code, c.auto_confirm_high_confidence, c.created_at, "
    "(SELECT count(*) FROM class_members m WHERE m.class_id = c.class_id) AS student_count"
)


def _class(row: asyncpg.Record) -> ClassRecord:
    return ClassRecord(
        class_id=str(row["class_id"]),
        owner_id=row["owner_id"],
        name=row["name"],
        course_code=_course(row["course_code"]),
        auto_confirm_high_confidence=row["auto_confirm_high_confidence"],
        created_at=row["created_at"],
        student_count=int(row["student_count"]),
    )


async def create_class(
    conn: Connection, owner_id: str, name: str, course_code: CourseCode, auto_confirm: bool
) -> ClassRecord:
    row = await conn.fetchrow(
        "INSERT INTO classes (class_id, owner_id, name, course_code, auto_confirm_high_confidence) "
        "VALUES ($1, $2, $3, $4, $5) "
        "RETURNING class_id, owner_id, name, course_code, auto_confirm_high_confidence, created_at, 0 AS student_count",
        uuid.uuid4(),
        owner_id,
        name,
        to_db(_Course, course_code),
        auto_confirm,
    )
    assert row is not None
    return _class(row)


async def get_class(conn: Connection, class_id: str) -> ClassRecord | None:
    row = await conn.fetchrow(f"SELECT {_CLASS_COLUMNS} FROM classes c WHERE c.class_id = $1", class_id)
    return None if row is None else _class(row)


async def list_classes(
    conn: Connection, owner_id: str | None, after: PageCursor | None, limit: int
) -> list[ClassRecord]:
    """Classes by creation time; ``owner_id`` None lists everyone's (admins)."""
    rows = await conn.fetch(
        f"SELECT {_CLASS_COLUMNS} FROM classes c "
        "WHERE ($1::text IS NULL OR c.owner_id = $1) "
        "AND ($2::timestamptz IS NULL OR (c.created_at, c.class_id) > ($2, $3::uuid)) "
        "ORDER BY c.created_at, c.class_id LIMIT $4",
        owner_id,
        after.created_at if after else None,
        after.class_id if after else None,
        limit,
    )
    return [_class(r) for r in rows]


def _student(row: asyncpg.Record) -> StudentRecord:
    return StudentRecord(str(row["student_id"]), row["first_name"], row["last_name"], row["email"])


async def add_students(
    conn: Connection, class_id: str, owner_id: str, students: Sequence[NewStudent]
) -> list[tuple[StudentRecord, bool]]:
    """Each student as stored, in request order, and whether this call added it to the class.

    A known e-mail keeps its stored student (and name); run inside a transaction."""
    emails = [s.email for s in students]
    await conn.execute(
        "INSERT INTO students (student_id, owner_id, first_name, last_name, email) "
        "SELECT gen_random_uuid(), $1, t.first_name, t.last_name, t.email "
        "FROM unnest($2::text[], $3::text[], $4::text[]) AS t(first_name, last_name, email) "
        "ON CONFLICT (owner_id, email) DO NOTHING",
        owner_id,
        [s.first_name for s in students],
        [s.last_name for s in students],
        emails,
    )
    rows = await conn.fetch(
        "SELECT student_id, first_name, last_name, email FROM students WHERE owner_id = $1 AND email = ANY($2::text[])",
        owner_id,
        emails,
    )
    by_email = {r["email"]: _student(r) for r in rows}
    added = await conn.fetch(
        "INSERT INTO class_members (class_id, student_id) SELECT $1, unnest($2::uuid[]) "
        "ON CONFLICT DO NOTHING RETURNING student_id",
        class_id,
        [s.student_id for s in by_email.values()],
    )
    newly_added = {str(r["student_id"]) for r in added}
    result: list[tuple[StudentRecord, bool]] = []
    for email in emails:
        record = by_email[email]
        result.append((record, record.student_id in newly_added))
        newly_added.discard(record.student_id)  # a repeated e-mail in one call counts once
    return result


async def class_students(conn: Connection, class_id: str) -> list[StudentRecord]:
    rows = await conn.fetch(
        "SELECT s.student_id, s.first_name, s.last_name, s.email FROM class_members m "
        "JOIN students s USING (student_id) WHERE m.class_id = $1 "
        "ORDER BY s.last_name, s.first_name, s.email",
        class_id,
    )
    return [_student(r) for r in rows]


async def class_member_ids(conn: Connection, class_id: str, candidates: Iterable[str] | None = None) -> set[str]:
    """The ids of the class's students (among ``candidates`` when given)."""
    if candidates is None:
        rows = await conn.fetch("SELECT student_id FROM class_members WHERE class_id = $1", class_id)
    else:
        rows = await conn.fetch(
            "SELECT student_id FROM class_members WHERE class_id = $1 AND student_id = ANY($2::uuid[])",
            class_id,
            list(candidates),
        )
    return {str(r["student_id"]) for r in rows}


# ---------------------------------------------------------------- batch validations

_BATCH_COLUMNS = (
    "b.batch_id, b.class_id, c.owner_id, b.course_code, b.deadline, b.state, b.confirmed_at, "
    "b.timeout_triggered, b.correlation_id, b.causation_id"
)


def _batch(row: asyncpg.Record) -> BatchRecord:
    return BatchRecord(
        batch_id=row["batch_id"],
        class_id=str(row["class_id"]),
        owner_id=row["owner_id"],
        course_code=_course(row["course_code"]),
        deadline=row["deadline"],
        state=_state(row["state"]),
        confirmed_at=row["confirmed_at"],
        timeout_triggered=row["timeout_triggered"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
    )


async def open_batch(
    conn: Connection,
    *,
    batch_id: str,
    class_id: str,
    course_code: CourseCode,
    deadline_s: float,
    correlation_id: str,
    causation_id: str,
) -> BatchRecord | None:
    """Start a batch's validation, the deadline counted on the database clock.

    None when the batch is already known: its first suggestions (and any decision since) stand."""
    row = await conn.fetchrow(
        "WITH inserted AS ("
        "  INSERT INTO batch_validations (batch_id, class_id, course_code, deadline, correlation_id, causation_id) "
        "  VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6) "
        "  ON CONFLICT (batch_id) DO NOTHING RETURNING *"
        f") SELECT {_BATCH_COLUMNS} FROM inserted b JOIN classes c USING (class_id)",
        batch_id,
        class_id,
        to_db(_Course, course_code),
        deadline_s,
        correlation_id,
        causation_id,
    )
    return None if row is None else _batch(row)


async def get_batch(
    conn: Connection, batch_id: str, *, for_update: bool = False, owner_id: str | None = None
) -> BatchRecord | None:
    """A batch's validation; ``for_update`` holds its row until the transaction ends, which
    serialises every decision, sweep and publication of that batch. With ``owner_id``,
    only that teacher's batch: another's is neither returned nor locked (so it cannot
    be told from a missing one by waiting on its lock)."""
    lock = " FOR UPDATE OF b" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_BATCH_COLUMNS} FROM batch_validations b JOIN classes c USING (class_id) "
        f"WHERE b.batch_id = $1 AND ($2::text IS NULL OR c.owner_id = $2){lock}",
        batch_id,
        owner_id,
    )
    return None if row is None else _batch(row)


async def claim_overdue_batch(conn: Connection, as_of: datetime | None) -> BatchRecord | None:
    """One awaiting batch past its deadline, locked; a batch another sweeper or a teacher
    holds is skipped (it is either being resolved or will be on the next pass)."""
    row = await conn.fetchrow(
        f"SELECT {_BATCH_COLUMNS} FROM batch_validations b JOIN classes c USING (class_id) "
        "WHERE b.state = $1 AND b.deadline <= coalesce($2::timestamptz, now()) "
        "ORDER BY b.deadline LIMIT 1 FOR UPDATE OF b SKIP LOCKED",
        AWAITING_DB,
        as_of,
    )
    return None if row is None else _batch(row)


async def mark_confirmed(conn: Connection, batch_id: str, confirmed_at: datetime, timeout_triggered: bool) -> None:
    result = await conn.execute(
        "UPDATE batch_validations SET state = $2, confirmed_at = $3, timeout_triggered = $4 "
        "WHERE batch_id = $1 AND state = $5",
        batch_id,
        CONFIRMED_DB,
        confirmed_at,
        timeout_triggered,
        AWAITING_DB,
    )
    if result != "UPDATE 1":
        # Only reachable without the batch lock: a second confirmation must never commit.
        raise RuntimeError(f"batch {batch_id} was not awaiting validation")


# ---------------------------------------------------------------- associations


async def insert_associations(
    conn: Connection,
    batch_id: str,
    class_id: str,
    rows: Sequence[tuple[Suggestion, Resolution | None]],
) -> None:
    """One row per essay: the suggestion, already final when auto-confirmed."""
    await conn.execute(
        "INSERT INTO essay_student_associations (essay_id, batch_id, class_id, suggested_student_id, student_id, "
        "confidence_score, match_reasons, validation_status, validation_method, validated_by, validated_at) "
        "SELECT t.essay_id, $1, $2, t.suggested, t.student, t.score, t.reasons::jsonb, t.status, t.method, t.by, t.at "
        "FROM unnest($3::text[], $4::uuid[], $5::uuid[], $6::float8[], $7::text[], $8::text[], $9::text[], "
        "$10::text[], $11::timestamptz[]) AS t(essay_id, suggested, student, score, reasons, status, method, by, at) "
        "ON CONFLICT (batch_id, essay_id) DO NOTHING",
        batch_id,
        class_id,
        [s.essay_id for s, _ in rows],
        [s.student_id for s, _ in rows],
        [r.student_id if r else None for _, r in rows],
        [s.confidence_score for s, _ in rows],
        # JSON text per row: asyncpg would read a list of lists as a nested array.
        [json.dumps(s.match_reasons) for s, _ in rows],
        [to_db(_Status, r.status) if r else PENDING_DB for _, r in rows],
        [to_db(_Method, r.method) if r else None for _, r in rows],
        [r.validated_by if r else None for _, r in rows],
        [r.validated_at if r else None for _, r in rows],
    )


async def apply_resolutions(
    conn: Connection, batch_id: str, resolutions: Sequence[Resolution], *, only_pending: bool
) -> int:
    """Store final statuses; ``only_pending`` leaves every decided row alone (the sweep)."""
    if not resolutions:
        return 0
    result = await conn.execute(
        "UPDATE essay_student_associations a SET validation_status = r.status, student_id = r.student, "
        "validation_method = r.method, validated_by = r.by, validated_at = r.at, updated_at = now() "
        "FROM unnest($2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[]) "
        "AS r(essay_id, status, student, method, by, at) "
        "WHERE a.batch_id = $1 AND a.essay_id = r.essay_id AND (NOT $8 OR a.validation_status = $9)",
        batch_id,
        [r.essay_id for r in resolutions],
        [to_db(_Status, r.status) for r in resolutions],
        [r.student_id for r in resolutions],
        [to_db(_Method, r.method) for r in resolutions],
        [r.validated_by for r in resolutions],
        [r.validated_at for r in resolutions],
        only_pending,
        PENDING_DB,
    )
    return int(result.split()[-1])


def _view(row: asyncpg.Record) -> AssociationView:
    def student(prefix: str) -> StudentRecord | None:
        if row[f"{prefix}_id"] is None:
            return None
        return StudentRecord(
            str(row[f"{prefix}_id"]), row[f"{prefix}_first"], row[f"{prefix}_last"], row[f"{prefix}_email"]
        )

    return AssociationView(
        association=Association(
            essay_id=row["essay_id"],
            suggested_student_id=_id(row["suggested_student_id"]),
            confidence_score=float(row["confidence_score"]),
            status=_status(row["validation_status"]),
            student_id=_id(row["student_id"]),
            method=_method(row["validation_method"]),
            validated_by=row["validated_by"],
            validated_at=row["validated_at"],
        ),
        batch_id=row["batch_id"],
        class_id=str(row["class_id"]),
        suggested_student=student("suggested"),
        student=student("current"),
        match_reasons=list(row["match_reasons"]),
        created_at=row["created_at"],
    )


async def batch_associations(conn: Connection, batch_id: str) -> list[AssociationView]:
    rows = await conn.fetch(
        "SELECT a.*, "
        "ss.student_id AS suggested_id, ss.first_name AS suggested_first, ss.last_name AS suggested_last, "
        "ss.email AS suggested_email, "
        "cs.student_id AS current_id, cs.first_name AS current_first, cs.last_name AS current_last, "
        "cs.email AS current_email "
        "FROM essay_student_associations a "
        "LEFT JOIN students ss ON ss.student_id = a.suggested_student_id "
        "LEFT JOIN students cs ON cs.student_id = a.student_id "
        "WHERE a.batch_id = $1 ORDER BY a.created_at, a.essay_id",
        batch_id,
    )
    return [_view(r) for r in rows]


async def status_counts(conn: Connection, batch_id: str) -> dict[Status, int]:
    rows = await conn.fetch(
        "SELECT validation_status, count(*) AS n FROM essay_student_associations WHERE batch_id = $1 "
        "GROUP BY validation_status",
        batch_id,
    )
    return {_status(r["validation_status"]): int(r["n"]) for r in rows}
