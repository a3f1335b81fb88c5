"""The CMS schema from an empty database, its CHECK constraints against the proto enums,
and ``downgrade base``."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import migrations
from essayflow_runtime.db import plain_dsn
from essayflow_runtime.enums import db_values

TABLES = {
    "classes",
    "students",
    "class_members",
    "essay_student_associations",
    "batch_validations",
    "outbox",
    "processed_events",
}


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'cms'")
        return {r["table_name"] for r in rows}
    finally:
        await conn.close()


async def _connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(plain_dsn(url), server_settings={"search_path": "cms"})
    return conn


async def test_upgrade_creates_schema_and_downgrade_base_removes_it(database_url: str) -> None:
    assert TABLES | {"alembic_version"} <= await _tables(database_url)

    await asyncio.to_thread(migrations.downgrade, "cms", database_url, "base")
    assert await _tables(database_url) <= {"alembic_version"}

    await asyncio.to_thread(migrations.upgrade, "cms", database_url)
    assert await _tables(database_url) >= TABLES


async def test_association_indexes_exist(database_url: str) -> None:
    conn = await _connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'cms' AND tablename = 'essay_student_associations'"
        )
    finally:
        await conn.close()
    definitions = " ".join(r["indexdef"] for r in rows)
    assert "(class_id, validation_status)" in definitions
    assert "(batch_id, validation_status)" in definitions


async def test_validation_status_defaults_to_pending(database_url: str) -> None:
    conn = await _connect(database_url)
    try:
        class_id, batch_id = await _class_and_batch(conn)
        await conn.execute(
            "INSERT INTO essay_student_associations (essay_id, batch_id, class_id) VALUES ('e1', $1, $2)",
            batch_id,
            class_id,
        )
        status = await conn.fetchval("SELECT validation_status FROM essay_student_associations")
        column = await conn.fetchrow(
            "SELECT data_type, character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = 'cms' AND table_name = 'essay_student_associations' "
            "AND column_name = 'validation_status'"
        )
    finally:
        await conn.close()
    assert status == "pending_validation"
    assert (column["data_type"], column["character_maximum_length"]) == ("character varying", 50)


async def _class_and_batch(conn: asyncpg.Connection) -> tuple[uuid.UUID, str]:
    class_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO classes (class_id, owner_id, name, course_code) VALUES ($1, 't', 'c', 'eng5')", class_id
    )
    batch_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO batch_validations (batch_id, class_id, course_code, deadline, correlation_id, causation_id) "
        "VALUES ($1, $2, 'eng5', now(), 'c', 'c')",
        batch_id,
        class_id,
    )
    return class_id, batch_id


async def _accepts(conn: asyncpg.Connection, sql: str, *args: object) -> bool:
    try:
        async with conn.transaction():
            await conn.execute(sql, *args)
            raise _Rollback
    except _Rollback:
        return True
    except asyncpg.CheckViolationError:
        return False


class _Rollback(Exception):
    pass


BOGUS = ["", "unknown", "PENDING_VALIDATION", "student_association_status_confirmed", "unspecified"]


@pytest.mark.parametrize(
    ("enum", "column", "final_sql"),
    [
        (
            common_pb2.StudentAssociationStatus,
            "validation_status",
            "INSERT INTO essay_student_associations (essay_id, batch_id, class_id, validation_status, "
            "validation_method, validated_by, validated_at) VALUES ('e', $2, $3, $1::varchar, "
            "CASE WHEN $1::varchar = 'pending_validation' THEN NULL ELSE 'human' END, "
            "CASE WHEN $1::varchar = 'pending_validation' THEN NULL ELSE 'x' END, "
            "CASE WHEN $1::varchar = 'pending_validation' THEN NULL ELSE now() END)",
        ),
        (
            common_pb2.AssociationValidationMethod,
            "validation_method",
            "INSERT INTO essay_student_associations (essay_id, batch_id, class_id, validation_status, "
            "validation_method, validated_by, validated_at) VALUES ('e', $2, $3, 'confirmed', $1::varchar, 'x', now())",
        ),
        (
            common_pb2.CourseCode,
            "course_code",
            "INSERT INTO classes (class_id, owner_id, name, course_code) "
            "VALUES (gen_random_uuid(), $2, 'n', $1::varchar) RETURNING $3::uuid",
        ),
        (
            cms_pb2.BatchValidationState,
            "state",
            "INSERT INTO batch_validations (batch_id, class_id, course_code, deadline, state, confirmed_at, "
            "correlation_id, causation_id) VALUES ($2 || 'x', $3, 'eng5', now(), $1::varchar, "
            "CASE WHEN $1::varchar = 'confirmed' THEN now() END, 'c', 'c')",
        ),
    ],
    ids=["validation_status", "validation_method", "course_code", "batch_state"],
)
async def test_enum_columns_accept_exactly_the_proto_values(
    database_url: str, enum: object, column: str, final_sql: str
) -> None:
    conn = await _connect(database_url)
    try:
        class_id, batch_id = await _class_and_batch(conn)
        values = db_values(enum)
        assert len(values) == len(enum.DESCRIPTOR.values) - 1  # type: ignore[attr-defined]
        for value in values:
            assert await _accepts(conn, final_sql, value, batch_id, class_id), value
        for value in BOGUS:
            assert not await _accepts(conn, final_sql, value, batch_id, class_id), value
    finally:
        await conn.close()
