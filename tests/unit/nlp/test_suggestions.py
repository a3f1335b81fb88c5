"""The matcher's output in the contract's words: suggestions, reasons, and why an essay has none."""

from __future__ import annotations

from essayflow.common.v1 import common_pb2
from essayflow_runtime.metrics import MATCHER_CONFIDENCE
from services.nlp.matching import Suggestion
from services.nlp.suggestions import (
    EssayToMatch,
    RosterMatcher,
    count_top_levels,
    no_match,
    to_author_suggestion,
    to_match_reason,
    top_confidence_level,
)

ROSTER = [
    common_pb2.Student(student_id="s-tova", first_name="Tova", last_name="Ekdahl", email="tova.ekdahl@skolan.example"),
    common_pb2.Student(student_id="s-ture", first_name="Ture", last_name="Wikström", email=""),
    common_pb2.Student(student_id="s-signe-h", first_name="Signe", last_name="Hedberg"),
    common_pb2.Student(student_id="s-signe-n", first_name="Signe", last_name="Nordin"),
]
BODY = "\n\nSkolan i framtiden\n\nDet här är en text om hur skolan kan bli bättre för alla elever.\n"
MATCHER = RosterMatcher(ROSTER)


def test_a_header_name_becomes_a_high_suggestion_with_the_roster_student_and_its_reasons() -> None:
    result = MATCHER.match(EssayToMatch("e-1", "uppsats.docx", "Namn: Tova Ekdahl" + BODY))

    assert result.essay_id == "e-1"
    assert result.no_match_reason == common_pb2.NO_MATCH_REASON_UNSPECIFIED
    top = result.suggestions[0]
    assert top.student == ROSTER[0]
    assert top.confidence_level == common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
    assert top.confidence_score > 0.9
    assert top.match_reasons[0] == common_pb2.MatchReason(
        signal="header_label", matched="full_name", value="Tova Ekdahl", score=0.99
    )


def test_a_roster_without_an_address_matches_by_name() -> None:
    result = MATCHER.match(EssayToMatch("e-2", "x.docx", "Ture Wikström" + BODY))
    assert result.suggestions[0].student.student_id == "s-ture"


def test_reasons_are_mapped_field_by_field_and_a_list_of_rivals_becomes_one_string() -> None:
    reason = to_match_reason({"signal": "ambiguity", "matched": "other_students", "value": ["a", "b"], "score": 0.5})
    assert reason == common_pb2.MatchReason(signal="ambiguity", matched="other_students", value="a,b", score=0.5)


def test_an_ambiguous_given_name_names_the_rival_and_is_not_high() -> None:
    result = MATCHER.match(EssayToMatch("e-3", "x.docx", "Namn: Signe" + BODY))
    top = result.suggestions[0]
    assert top.confidence_level != common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
    ambiguity = [r for r in top.match_reasons if r.signal == "ambiguity"]
    assert ambiguity and ambiguity[0].value in {"s-signe-h", "s-signe-n"}


def test_suggestion_level_follows_its_score() -> None:
    students = {s.student_id: s for s in ROSTER}
    medium = to_author_suggestion(Suggestion("s-tova", 0.8, []), students)
    low = to_author_suggestion(Suggestion("s-tova", 0.3, []), students)
    assert medium.confidence_level == common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM
    assert low.confidence_level == common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW


def test_an_essay_naming_nobody_has_no_candidates() -> None:
    result = MATCHER.match(EssayToMatch("e-4", "uppsats.docx", BODY.strip()))
    assert not result.suggestions
    assert result.no_match_reason == common_pb2.NO_MATCH_REASON_NO_CANDIDATES


def test_an_essay_naming_someone_outside_the_roster_is_not_in_roster() -> None:
    result = MATCHER.match(EssayToMatch("e-5", "uppsats.docx", "Namn: Olle Okänd" + BODY))
    assert not result.suggestions
    assert result.no_match_reason == common_pb2.NO_MATCH_REASON_NOT_IN_ROSTER


def test_top_level_counts_matcher_outcomes_but_not_fetch_failures() -> None:
    matched = MATCHER.match(EssayToMatch("e-1", "x.docx", "Namn: Tova Ekdahl" + BODY))
    nobody = no_match("e-2", common_pb2.NO_MATCH_REASON_NO_CANDIDATES)
    missing = no_match("e-3", common_pb2.NO_MATCH_REASON_TEXT_UNAVAILABLE, "gone")
    assert top_confidence_level(matched) == common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH
    assert top_confidence_level(nobody) == common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH
    assert top_confidence_level(missing) is None


def test_count_top_levels_increments_the_metric_by_level_name() -> None:
    def value(level: str) -> float:
        return float(MATCHER_CONFIDENCE.labels(level)._value.get())

    before_high, before_none = value("high"), value("no_match")
    count_top_levels(
        [
            MATCHER.match(EssayToMatch("e-1", "x.docx", "Namn: Tova Ekdahl" + BODY)),
            no_match("e-2", common_pb2.NO_MATCH_REASON_NO_CANDIDATES),
            no_match("e-3", common_pb2.NO_MATCH_REASON_ROSTER_UNAVAILABLE),
        ]
    )
    assert value("high") == before_high + 1
    assert value("no_match") == before_none + 1
