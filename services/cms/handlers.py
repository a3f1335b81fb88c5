"""Events CMS consumes: the matcher's suggestions open a batch's validation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, nlp_events_pb2
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import EventContext, Handler, transactional
from essayflow_runtime.contracts import PoisonMessage
from essayflow_runtime.ids import is_uuid
from essayflow_runtime.logs import get_logger
from services.cms import confirmation, purge, reconcile, store, validation

log = get_logger(__name__)

CONSUMER = "cms"

Effect = Callable[[asyncpg.Connection, EventContext, Message], Awaitable[None]]


def _check(payload: nlp_events_pb2.BatchAuthorMatchesSuggested) -> None:
    if not payload.batch_id:
        raise PoisonMessage("MISSING_BATCH_ID")
    if not is_uuid(payload.class_id):
        raise PoisonMessage("INVALID_CLASS_ID", repr(payload.class_id))
    if not payload.results:
        raise PoisonMessage("NO_ESSAYS", f"batch {payload.batch_id} has no match results")
    essay_ids = [r.essay_id for r in payload.results]
    if not all(essay_ids):
        raise PoisonMessage("MISSING_ESSAY_ID", f"batch {payload.batch_id}")
    if len(set(essay_ids)) != len(essay_ids):
        raise PoisonMessage("DUPLICATE_ESSAY_ID", f"batch {payload.batch_id}")
    if payload.course_code and payload.course_code not in common_pb2.CourseCode.values():
        raise PoisonMessage("UNKNOWN_COURSE_CODE", str(payload.course_code))


def suggestions_effect(settings: Settings) -> Effect:
    """One association row per essay of the batch, in the transaction that records the event."""

    async def effect(conn: asyncpg.Connection, context: EventContext, message: Message) -> None:
        assert isinstance(message, nlp_events_pb2.BatchAuthorMatchesSuggested)
        _check(message)
        if await purge.is_purged(conn, message.batch_id):
            log.info("suggestions for a purged batch ignored", batch_id=message.batch_id)
            return
        klass = await store.get_class(conn, message.class_id)
        if klass is None:
            raise PoisonMessage("UNKNOWN_CLASS", message.class_id)
        batch = await store.open_batch(
            conn,
            batch_id=message.batch_id,
            class_id=klass.class_id,
            # The batch's own course (from its registration) wins over the class default.
            course_code=message.course_code or klass.course_code,
            deadline_s=settings.validation_deadline_s,
            correlation_id=context.correlation_id,
            causation_id=context.event_id,
        )
        if batch is None:
            log.info("suggestions for a batch already under validation ignored", batch_id=message.batch_id)
            return
        roster = await store.class_member_ids(conn, klass.class_id)
        now = datetime.now(UTC)
        rows = []
        for result in message.results:
            suggestion = validation.best_suggestion(result, roster)
            auto = validation.auto_confirmation(suggestion, now) if klass.auto_confirm_high_confidence else None
            rows.append((suggestion, auto))
        await store.insert_associations(conn, batch.batch_id, batch.class_id, rows)
        if any(auto for _, auto in rows):
            await confirmation.publish_if_complete(conn, batch, now)

    return effect


def build_handlers(settings: Settings, pool: asyncpg.Pool) -> Mapping[type[Message], Handler]:
    return {
        nlp_events_pb2.BatchAuthorMatchesSuggested: transactional(pool, CONSUMER, suggestions_effect(settings)),
        **reconcile.build_handlers(pool),
        bos_events_pb2.BatchPurged: transactional(pool, CONSUMER, purge.purge_effect),
    }
