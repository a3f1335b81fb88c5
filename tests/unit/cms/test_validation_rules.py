"""The pure rules of association validation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from essayflow.common.v1 import common_pb2
from essayflow_runtime.errors import FailedPrecondition
from services.cms import validation as v

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _association(
    essay_id: str = "e1", suggested: str | None = "s1", score: float = 0.8, status: int = v.PENDING, **kw: object
) -> v.Association:
    return v.Association(
        essay_id=essay_id,
        suggested_student_id=suggested,
        confidence_score=score,
        status=status,  # type: ignore[arg-type]
        student_id=kw.get("student_id"),  # type: ignore[arg-type]
        method=kw.get("method", v.NO_METHOD),  # type: ignore[arg-type]
        validated_by=kw.get("validated_by"),  # type: ignore[arg-type]
        validated_at=kw.get("validated_at"),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("score", "has_suggestion", "level"),
    [
        (0.95, True, v.LEVEL_HIGH),
        (0.9000001, True, v.LEVEL_HIGH),
        (0.9, True, v.LEVEL_MEDIUM),
        (0.7, True, v.LEVEL_MEDIUM),
        (0.6999999, True, v.LEVEL_LOW),
        (0.0, True, v.LEVEL_LOW),
        (0.99, False, v.LEVEL_NO_MATCH),
        (0.0, False, v.LEVEL_NO_MATCH),
    ],
)
def test_confidence_level_bands(score: float, has_suggestion: bool, level: int) -> None:
    assert v.confidence_level(score, has_suggestion) == level


def test_confirm_keeps_the_suggestion() -> None:
    r = v.decide(_association(), v.Decision("e1", v.DecisionKind.CONFIRM), "t1", AT)
    assert (r.status, r.student_id, r.method, r.validated_by, r.validated_at) == (v.CONFIRMED, "s1", v.HUMAN, "t1", AT)


def test_confirm_without_a_suggestion_is_a_failed_precondition() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        v.decide(_association(suggested=None, score=0.0), v.Decision("e1", v.DecisionKind.CONFIRM), "t1", AT)
    assert caught.value.reason == "NO_SUGGESTION_TO_CONFIRM"


def test_reject_and_override() -> None:
    rejected = v.decide(_association(), v.Decision("e1", v.DecisionKind.REJECT), "t1", AT)
    assert (rejected.status, rejected.student_id, rejected.method) == (v.REJECTED, None, v.HUMAN)
    overridden = v.decide(_association(), v.Decision("e1", v.DecisionKind.OVERRIDE, "s9"), "t1", AT)
    assert (overridden.status, overridden.student_id, overridden.method) == (v.CONFIRMED, "s9", v.HUMAN)
    # An override works for an essay without a suggestion too.
    assert v.decide(_association(suggested=None), v.Decision("e1", v.DecisionKind.OVERRIDE, "s9"), "t", AT).student_id


def test_repeating_a_decision_is_the_same_outcome_but_a_teacher_confirming_auto_is_not() -> None:
    confirmed = _association(status=v.CONFIRMED, student_id="s1", method=v.HUMAN, validated_by="t1", validated_at=AT)
    assert v.decide(confirmed, v.Decision("e1", v.DecisionKind.CONFIRM), "t1", AT).same_outcome(confirmed)
    assert not v.decide(confirmed, v.Decision("e1", v.DecisionKind.REJECT), "t1", AT).same_outcome(confirmed)
    auto = _association(status=v.CONFIRMED, student_id="s1", method=v.AUTO, validated_by="system:auto")
    assert not v.decide(auto, v.Decision("e1", v.DecisionKind.CONFIRM), "t1", AT).same_outcome(auto)


@pytest.mark.parametrize(
    ("suggested", "score", "status", "student"),
    [
        ("s1", 0.7, v.TIMEOUT_CONFIRMED, "s1"),
        ("s1", 0.95, v.TIMEOUT_CONFIRMED, "s1"),
        ("s1", 0.6999, v.NO_MATCH, None),
        ("s1", 0.0, v.NO_MATCH, None),
        (None, 0.0, v.NO_MATCH, None),
    ],
)
def test_timeout_resolution(suggested: str | None, score: float, status: int, student: str | None) -> None:
    r = v.resolve_on_timeout(_association(suggested=suggested, score=score), AT)
    assert (r.status, r.student_id, r.method, r.validated_by) == (status, student, v.TIMEOUT, "system:timeout")


def _result(essay_id: str, student_id: str | None, score: float) -> common_pb2.EssayMatchResult:
    if student_id is None:
        return common_pb2.EssayMatchResult(essay_id=essay_id)
    return common_pb2.EssayMatchResult(
        essay_id=essay_id,
        suggestions=[
            common_pb2.AuthorSuggestion(
                student=common_pb2.Student(student_id=student_id),
                confidence_score=score,
                match_reasons=[common_pb2.MatchReason(signal="email", matched="email", value="a@b.se", score=1.0)],
            ),
            common_pb2.AuthorSuggestion(student=common_pb2.Student(student_id="s2"), confidence_score=0.1),
        ],
    )


def test_best_suggestion_takes_the_top_candidate_on_the_roster() -> None:
    s = v.best_suggestion(_result("e1", "s1", 0.93), {"s1", "s2"})
    assert (s.student_id, s.confidence_score) == ("s1", 0.93)
    assert s.match_reasons == [{"signal": "email", "matched": "email", "value": "a@b.se", "score": 1.0}]
    assert v.best_suggestion(_result("e1", "gone", 0.93), {"s2"}).student_id is None
    assert v.best_suggestion(_result("e1", None, 0.0), {"s1"}) == v.Suggestion("e1", None, 0.0, [])


def test_auto_confirmation_only_for_high() -> None:
    assert v.auto_confirmation(v.Suggestion("e", "s", 0.91, []), AT) == v.Resolution(
        "e", v.CONFIRMED, "s", v.AUTO, "system:auto", AT
    )
    assert v.auto_confirmation(v.Suggestion("e", "s", 0.9, []), AT) is None
    assert v.auto_confirmation(v.Suggestion("e", None, 0.0, []), AT) is None


def test_confirmation_event_carries_every_essay_and_a_summary() -> None:
    final = [
        _association("e1", status=v.CONFIRMED, student_id="s1", method=v.HUMAN, validated_by="t", validated_at=AT),
        _association("e2", status=v.NO_MATCH, method=v.TIMEOUT, validated_by="system:timeout", validated_at=AT),
        _association(
            "e3", status=v.TIMEOUT_CONFIRMED, student_id="s1", method=v.TIMEOUT, validated_by="x", validated_at=AT
        ),
        _association(
            "e4", status=v.CONFIRMED, student_id="s2", method=v.AUTO, validated_by="system:auto", validated_at=AT
        ),
    ]
    event = v.confirmation_event("b1", "c1", common_pb2.COURSE_CODE_SV2, final, AT)
    assert (event.batch_id, event.class_id, event.course_code) == ("b1", "c1", common_pb2.COURSE_CODE_SV2)
    assert [a.essay_id for a in event.associations] == ["e1", "e2", "e3", "e4"]
    assert event.associations[1].student_id == ""
    assert event.associations[0].validated_at.ToDatetime(UTC) == AT
    assert event.timeout_triggered
    assert [(c.validation_method, c.count) for c in event.summary] == [(v.HUMAN, 1), (v.TIMEOUT, 2), (v.AUTO, 1)]
    assert event.confirmed_at.ToDatetime(UTC) == AT


def test_no_confirmation_while_anything_is_pending() -> None:
    with pytest.raises(ValueError):
        v.confirmation_event("b1", "c1", common_pb2.COURSE_CODE_SV2, [_association()], AT)
    with pytest.raises(ValueError):
        v.confirmation_event("b1", "c1", common_pb2.COURSE_CODE_SV2, [], AT)
