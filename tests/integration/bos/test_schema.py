"""The BOS schema, built by Alembic from an empty database, against the proto contracts."""

from __future__ import annotations

import asyncio
import re
import uuid

import asyncpg
import pytest

from essayflow.common.v1 import common_pb2
from essayflow_runtime import migrations
from essayflow_runtime.enums import db_values, to_db

TABLES = {"batches", "batch_essays", "batch_transitions", "idempotency_keys", "processed_events", "outbox"}

# (table, column) → the proto enum its values must be exactly.
ENUM_COLUMNS = {
    ("batches", "status"): common_pb2.BatchStatus,
    ("batches", "batch_type"): common_pb2.BatchType,
    ("batches", "course_code"): common_pb2.CourseCode,
    ("batch_transitions", "from_status"): common_pb2.BatchStatus,
    ("batch_transitions", "to_status"): common_pb2.BatchStatus,
    ("batch_essays", "association_status"): common_pb2.StudentAssociationStatus,
    ("batch_essays", "validation_method"): common_pb2.AssociationValidationMethod,
}


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'bos'")
    return {r["table_name"] for r in rows}


async def allowed_values(conn: asyncpg.Connection, table: str, column: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (c.conkey) "
        "WHERE n.nspname = 'bos' AND t.relname = $1 AND a.attname = $2 AND c.contype = 'c' "
        "AND cardinality(c.conkey) = 1",
        table,
        column,
    )
    assert len(rows) == 1, f"{table}.{column} should have exactly one CHECK constraint"
    return set(re.findall(r"'([a-z0-9_]+)'::text", rows[0]["def"]))


async def test_every_enum_column_accepts_exactly_the_proto_values(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for (table, column), enum in ENUM_COLUMNS.items():
            assert await allowed_values(conn, table, column) == set(db_values(enum)), f"{table}.{column}"
        assert "student_validation_completed" in await allowed_values(conn, "batches", "status")
    finally:
        await conn.close()


async def insert_batch(conn: asyncpg.Connection, status: str) -> str:
    batch_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO bos.batches (batch_id, owner_id, batch_type, course_code, expected_essay_count, essay_ids, "
        "status, correlation_id) VALUES ($1::uuid, 't', $4, $5, 1, ARRAY[$2::uuid], $3, $1::text)",
        batch_id,
        str(uuid.uuid4()),
        status,
        to_db(common_pb2.BatchType, common_pb2.BATCH_TYPE_GUEST),
        to_db(common_pb2.CourseCode, common_pb2.COURSE_CODE_ENG5),
    )
    return batch_id


async def test_the_database_refuses_a_status_proto_does_not_have(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        for status in db_values(common_pb2.BatchStatus):
            await insert_batch(conn, status)
        with pytest.raises(asyncpg.CheckViolationError):
            await insert_batch(conn, "ready")  # an upstream-style hand-written value
    finally:
        await conn.close()


async def test_history_is_unique_per_version_and_append_only(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        batch_id = await insert_batch(conn, "awaiting_content_validation")
        row = (
            "INSERT INTO bos.batch_transitions (batch_id, version, from_status, to_status, cause, actor, "
            "correlation_id) VALUES ($1, 1, 'awaiting_content_validation', 'cancelled', 'rpc:Test', 't', 'c')"
        )
        await conn.execute(row, batch_id)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(row, batch_id)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE bos.batch_transitions SET reason = 'rewritten' WHERE batch_id = $1", batch_id)
    finally:
        await conn.close()


async def test_migrations_build_the_schema_from_empty_and_tear_it_down(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert await tables(conn) >= TABLES
        await asyncio.to_thread(migrations.downgrade, "bos", database_url, "base")
        assert await tables(conn) <= {"alembic_version"}
        await asyncio.to_thread(migrations.upgrade, "bos", database_url)
        assert await tables(conn) >= TABLES
    finally:
        await conn.close()


async def test_idempotency_scope_migration_keeps_old_answers_unreachable_and_goes_back(database_url: str) -> None:
    """0003_idempotency_scope: an answer stored before it has no caller, so no caller can
    replay it; going back keeps one answer per (operation, batch, key)."""
    conn = await asyncpg.connect(database_url)
    try:
        await asyncio.to_thread(migrations.downgrade, "bos", database_url, "0001_initial")
        batch_id = await insert_batch(conn, "awaiting_content_validation")
        await conn.execute(
            "INSERT INTO bos.idempotency_keys (operation, batch_id, idempotency_key, response) "
            "VALUES ('TransitionBatch', $1, 'k', 'old')",
            batch_id,
        )
        await asyncio.to_thread(migrations.upgrade, "bos", database_url)
        row = await conn.fetchrow("SELECT caller_role, caller_subject, fingerprint FROM bos.idempotency_keys")
        assert row is not None and tuple(row) == ("", "", b"")
        for role, subject in (("service", "els"), ("admin", "root")):
            await conn.execute(
                "INSERT INTO bos.idempotency_keys (operation, batch_id, idempotency_key, response, caller_role, "
                "caller_subject, fingerprint) VALUES ('TransitionBatch', $1, 'k', 'new', $2, $3, 'f')",
                batch_id,
                role,
                subject,
            )
        with pytest.raises(asyncpg.NotNullViolationError):  # new rows must name their caller
            await conn.execute(
                "INSERT INTO bos.idempotency_keys (operation, batch_id, idempotency_key, response) "
                "VALUES ('RequestPipeline', $1, 'k', 'x')",
                batch_id,
            )
        await asyncio.to_thread(migrations.downgrade, "bos", database_url, "0001_initial")
        kept = await conn.fetch("SELECT response FROM bos.idempotency_keys")
        assert [bytes(r["response"]) for r in kept] == [b"old"]
        await asyncio.to_thread(migrations.upgrade, "bos", database_url)
    finally:
        await conn.close()
