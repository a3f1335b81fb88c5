"""The rules of association validation, free of I/O.

What a teacher's decision, the deadline, or auto-confirmation makes of one essay's
association; the confidence band of a score; the StudentAssociationsConfirmed payload
once no essay is pending. Store and servicer call these; nothing else decides a status.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import cms_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.errors import FailedPrecondition

Status = common_pb2.StudentAssociationStatus
Method = common_pb2.AssociationValidationMethod
Level = common_pb2.AssociationConfidenceLevel
CourseCode = common_pb2.CourseCode

PENDING = common_pb2.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION
CONFIRMED = common_pb2.STUDENT_ASSOCIATION_STATUS_CONFIRMED
REJECTED = common_pb2.STUDENT_ASSOCIATION_STATUS_REJECTED
TIMEOUT_CONFIRMED = common_pb2.STUDENT_ASSOCIATION_STATUS_TIMEOUT_CONFIRMED
NO_MATCH = common_pb2.STUDENT_ASSOCIATION_STATUS_NO_MATCH

HUMAN = common_pb2.ASSOCIATION_VALIDATION_METHOD_HUMAN
TIMEOUT = common_pb2.ASSOCIATION_VALIDATION_METHOD_TIMEOUT
AUTO = common_pb2.ASSOCIATION_VALIDATION_METHOD_AUTO
NO_METHOD = common_pb2.ASSOCIATION_VALIDATION_METHOD_UNSPECIFIED

LEVEL_HIGH = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
LEVEL_MEDIUM = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM
LEVEL_LOW = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW
LEVEL_NO_MATCH = common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH

# Who made a decision that no person made.
TIMEOUT_ACTOR = "system:timeout"
AUTO_ACTOR = "system:auto"

# A suggestion at least this confident survives the deadline (0.7 itself included).
TIMEOUT_KEEP_THRESHOLD = 0.7
# Scores above this are HIGH; MEDIUM spans TIMEOUT_KEEP_THRESHOLD..HIGH_THRESHOLD inclusive.
HIGH_THRESHOLD = 0.9


def confidence_level(score: float, has_suggestion: bool) -> Level:
    """The band of a matcher score (AssociationConfidenceLevel)."""
    if not has_suggestion:
        return LEVEL_NO_MATCH
    if score > HIGH_THRESHOLD:
        return LEVEL_HIGH
    if score >= TIMEOUT_KEEP_THRESHOLD:
        return LEVEL_MEDIUM
    return LEVEL_LOW


class DecisionKind(enum.Enum):
    CONFIRM = "confirm"
    REJECT = "reject"
    OVERRIDE = "override"


@dataclass(frozen=True)
class Decision:
    """One teacher decision about one essay, as requested."""

    essay_id: str
    kind: DecisionKind
    student_id: str | None = None  # the other student, for OVERRIDE


@dataclass(frozen=True)
class Association:
    """One essay's association as stored."""

    essay_id: str
    suggested_student_id: str | None
    confidence_score: float
    status: Status
    student_id: str | None
    method: Method  # NO_METHOD while pending
    validated_by: str | None
    validated_at: datetime | None

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING

    @property
    def confidence_level(self) -> Level:
        return confidence_level(self.confidence_score, self.suggested_student_id is not None)


@dataclass(frozen=True)
class Resolution:
    """The final status an essay's association moves to, and who made it final."""

    essay_id: str
    status: Status
    student_id: str | None
    method: Method
    validated_by: str
    validated_at: datetime

    def same_outcome(self, association: Association) -> bool:
        """True when the association already says this: repeating it changes nothing."""
        return (
            association.status == self.status
            and association.student_id == self.student_id
            and association.method == self.method
        )


def decide(association: Association, decision: Decision, actor: str, at: datetime) -> Resolution:
    """A teacher's confirm / reject / override of one essay.

    Class membership of an override's student is checked by the caller (it needs the roster)."""
    if decision.kind is DecisionKind.CONFIRM:
        if association.suggested_student_id is None:
            raise FailedPrecondition(
                f"essay {association.essay_id} has no suggested student to confirm; reject it or override it",
                reason="NO_SUGGESTION_TO_CONFIRM",
                metadata={"essay_id": association.essay_id},
                violations=[("NO_SUGGESTION", f"essays/{association.essay_id}", "the matcher suggested nobody")],
            )
        return Resolution(association.essay_id, CONFIRMED, association.suggested_student_id, HUMAN, actor, at)
    if decision.kind is DecisionKind.REJECT:
        return Resolution(association.essay_id, REJECTED, None, HUMAN, actor, at)
    return Resolution(association.essay_id, CONFIRMED, decision.student_id, HUMAN, actor, at)


def resolve_on_timeout(association: Association, at: datetime) -> Resolution:
    """What the deadline makes of a still-pending essay: keep a confident suggestion, else no match."""
    if association.suggested_student_id is not None and association.confidence_score >= TIMEOUT_KEEP_THRESHOLD:
        return Resolution(
            association.essay_id, TIMEOUT_CONFIRMED, association.suggested_student_id, TIMEOUT, TIMEOUT_ACTOR, at
        )
    return Resolution(association.essay_id, NO_MATCH, None, TIMEOUT, TIMEOUT_ACTOR, at)


@dataclass(frozen=True)
class Suggestion:
    """The matcher's best candidate for one essay, as the suggestions handler stores it."""

    essay_id: str
    student_id: str | None
    confidence_score: float
    match_reasons: list[dict[str, Any]]


def best_suggestion(result: common_pb2.EssayMatchResult, roster: set[str]) -> Suggestion:
    """The top candidate of one essay's match result; none when the matcher had none, or
    when it names someone who is not (or no longer) on the class roster."""
    for candidate in result.suggestions[:1]:
        if candidate.student.student_id in roster:
            return Suggestion(
                essay_id=result.essay_id,
                student_id=candidate.student.student_id,
                confidence_score=min(max(candidate.confidence_score, 0.0), 1.0),
                match_reasons=[
                    {"signal": r.signal, "matched": r.matched, "value": r.value, "score": r.score}
                    for r in candidate.match_reasons
                ],
            )
    return Suggestion(essay_id=result.essay_id, student_id=None, confidence_score=0.0, match_reasons=[])


def auto_confirmation(suggestion: Suggestion, at: datetime) -> Resolution | None:
    """With the class's auto-confirmation on, a HIGH-confidence suggestion is final on arrival."""
    if suggestion.student_id is None:
        return None
    if confidence_level(suggestion.confidence_score, True) != LEVEL_HIGH:
        return None
    return Resolution(suggestion.essay_id, CONFIRMED, suggestion.student_id, AUTO, AUTO_ACTOR, at)


def pending_count(associations: Iterable[Association]) -> int:
    return sum(1 for a in associations if a.is_pending)


def summary_by_method(associations: Iterable[Association]) -> list[tuple[Method, int]]:
    """(method, count) for each method that made at least one association final, in proto order."""
    counts = Counter(a.method for a in associations if not a.is_pending)
    return [(method, counts[method]) for method in (HUMAN, TIMEOUT, AUTO) if counts[method]]


def timeout_triggered(associations: Iterable[Association]) -> bool:
    return any(a.method == TIMEOUT for a in associations)


def confirmation_event(
    batch_id: str,
    class_id: str,
    course_code: CourseCode,
    associations: Sequence[Association],
    confirmed_at: datetime,
) -> cms_events_pb2.StudentAssociationsConfirmed:
    """The one StudentAssociationsConfirmed of a batch: every essay's final association."""
    if not associations or pending_count(associations):
        raise ValueError(f"batch {batch_id} still has pending essays")
    return cms_events_pb2.StudentAssociationsConfirmed(
        batch_id=batch_id,
        class_id=class_id,
        course_code=course_code,
        associations=[
            cms_events_pb2.ConfirmedAssociation(
                essay_id=a.essay_id,
                student_id=a.student_id or "",
                confidence_score=a.confidence_score,
                validation_method=a.method,
                validated_by=a.validated_by or "",
                validated_at=contracts.timestamp(a.validated_at) if a.validated_at else None,
                status=a.status,
            )
            for a in associations
        ],
        timeout_triggered=timeout_triggered(associations),
        summary=[
            cms_events_pb2.ValidationMethodCount(validation_method=method, count=count)
            for method, count in summary_by_method(associations)
        ],
        confirmed_at=contracts.timestamp(confirmed_at),
    )
