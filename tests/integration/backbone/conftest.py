from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from essayflow_runtime import db, outbox


@pytest.fixture
async def schema(database_url: str) -> str:
    name = f"bb_{uuid.uuid4().hex[:8]}"
    conn = await db.connect(database_url, name)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        for statement in outbox.ddl_statements(name):  # the migrations' own DDL
            await conn.execute(statement)
        await conn.execute("CREATE TABLE effects (batch_id TEXT NOT NULL, event_id TEXT NOT NULL)")
    finally:
        await conn.close()
    return name


@pytest.fixture
async def pool(database_url: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    created = await db.create_pool(database_url, schema, min_size=1, max_size=10)
    try:
        yield created
    finally:
        await created.close()
