"""The review plan: names as a teacher writes them, bulk confirmation by level, and
nothing decided twice or guessed."""

from __future__ import annotations

import pytest

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2 as c
from essayflow_cli import review

ANNA = c.Student(
    student_id="a1b2c3d4-0000-4000-8000-000000000001", first_name="Anna", last_name="Berg", email="anna@skola.se"
)
ANNA2 = c.Student(
    student_id="a1b2c3d4-0000-4000-8000-000000000002", first_name="Anna", last_name="Lind", email="anna.lind@skola.se"
)
BO = c.Student(student_id="b0000000-0000-4000-8000-000000000003", first_name="Bo", last_name="Ek", email="bo@skola.se")
ROSTER = [ANNA, ANNA2, BO]
LEVEL = {
    "high": c.ASSOCIATION_CONFIDENCE_LEVEL_HIGH,
    "medium": c.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM,
    "low": c.ASSOCIATION_CONFIDENCE_LEVEL_LOW,
    "none": c.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH,
}


def essay(number: int, file_name: str, level: str, student: c.Student | None = None) -> review.Essay:
    association = cms_pb2.Association(
        essay_id=f"e{number:07d}-0000-4000-8000-00000000000{number}",
        confidence_level=LEVEL[level],
        status=c.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION,
    )
    if student is not None:
        association.suggested_student.CopyFrom(student)
    return review.Essay(association, file_name)


ESSAYS = [
    essay(1, "anna.txt", "high", ANNA),
    essay(2, "bo.txt", "high", BO),
    essay(3, "lind.txt", "low", ANNA2),
    essay(4, "nobody.txt", "none"),
]


def test_students_by_email_name_or_id_prefix_and_ambiguity_lists_the_candidates() -> None:
    assert review.find_student("ANNA@skola.se", ROSTER) is ANNA
    assert review.find_student("anna lind", ROSTER) is ANNA2
    assert review.find_student("Berg, Anna", ROSTER) is ANNA
    assert review.find_student("Ek", ROSTER) is BO
    assert review.find_student("b0000000", ROSTER) is BO
    with pytest.raises(review.Unresolved) as ambiguous:
        review.find_student("Anna", ROSTER)
    assert "fits 2 students" in str(ambiguous.value)
    assert any("anna.lind@skola.se" in line for line in ambiguous.value.candidates)
    with pytest.raises(review.Unresolved):
        review.find_student("a1b2c3d4", ROSTER)  # the start of two ids


def test_essays_by_file_name_or_unique_id_prefix() -> None:
    assert review.find_essay("bo.txt", ESSAYS) is ESSAYS[1]
    assert review.find_essay("BO", ESSAYS) is ESSAYS[1]
    assert review.find_essay("e0000003", ESSAYS) is ESSAYS[2]
    with pytest.raises(review.Unresolved) as several:
        review.find_essay("e000000", ESSAYS)
    assert len(several.value.candidates) == 4
    assert review.shortest_prefixes(["abcdefgh1", "abcdefgh2", "zz"]) == {
        "abcdefgh1": "abcdefgh1",
        "abcdefgh2": "abcdefgh2",
        "zz": "zz",
    }


def test_bulk_confirm_takes_only_high_and_leaves_low_and_unmatched_pending() -> None:
    plan = review.plan(ESSAYS, ROSTER, confirm_all=True)
    assert [(d.essay.file_name, d.action) for d in plan.decisions] == [
        ("anna.txt", review.Action.CONFIRM),
        ("bo.txt", review.Action.CONFIRM),
    ]
    assert [e.file_name for e, _ in plan.left_pending] == ["lind.txt", "nobody.txt"]
    assert not plan.finalises


def test_one_request_overrides_rejects_and_confirms_the_rest() -> None:
    plan = review.plan(
        ESSAYS,
        ROSTER,
        override=["anna.txt=anna.lind@skola.se"],
        reject=["nobody.txt"],
        confirm_all=True,
        min_level="low",
    )
    assert plan.finalises
    request = plan.request("batch")
    kinds = {d.essay_id: d.WhichOneof("decision") for d in request.decisions}
    assert sorted(kinds.values()) == ["confirm", "confirm", "override", "reject"]
    assert len(kinds) == 4  # each essay once: the override is not confirmed as well
    override = next(d for d in request.decisions if d.WhichOneof("decision") == "override")
    assert override.override.student_id == ANNA2.student_id


def test_mistakes_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(review.Unresolved, match="decide once"):
        review.plan(ESSAYS, ROSTER, confirm=["bo.txt"], reject=["bo.txt"])
    with pytest.raises(review.Unresolved, match="no suggested student"):
        review.plan(ESSAYS, ROSTER, confirm=["nobody.txt"])
    with pytest.raises(review.Unresolved, match="ESSAY=STUDENT"):
        review.plan(ESSAYS, ROSTER, override=["anna.txt"])
    rejected = review.plan(ESSAYS, ROSTER, reject_unmatched=True)
    assert [(d.essay.file_name, d.action) for d in rejected.decisions] == [("nobody.txt", review.Action.REJECT)]


def test_reasons_in_words() -> None:
    reason = c.MatchReason(signal="header_label", matched="full_name", value="Anna Berg", score=0.97)
    assert review.reason_words(reason) == "full name 'Anna Berg' in a name label (97%)"
    assert review.reasons_text(ESSAYS[3].association) == "no student's name or e-mail was found"
