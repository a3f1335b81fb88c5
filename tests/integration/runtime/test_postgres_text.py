"""Why NUL is refused at the edge: PostgreSQL cannot store it in TEXT or JSONB, whatever the
delivery count. asyncpg reports both as DataError, a permanent failure."""

from __future__ import annotations

import json

import asyncpg
import pytest

from essayflow_runtime import input_rules

pytestmark = pytest.mark.integration


async def test_nul_in_text_and_jsonb_is_a_data_error(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.exceptions.CharacterNotInRepertoireError) as text_error:
            await conn.fetchval("SELECT $1::text", "T\x00")
        with pytest.raises(asyncpg.exceptions.UntranslatableCharacterError) as json_error:
            await conn.fetchval("SELECT $1::jsonb", json.dumps({"value": "Ada\x00"}))
        assert isinstance(text_error.value, asyncpg.DataError)
        assert isinstance(json_error.value, asyncpg.DataError)
        # Every other control character is storable: refusing them is for display, not storage.
        assert await conn.fetchval("SELECT $1::text", "a\x01\x1b\x85b") == "a\x01\x1b\x85b"
    finally:
        await conn.close()
    assert input_rules.control_character("T\x00", multiline=True) == 1
