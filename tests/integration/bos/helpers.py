"""Small tools for the BOS integration tests: a class directory, a gRPC client, polling,
and a held row lock to make races happen on purpose."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import EventContext
from essayflow_runtime.contracts import event_type_of
from services.bos.directory import ClassEntry
from tests.support import bearer, eventually

T = TypeVar("T")
S = common_pb2.BatchStatus
A = common_pb2.StudentAssociationStatus
M = common_pb2.AssociationValidationMethod


@dataclass
class FakeDirectory:
    """Classes and their owners, in memory (CMS is another engineer's service)."""

    owners: dict[str, str] = field(default_factory=dict)
    # A class's course, when a test gives it one (else the course is not compared).
    courses: dict[str, int] = field(default_factory=dict)

    def add(self, owner: str, course_code: int = 0) -> str:
        class_id = str(uuid.uuid4())
        self.owners[class_id] = owner
        if course_code:
            self.courses[class_id] = course_code
        return class_id

    async def owner_of(self, class_id: str) -> str | None:
        return self.owners.get(class_id)

    async def find(self, class_id: str) -> ClassEntry | None:
        owner = self.owners.get(class_id)
        return ClassEntry(owner, self.courses.get(class_id, 0)) if owner is not None else None


class Client:
    """The BOS stub, calling as a given principal."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.stub = bos_pb2_grpc.BatchOrchestratorServiceStub(self.channel)

    def auth(self, subject: str, role: Role) -> tuple[tuple[str, str], ...]:
        return bearer(self.settings, subject, role, "bos")

    async def call(self, method: str, request: Message, subject: str, role: Role = Role.TEACHER) -> Any:
        return await getattr(self.stub, method)(request, metadata=self.auth(subject, role), timeout=20)

    async def close(self) -> None:
        await self.channel.close()


def error_info(exc: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], list[Message]]:
    """(ErrorInfo.reason, ErrorInfo.metadata, every detail) of a failed call."""
    status = rpc_status.from_call(exc)
    assert status is not None, "the error carries no rich status"
    details: list[Message] = []
    reason, metadata = "", {}
    for packed in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.BadRequest,
        ):
            if packed.Is(kind.DESCRIPTOR):
                detail = kind()
                packed.Unpack(detail)
                details.append(detail)
                if isinstance(detail, error_details_pb2.ErrorInfo):
                    reason, metadata = detail.reason, dict(detail.metadata)
    return reason, metadata, details


def context(payload: Message, correlation_id: str = "") -> EventContext:
    """The context the consumer would hand a handler for a fresh event."""
    event_id = str(uuid.uuid4())
    kind = event_type_of(type(payload))
    return EventContext(
        event_id=event_id,
        event_type=kind.full_name,
        subject=kind.subject,
        correlation_id=correlation_id or event_id,
        causation_id="",
        source="test",
        occurred_at=datetime.now(UTC),
        delivery=1,
    )


def essay_refs(essay_ids: list[str]) -> list[common_pb2.EssayRef]:
    return [
        common_pb2.EssayRef(essay_id=e, text_storage_id=f"sha-{i}", file_name=f"essay-{i}.txt")
        for i, e in enumerate(essay_ids)
    ]


def ready_essays(essay_ids: list[str]) -> list[bos_events_pb2.ReadyEssay]:
    """Every other essay confirmed to a student, the rest without a match."""
    essays = []
    for i, ref in enumerate(essay_refs(essay_ids)):
        if i % 2 == 0:
            essays.append(
                bos_events_pb2.ReadyEssay(
                    essay=ref,
                    student_id=f"student-{i}",
                    association_status=A.STUDENT_ASSOCIATION_STATUS_CONFIRMED,
                    validation_method=M.ASSOCIATION_VALIDATION_METHOD_HUMAN,
                )
            )
        else:
            essays.append(
                bos_events_pb2.ReadyEssay(
                    essay=ref,
                    association_status=A.STUDENT_ASSOCIATION_STATUS_NO_MATCH,
                    validation_method=M.ASSOCIATION_VALIDATION_METHOD_TIMEOUT,
                )
            )
    return essays


def register_request(count: int = 3, class_id: str = "", key: str = "") -> bos_pb2.RegisterBatchRequest:
    return bos_pb2.RegisterBatchRequest(
        expected_essay_count=count,
        course_code=common_pb2.COURSE_CODE_ENG5,
        class_id=class_id,
        title="Essays, week 12",
        idempotency_key=key,
    )


@contextlib.asynccontextmanager
async def batch_row_locked(pool: asyncpg.Pool, batch_id: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold the batch's row lock, in a transaction of its own, until the block ends (then
    commit what the block wrote on the yielded connection)."""
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM batches WHERE batch_id = $1 FOR UPDATE", batch_id)
        yield holder


async def until_queued_on_lock(pool: asyncpg.Pool, count: int, statement: str) -> None:
    """Poll until ``count`` sessions of this database wait for a row lock in a statement
    containing ``statement``."""

    async def queued() -> bool:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query LIKE '%' || $1 || '%'",
            statement,
        )
        return bool(waiting == count)

    await eventually(queued, message=f"{count} statements with {statement!r} never queued on the row lock")
