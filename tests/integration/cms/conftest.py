"""CMS running in-process on a free port over the test's database and the session's
nats-server, and the small helpers its tests share."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from nats.js import JetStreamContext

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import cms_events_pb2, nlp_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import EventContext, transactional
from essayflow_runtime.service import RunningService, start_service
from services.cms.handlers import CONSUMER, suggestions_effect
from services.cms.main import build_parts
from tests.support import bearer

T = TypeVar("T")
CONFIRMED_SUBJECT = contracts.subject_of(cms_events_pb2.StudentAssociationsConfirmed)


@dataclass
class Cms:
    """A running CMS and a client to it."""

    service: RunningService
    stub: Any
    settings: Settings

    @property
    def pool(self) -> asyncpg.Pool:
        pool = self.service.connections.pool
        assert pool is not None
        return pool

    def as_(self, subject: str, role: Role = Role.TEACHER) -> tuple[tuple[str, str], ...]:
        return bearer(self.settings, subject, role, "cms")

    async def create_class(self, teacher: str, *, auto_confirm: bool = False, name: str = "9B English") -> str:
        response = await self.stub.CreateClass(
            cms_pb2.CreateClassRequest(
                name=name, course_code=common_pb2.COURSE_CODE_ENG6, auto_confirm_high_confidence=auto_confirm
            ),
            metadata=self.as_(teacher),
        )
        return str(getattr(response, "class").class_id)

    async def add_students(self, teacher: str, class_id: str, count: int) -> list[common_pb2.Student]:
        response = await self.stub.AddStudents(
            cms_pb2.AddStudentsRequest(
                class_id=class_id,
                students=[
                    cms_pb2.NewStudent(first_name=f"Anna{i}", last_name=f"Berg{i}", email=f"anna{i}@school.se")
                    for i in range(count)
                ],
            ),
            metadata=self.as_(teacher),
        )
        return list(response.students)

    async def receive_suggestions(self, event: nlp_events_pb2.BatchAuthorMatchesSuggested) -> str:
        """Run the suggestions handler as the consumer would (real database, no bus); returns the event id."""
        handler = transactional(self.pool, CONSUMER, suggestions_effect(self.settings))
        context = event_context(contracts.new_event_id())
        await handler(context, event)
        return context.event_id

    async def validate(
        self, teacher: str, batch_id: str, decisions: Sequence[cms_pb2.AssociationDecision], role: Role = Role.TEACHER
    ) -> Any:
        return await self.stub.ValidateAssociations(
            cms_pb2.ValidateAssociationsRequest(batch_id=batch_id, decisions=decisions),
            metadata=self.as_(teacher, role),
        )

    async def associations(self, teacher: str, batch_id: str) -> Any:
        return await self.stub.ListBatchAssociations(
            cms_pb2.ListBatchAssociationsRequest(batch_id=batch_id), metadata=self.as_(teacher)
        )


def event_context(event_id: str, correlation_id: str = "corr-test") -> EventContext:
    return EventContext(
        event_id=event_id,
        event_type=nlp_events_pb2.BatchAuthorMatchesSuggested.DESCRIPTOR.full_name,
        subject=contracts.subject_of(nlp_events_pb2.BatchAuthorMatchesSuggested),
        correlation_id=correlation_id,
        causation_id="",
        source="nlp",
        occurred_at=datetime.now(UTC),
        delivery=1,
    )


def suggestions(
    batch_id: str, class_id: str, essays: Iterable[tuple[str, common_pb2.Student | None, float]]
) -> nlp_events_pb2.BatchAuthorMatchesSuggested:
    """The matcher's event: (essay id, top student or None, score) per essay."""
    results = []
    for essay_id, student, score in essays:
        if student is None:
            results.append(
                common_pb2.EssayMatchResult(essay_id=essay_id, no_match_reason=common_pb2.NO_MATCH_REASON_NO_CANDIDATES)
            )
            continue
        reason = common_pb2.MatchReason(signal="header_label", matched="full_name", value="Anna Berg", score=score)
        results.append(
            common_pb2.EssayMatchResult(
                essay_id=essay_id,
                suggestions=[
                    common_pb2.AuthorSuggestion(student=student, confidence_score=score, match_reasons=[reason])
                ],
            )
        )
    return nlp_events_pb2.BatchAuthorMatchesSuggested(
        batch_id=batch_id, class_id=class_id, course_code=common_pb2.COURSE_CODE_ENG6, results=results
    )


def confirm(essay_id: str) -> cms_pb2.AssociationDecision:
    return cms_pb2.AssociationDecision(essay_id=essay_id, confirm=cms_pb2.ConfirmDecision())


def reject(essay_id: str) -> cms_pb2.AssociationDecision:
    return cms_pb2.AssociationDecision(essay_id=essay_id, reject=cms_pb2.RejectDecision())


def override(essay_id: str, student_id: str) -> cms_pb2.AssociationDecision:
    return cms_pb2.AssociationDecision(essay_id=essay_id, override=cms_pb2.OverrideDecision(student_id=student_id))


def new_id() -> str:
    return str(uuid.uuid4())


async def outbox_confirmations(pool: asyncpg.Pool, batch_ids: Iterable[str]) -> Counter[str]:
    """StudentAssociationsConfirmed rows in the outbox, per batch (sent or not)."""
    wanted = set(batch_ids)
    rows = await pool.fetch(
        "SELECT envelope FROM outbox WHERE event_type = $1",
        cms_events_pb2.StudentAssociationsConfirmed.DESCRIPTOR.full_name,
    )
    counts: Counter[str] = Counter()
    for row in rows:
        _, payload = contracts.unwrap(row["envelope"])
        assert isinstance(payload, cms_events_pb2.StudentAssociationsConfirmed)
        if payload.batch_id in wanted:
            counts[payload.batch_id] += 1
    return counts


async def outbox_drained(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE sent_at IS NULL"))


async def stream_confirmations(
    js: JetStreamContext, batch_ids: Iterable[str]
) -> dict[str, list[cms_events_pb2.StudentAssociationsConfirmed]]:
    """Every StudentAssociationsConfirmed for these batches in the stream right now."""
    wanted = set(batch_ids)
    found: dict[str, list[cms_events_pb2.StudentAssociationsConfirmed]] = {}
    subscription = await js.subscribe(CONFIRMED_SUBJECT, ordered_consumer=True)
    try:
        while True:
            msg = await subscription.next_msg(timeout=10)
            _, payload = contracts.unwrap(msg.data)
            assert isinstance(payload, cms_events_pb2.StudentAssociationsConfirmed)
            if payload.batch_id in wanted:
                found.setdefault(payload.batch_id, []).append(payload)
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await subscription.unsubscribe()


def error_details(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, list[Message]]:
    """The ErrorInfo and the other google.rpc details of a failed call."""
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    assert raw is not None, "the error carries no rich details"
    status = status_pb2.Status.FromString(raw)
    info, others = error_details_pb2.ErrorInfo(), []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            others.append(failure)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            others.append(bad)
    return info, others


@contextlib.asynccontextmanager
async def _start(settings: Settings) -> AsyncIterator[Cms]:
    service = await start_service("cms", settings, build_parts, port=0, with_database=True)
    channel = grpc.aio.insecure_channel(f"{settings.host}:{service.port}")
    try:
        yield Cms(service, cms_pb2_grpc.ClassManagementServiceStub(channel), settings)
    finally:
        await channel.close()
        await service.stop()


@pytest.fixture
async def cms(settings: Settings) -> AsyncIterator[Cms]:
    async with _start(replace(settings, grpc_shutdown_grace_s=0.5)) as running:
        yield running


@pytest.fixture
def start_cms() -> Callable[[Settings], contextlib.AbstractAsyncContextManager[Cms]]:
    """For a test that needs CMS with settings of its own (e.g. a short deadline)."""
    return _start
