"""The CMS gRPC API: decode and check requests, authorize, call the store or the
review, encode. Roles per method are declared in main.py and enforced by the
runtime's interceptor; ownership is checked here, once the class is known."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import grpc

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import contracts
from essayflow_runtime.auth import Principal, Role, current_principal
from essayflow_runtime.errors import FieldErrors
from essayflow_runtime.ids import canonical_uuid
from services.cms import access, review, roster, store, validation


class ClassManagementServicer:
    """Implements essayflow.cms.v1.ClassManagementService (registered by main.py)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # ------------------------------------------------------------ classes and rosters

    async def CreateClass(
        self, request: cms_pb2.CreateClassRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.CreateClassResponse:
        principal = current_principal()
        async with self._pool.acquire() as conn:
            created = await store.create_class(
                conn, principal.subject, request.name.strip(), request.course_code, request.auto_confirm_high_confidence
            )
        return cms_pb2.CreateClassResponse(**{"class": encode_class(created)})

    async def GetClass(
        self, request: cms_pb2.GetClassRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.GetClassResponse:
        # BOS asks with a service token to learn who owns a class before registering a batch.
        found = await self._class(current_principal(), request.class_id, allow_service=True)
        return cms_pb2.GetClassResponse(**{"class": encode_class(found)})

    async def ListClasses(
        self, request: cms_pb2.ListClassesRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.ListClassesResponse:
        principal = current_principal()
        size = roster.page_size(request.page_size)
        cursor = roster.PageCursor.decode(request.page_token)
        owner = None if principal.role is Role.ADMIN else principal.subject
        async with self._pool.acquire() as conn:
            page = await store.list_classes(conn, owner, cursor, size + 1)
        next_token = ""
        if len(page) > size:
            page = page[:size]
            next_token = roster.PageCursor(page[-1].created_at, page[-1].class_id).encode()
        return cms_pb2.ListClassesResponse(classes=[encode_class(c) for c in page], next_page_token=next_token)

    async def AddStudents(
        self, request: cms_pb2.AddStudentsRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.AddStudentsResponse:
        principal = current_principal()
        students = roster.new_students([(s.first_name, s.last_name, s.email) for s in request.students])
        roster.one_student_per_email(students)
        found = await self._class(principal, request.class_id)
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await store.add_students(conn, found.class_id, found.owner_id, students)
        created = sum(1 for _, is_new in stored if is_new)
        return cms_pb2.AddStudentsResponse(
            students=[encode_student(s) for s, _ in stored],
            created_count=created,
            existing_count=len(stored) - created,
        )

    async def ListClassStudents(
        self, request: cms_pb2.ListClassStudentsRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.ListClassStudentsResponse:
        # The matcher reads rosters with a service token.
        found = await self._class(current_principal(), request.class_id, allow_service=True)
        async with self._pool.acquire() as conn:
            students = await store.class_students(conn, found.class_id)
        return cms_pb2.ListClassStudentsResponse(students=[encode_student(s) for s in students])

    async def _class(self, principal: Principal, class_id: str, *, allow_service: bool = False) -> store.ClassRecord:
        # An id that is not a UUID names no class: NOT_FOUND, as callers such as BOS expect.
        canonical = canonical_uuid(class_id)
        found = None
        if canonical is not None:
            async with self._pool.acquire() as conn:
                found = await store.get_class(conn, canonical)
        # Someone else's class is answered like a missing one (access.class_not_found).
        if found is None or not access.may_act(principal, found.owner_id, allow_service=allow_service):
            raise access.class_not_found(class_id)
        return found

    # ------------------------------------------------------------ batch validation

    async def ListBatchAssociations(
        self, request: cms_pb2.ListBatchAssociationsRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.ListBatchAssociationsResponse:
        batch, views = await review.associations(self._pool, current_principal(), request.batch_id)
        return cms_pb2.ListBatchAssociationsResponse(
            batch_id=batch.batch_id,
            class_id=batch.class_id,
            state=batch.state,
            validation_deadline=contracts.timestamp(batch.deadline),
            associations=[encode_association(v) for v in views],
        )

    async def ValidateAssociations(
        self, request: cms_pb2.ValidateAssociationsRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.ValidateAssociationsResponse:
        decisions = decode_decisions(request)
        outcome = await review.decide(self._pool, current_principal(), request.batch_id, decisions)
        return cms_pb2.ValidateAssociationsResponse(
            associations=[encode_association(v) for v in outcome.touched],
            batch_confirmed=outcome.batch_confirmed,
            pending_count=outcome.pending_count,
        )

    async def GetBatchValidation(
        self, request: cms_pb2.GetBatchValidationRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.GetBatchValidationResponse:
        batch, counts = await review.counts(self._pool, current_principal(), request.batch_id)
        statuses = [v.number for v in common_pb2.StudentAssociationStatus.DESCRIPTOR.values if v.number]
        return cms_pb2.GetBatchValidationResponse(
            batch_id=batch.batch_id,
            class_id=batch.class_id,
            state=batch.state,
            validation_deadline=contracts.timestamp(batch.deadline),
            counts=[cms_pb2.StatusCount(status=s, count=counts.get(s, 0)) for s in statuses],
            confirmed_at=contracts.timestamp(batch.confirmed_at) if batch.confirmed_at else None,
            timeout_triggered=batch.timeout_triggered,
        )


def decode_decisions(request: cms_pb2.ValidateAssociationsRequest) -> list[validation.Decision]:
    """The decisions of a request whose field rules hold (cms.proto); one essay decided twice is
    refused here, as it takes more than one field to see."""
    errors = FieldErrors()
    decisions: list[validation.Decision] = []
    seen: set[str] = set()
    for i, raw in enumerate(request.decisions):
        path = f"decisions[{i}]"
        errors.check(raw.essay_id not in seen, f"{path}.essay_id", "is decided twice in this request")
        seen.add(raw.essay_id)
        kind = raw.WhichOneof("decision")
        if kind == "confirm":
            decisions.append(validation.Decision(raw.essay_id, validation.DecisionKind.CONFIRM))
        elif kind == "reject":
            decisions.append(validation.Decision(raw.essay_id, validation.DecisionKind.REJECT))
        elif kind == "override":
            student_id = str(uuid.UUID(raw.override.student_id))
            decisions.append(validation.Decision(raw.essay_id, validation.DecisionKind.OVERRIDE, student_id))
    errors.raise_if_any()
    return decisions


def encode_class(record: store.ClassRecord) -> cms_pb2.Class:
    return cms_pb2.Class(
        class_id=record.class_id,
        owner_id=record.owner_id,
        name=record.name,
        course_code=record.course_code,
        auto_confirm_high_confidence=record.auto_confirm_high_confidence,
        created_at=contracts.timestamp(record.created_at),
        student_count=record.student_count,
    )


def encode_student(record: store.StudentRecord) -> common_pb2.Student:
    return common_pb2.Student(
        student_id=record.student_id, first_name=record.first_name, last_name=record.last_name, email=record.email
    )


def encode_association(view: store.AssociationView) -> cms_pb2.Association:
    a = view.association
    fields: dict[str, Any] = {
        "essay_id": a.essay_id,
        "batch_id": view.batch_id,
        "class_id": view.class_id,
        "confidence_score": a.confidence_score,
        "confidence_level": a.confidence_level,
        "match_reasons": [
            common_pb2.MatchReason(
                signal=str(r.get("signal", "")),
                matched=str(r.get("matched", "")),
                value=str(r.get("value", "")),
                score=float(r.get("score", 0.0)),
            )
            for r in view.match_reasons
        ],
        "status": a.status,
        "validation_method": a.method,
        "validated_by": a.validated_by or "",
        "created_at": contracts.timestamp(view.created_at),
    }
    if view.suggested_student:
        fields["suggested_student"] = encode_student(view.suggested_student)
    if view.student:
        fields["student"] = encode_student(view.student)
    if a.validated_at:
        fields["validated_at"] = contracts.timestamp(a.validated_at)
    return cms_pb2.Association(**fields)
