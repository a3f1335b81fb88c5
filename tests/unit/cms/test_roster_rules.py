"""Class and roster input rules, ownership, and request decoding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime import input_rules
from essayflow_runtime.auth import Principal, Role
from essayflow_runtime.errors import InvalidArgument
from services.cms import access, roster
from services.cms.servicer import decode_decisions
from services.cms.validation import DecisionKind


def refused(request: Message) -> set[str]:
    """The fields the server's field rules (cms.proto) refuse in ``request``."""
    return {path for path, _ in input_rules.request_violations(request)}


def test_class_name_and_course_code() -> None:
    assert refused(cms_pb2.CreateClassRequest(name="8C", course_code=common_pb2.COURSE_CODE_ENG7)) == set()
    for name, code in (("", common_pb2.COURSE_CODE_ENG7), ("  ", 1), ("x" * 101, 1), ("ok", 0), ("ok", 99)):
        assert refused(cms_pb2.CreateClassRequest(name=name, course_code=code)), (name, code)  # type: ignore[arg-type]


def one_student(email: str) -> cms_pb2.AddStudentsRequest:
    return cms_pb2.AddStudentsRequest(
        class_id="c", students=[cms_pb2.NewStudent(first_name="A", last_name="B", email=email)]
    )


@pytest.mark.parametrize("email", ["a@b.se", "first.last+tag@sub.school.se", "ÅSA@skola.se", " a@b.se "])
def test_valid_emails(email: str) -> None:
    assert refused(one_student(email)) == set()


@pytest.mark.parametrize(
    "email", ["", "a", "a@b", "a b@c.se", "a@@b.se", "@b.se", "a@.se", "a@b.", "x" * 250 + "@b.se"]
)
def test_invalid_emails(email: str) -> None:
    assert refused(one_student(email)) == {"students[0].email"}


def test_new_students_normalise_and_name_bad_fields() -> None:
    students = roster.new_students([(" Anna ", "Berg", " Anna.Berg@School.SE ")])
    assert students[0] == roster.NewStudent("Anna", "Berg", "anna.berg@school.se")
    request = cms_pb2.AddStudentsRequest(
        class_id="c",
        students=[
            cms_pb2.NewStudent(first_name=" Anna ", last_name="Berg", email=" Anna.Berg@School.SE "),
            cms_pb2.NewStudent(first_name="", last_name="X", email="bad"),
        ],
    )
    assert refused(request) == {"students[1].first_name", "students[1].email"}
    assert refused(cms_pb2.AddStudentsRequest(class_id="c")) == {"students"}


def test_page_size_and_cursor_round_trip() -> None:
    assert roster.page_size(0) == 50
    assert roster.page_size(200) == 200
    for size in (-1, 201):
        assert refused(cms_pb2.ListClassesRequest(page_size=size)) == {"page_size"}
    cursor = roster.PageCursor(datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), str(uuid.uuid4()))
    assert roster.PageCursor.decode(cursor.encode()) == cursor
    assert roster.PageCursor.decode("") is None
    for bad in ("!!!", "e30", "W10"):  # not base64, {}, []
        with pytest.raises(InvalidArgument):
            roster.PageCursor.decode(bad)


def test_ownership() -> None:
    assert access.may_act(Principal("t1", Role.TEACHER), "t1")
    assert access.may_act(Principal("a", Role.ADMIN), "t1")
    assert access.may_act(Principal("bos", Role.SERVICE), "t1", allow_service=True)
    for principal in (Principal("t2", Role.TEACHER), Principal("bos", Role.SERVICE), Principal("t1", Role.SERVICE)):
        assert not access.may_act(principal, "t1")


def test_decode_decisions() -> None:
    sid = str(uuid.uuid4())
    decisions = decode_decisions(
        cms_pb2.ValidateAssociationsRequest(
            batch_id="b",
            decisions=[
                cms_pb2.AssociationDecision(essay_id="e1", confirm=cms_pb2.ConfirmDecision()),
                cms_pb2.AssociationDecision(essay_id="e2", reject=cms_pb2.RejectDecision()),
                cms_pb2.AssociationDecision(essay_id="e3", override=cms_pb2.OverrideDecision(student_id=sid.upper())),
            ],
        )
    )
    assert [(d.kind, d.student_id) for d in decisions] == [
        (DecisionKind.CONFIRM, None),
        (DecisionKind.REJECT, None),
        (DecisionKind.OVERRIDE, sid),
    ]
    assert refused(cms_pb2.ValidateAssociationsRequest()) == {"batch_id", "decisions"}
    undecided = cms_pb2.ValidateAssociationsRequest(
        batch_id="b", decisions=[cms_pb2.AssociationDecision(essay_id="e1")]
    )
    assert refused(undecided) == {"decisions[0].decision"}
    twice = cms_pb2.ValidateAssociationsRequest(
        batch_id="b",
        decisions=[cms_pb2.AssociationDecision(essay_id="e1", confirm=cms_pb2.ConfirmDecision())] * 2,
    )
    with pytest.raises(InvalidArgument) as caught:
        decode_decisions(twice)
    assert {path for path, _ in caught.value.field_violations} == {"decisions[1].essay_id"}


def test_one_email_is_one_student_within_a_request() -> None:
    same = roster.new_students([("Anna", "Berg", "a@s.se"), ("anna", "BERG", "A@s.se"), ("Bo", "Ek", "b@s.se")])
    roster.one_student_per_email(same)  # the same person twice is harmless
    two = roster.new_students([("Anna", "Berg", "a@s.se"), ("Bo", "Ek", "b@s.se"), ("Anna", "Lind", "a@s.se")])
    with pytest.raises(InvalidArgument) as caught:
        roster.one_student_per_email(two)
    violations = caught.value.field_violations
    assert [path for path, _ in violations] == ["students[2].email"]
    assert "students[0] (Anna Berg)" in violations[0][1] and "Anna Lind" in violations[0][1]
