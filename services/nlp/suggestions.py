"""The matcher's answer in the contract's words: one ``EssayMatchResult`` per essay.

Pure apart from one metric. The event handler and the ``MatchAuthors`` RPC both build their results here, so
a suggestion reads the same whichever way it was asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from essayflow.common.v1 import common_pb2
from essayflow_runtime.enums import to_db
from essayflow_runtime.metrics import MATCHER_CONFIDENCE
from services.nlp.extraction import Signal, extract_candidates
from services.nlp.matching import RosterIndex, Student, Suggestion, confidence_level, match_essay

# A reason's value listing several students (ambiguity) travels as one string field.
LIST_SEPARATOR = ","


@dataclass(frozen=True)
class EssayToMatch:
    essay_id: str
    file_name: str
    text: str


class RosterMatcher:
    """A roster prepared once per request, answering for one essay at a time."""

    def __init__(self, roster: Iterable[common_pb2.Student]) -> None:
        self._students = {s.student_id: s for s in roster}
        self._index = RosterIndex.build(to_matcher_student(s) for s in self._students.values())

    def match(self, essay: EssayToMatch) -> common_pb2.EssayMatchResult:
        suggestions = match_essay(self._index, essay.text, essay.file_name)
        if not suggestions:
            return no_match(essay.essay_id, _why_no_suggestion(essay))
        return common_pb2.EssayMatchResult(
            essay_id=essay.essay_id,
            suggestions=[to_author_suggestion(s, self._students) for s in suggestions],
        )


def to_matcher_student(student: common_pb2.Student) -> Student:
    return Student(
        student_id=student.student_id,
        first_name=student.first_name,
        last_name=student.last_name,
        email=student.email or None,
    )


def to_author_suggestion(
    suggestion: Suggestion, students: Mapping[str, common_pb2.Student]
) -> common_pb2.AuthorSuggestion:
    return common_pb2.AuthorSuggestion(
        student=students[suggestion.student_id],
        confidence_score=suggestion.confidence_score,
        confidence_level=confidence_level(suggestion.confidence_score),  # type: ignore[arg-type]
        match_reasons=[to_match_reason(r) for r in suggestion.match_reasons],
    )


def to_match_reason(reason: Mapping[str, Any]) -> common_pb2.MatchReason:
    value = reason.get("value", "")
    if isinstance(value, list | tuple):
        value = LIST_SEPARATOR.join(str(v) for v in value)
    return common_pb2.MatchReason(
        signal=str(reason.get("signal", "")),
        matched=str(reason.get("matched", "")),
        value=str(value),
        score=float(reason.get("score", 0.0)),
    )


def no_match(essay_id: str, reason: int, detail: str = "") -> common_pb2.EssayMatchResult:
    return common_pb2.EssayMatchResult(
        essay_id=essay_id,
        no_match_reason=reason,  # type: ignore[arg-type]
        detail=detail,
    )


def top_confidence_level(result: common_pb2.EssayMatchResult) -> int | None:
    """Level of the essay's best suggestion; NO_MATCH when the matcher found nobody, None when
    the essay could not be matched at all (roster or text missing)."""
    if result.suggestions:
        return int(result.suggestions[0].confidence_level)
    if result.no_match_reason in (
        common_pb2.NO_MATCH_REASON_NO_CANDIDATES,
        common_pb2.NO_MATCH_REASON_NOT_IN_ROSTER,
    ):
        return int(common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH)
    return None


def count_top_levels(results: Iterable[common_pb2.EssayMatchResult]) -> None:
    """Count each matched essay's best suggestion by level (the only side effect here: a counter)."""
    for result in results:
        level = top_confidence_level(result)
        if level is not None:
            MATCHER_CONFIDENCE.labels(to_db(common_pb2.AssociationConfidenceLevel, level)).inc()


def _why_no_suggestion(essay: EssayToMatch) -> int:
    # Every file name yields a candidate (mostly filler words such as 'uppsats'), so only a name
    # or address found in the text itself says that somebody outside the roster is named.
    candidates = extract_candidates(essay.text, essay.file_name).candidates
    found_in_text = any(c.signal is not Signal.FILE_NAME for c in candidates)
    if found_in_text:
        return int(common_pb2.NO_MATCH_REASON_NOT_IN_ROSTER)
    return int(common_pb2.NO_MATCH_REASON_NO_CANDIDATES)
