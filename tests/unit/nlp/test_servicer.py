"""MatchAuthors: what a request must look like, and the answer's order."""

from __future__ import annotations

import pytest

from essayflow.common.v1 import common_pb2
from essayflow.nlp.v1 import nlp_pb2
from essayflow_runtime import input_rules
from essayflow_runtime.errors import InvalidArgument
from services.nlp.servicer import MAX_ESSAYS, MAX_STUDENTS, MAX_TEXT_CHARACTERS, StudentMatcherServicer
from tests.unit.nlp.inline_matcher import InlineMatcher

ROSTER = [
    common_pb2.Student(student_id="s-tova", first_name="Tova", last_name="Ekdahl"),
    common_pb2.Student(student_id="s-ture", first_name="Ture", last_name="Wikström"),
]


def essay(essay_id: str, text: str = "Namn: Tova Ekdahl\n\nOm skolan.", file_name: str = "e.docx") -> nlp_pb2.EssayText:
    return nlp_pb2.EssayText(essay_id=essay_id, file_name=file_name, text=text)


async def violations(request: nlp_pb2.MatchAuthorsRequest) -> dict[str, str]:
    """What the server refuses: the field rules (nlp.proto) first, then the servicer's own checks."""
    found = input_rules.request_violations(request)
    if found:
        return dict(found)
    with pytest.raises(InvalidArgument) as error:
        await StudentMatcherServicer(InlineMatcher()).MatchAuthors(request, None)
    return dict(error.value.field_violations)


async def test_results_come_in_request_order() -> None:
    request = nlp_pb2.MatchAuthorsRequest(
        roster=ROSTER,
        essays=[essay("e-ture", "Ture Wikström\n\nOm skolan."), essay("e-none", "Om skolan."), essay("e-tova")],
    )
    response = await StudentMatcherServicer(InlineMatcher()).MatchAuthors(request, None)
    assert [r.essay_id for r in response.results] == ["e-ture", "e-none", "e-tova"]
    assert response.results[0].suggestions[0].student.student_id == "s-ture"
    assert response.results[1].no_match_reason == common_pb2.NO_MATCH_REASON_NO_CANDIDATES
    assert response.results[2].suggestions[0].student.student_id == "s-tova"


async def test_an_empty_request_names_both_lists() -> None:
    found = await violations(nlp_pb2.MatchAuthorsRequest())
    assert set(found) == {"roster", "essays"}


async def test_too_many_students_and_essays_are_refused() -> None:
    roster = [
        common_pb2.Student(student_id=f"s-{i}", first_name="A", last_name=f"B{i}") for i in range(MAX_STUDENTS + 1)
    ]
    essays = [essay(f"e-{i}") for i in range(MAX_ESSAYS + 1)]
    found = await violations(nlp_pb2.MatchAuthorsRequest(roster=roster, essays=essays))
    assert set(found) == {"roster", "essays"}


async def test_an_overlong_text_is_named_by_its_index() -> None:
    essays = [essay("e-0"), essay("e-1"), essay("e-2"), essay("e-3", "x" * (MAX_TEXT_CHARACTERS + 1))]
    found = await violations(nlp_pb2.MatchAuthorsRequest(roster=ROSTER, essays=essays))
    assert list(found) == ["essays[3].text"]


async def test_a_text_of_exactly_the_limit_is_accepted() -> None:
    request = nlp_pb2.MatchAuthorsRequest(roster=ROSTER, essays=[essay("e-0", "x" * MAX_TEXT_CHARACTERS)])
    response = await StudentMatcherServicer(InlineMatcher()).MatchAuthors(request, None)
    assert len(response.results) == 1


async def test_missing_and_repeated_ids_and_nameless_students_are_named() -> None:
    roster = [
        ROSTER[0],
        common_pb2.Student(student_id="", first_name="Ann", last_name="Berg"),
        common_pb2.Student(student_id="s-tova", first_name="Tova", last_name="E"),
        common_pb2.Student(student_id="s-x", first_name=" ", last_name=""),
    ]
    essays = [essay("e-1"), essay(""), essay("e-1"), essay("e-4", file_name="f" * 256)]
    found = await violations(nlp_pb2.MatchAuthorsRequest(roster=roster, essays=essays))
    assert set(found) == {"roster[1].student_id", "roster[3]", "essays[1].essay_id", "essays[3].file_name"}
    # Ids given twice take more than one field to see: the servicer names them.
    found = await violations(nlp_pb2.MatchAuthorsRequest(roster=[roster[0], roster[2]], essays=essays[:1] * 2))
    assert set(found) == {"roster[1].student_id", "essays[1].essay_id"}
