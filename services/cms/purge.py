"""BatchPurged: a batch's student links and match reasons (which quote names) are deleted.

The validation row stays (ids, deadline, state: no personal data) and the batch is
remembered in ``purged_batches``, so suggestions that arrive after the purge (it may
happen while matching is in flight) are not stored. Idempotent: a second delivery
deletes nothing more."""

from __future__ import annotations

import asyncpg
from google.protobuf.message import Message

from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.consumer import EventContext
from essayflow_runtime.logs import get_logger

log = get_logger(__name__)


async def purge_effect(conn: asyncpg.Connection, context: EventContext, message: Message) -> None:
    assert isinstance(message, bos_events_pb2.BatchPurged)
    await conn.execute(
        "INSERT INTO purged_batches (batch_id) VALUES ($1) ON CONFLICT DO NOTHING", message.batch_id
    )
    deleted = await conn.execute("DELETE FROM essay_student_associations WHERE batch_id = $1", message.batch_id)
    log.info("batch purged", batch_id=message.batch_id, associations=int(deleted.split()[-1]))


async def is_purged(conn: asyncpg.Connection, batch_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM purged_batches WHERE batch_id = $1", batch_id))
