"""Driving one batch through BOS's handlers and commands directly against the real database
(no gRPC, no NATS): the fast path for order and property tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from google.protobuf.message import Message

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import cms_events_pb2, els_events_pb2
from essayflow_runtime.auth import Principal, Role
from essayflow_runtime.consumer import EventContext
from essayflow_runtime.contracts import event_type_of
from services.bos import commands, handlers, store, validation
from tests.integration.bos.helpers import FakeDirectory, essay_refs, ready_essays

S = common_pb2.BatchStatus
OWNER = Principal("teacher-scenario", Role.TEACHER)
SERVICE = Principal("els", Role.SERVICE)


@dataclass
class Batch:
    """One registered batch and the events that concern it."""

    pool: asyncpg.Pool
    record: store.BatchRecord
    event_ids: dict[tuple[str, int], str] = field(default_factory=dict)

    @classmethod
    async def register(cls, pool: asyncpg.Pool, *, regular: bool, count: int = 3) -> Batch:
        directory = FakeDirectory()
        class_id = directory.add(OWNER.subject) if regular else ""
        registration = validation.Registration(count, common_pb2.COURSE_CODE_SV1, class_id, "", "", b"")
        return cls(pool, await commands.register(pool, directory, OWNER, registration))

    @property
    def batch_id(self) -> str:
        return self.record.batch_id

    def event_id(self, kind: str, copy: int) -> str:
        """The same (kind, copy) is the same event delivered again; another copy is a new event."""
        return self.event_ids.setdefault((kind, copy), str(uuid.uuid4()))

    async def deliver(self, payload: Message, event_id: str | None = None) -> None:
        kind = event_type_of(type(payload))
        event_id = event_id or str(uuid.uuid4())
        ctx = EventContext(
            event_id=event_id,
            event_type=kind.full_name,
            subject=kind.subject,
            correlation_id=self.batch_id,
            causation_id="",
            source="test",
            occurred_at=datetime.now(UTC),
            delivery=1,
        )
        effect = handlers.EFFECTS[type(payload)]
        await handlers.effect_handler(self.pool, effect)(ctx, payload)

    def content_completed(self, *, failed: int = 0) -> els_events_pb2.BatchContentProvisioningCompleted:
        ids = self.record.essay_ids
        return els_events_pb2.BatchContentProvisioningCompleted(
            batch_id=self.batch_id,
            stored_essays=essay_refs(ids[failed:]),
            failed_uploads=[els_events_pb2.FailedUpload(essay_id=e) for e in ids[:failed]],
            expected_essay_count=len(ids),
            class_id=self.record.class_id,
            course_code=self.record.course_code,
        )

    def confirmed(self) -> cms_events_pb2.StudentAssociationsConfirmed:
        return cms_events_pb2.StudentAssociationsConfirmed(batch_id=self.batch_id, class_id=self.record.class_id)

    def essays_ready(self, variant: int = 0) -> els_events_pb2.BatchEssaysReady:
        essays = ready_essays(self.record.essay_ids)
        for essay in essays:
            if essay.student_id:
                essay.student_id += f"-v{variant}"
        return els_events_pb2.BatchEssaysReady(batch_id=self.batch_id, class_id=self.record.class_id, essays=essays)

    async def current(self) -> store.BatchRecord:
        record = await store.get_batch(self.pool, self.batch_id)
        assert record is not None
        return record

    async def history(self) -> list[store.TransitionRecord]:
        return await store.list_transitions(self.pool, self.batch_id)

    async def essays(self) -> list[store.EssayRecord]:
        return await store.list_essays(self.pool, self.batch_id)

    async def outbox_types(self) -> list[str]:
        rows = await self.pool.fetch("SELECT event_type FROM outbox ORDER BY id")
        return [r["event_type"] for r in rows]
