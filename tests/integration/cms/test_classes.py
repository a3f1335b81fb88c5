"""Classes and rosters over gRPC: creation, ownership, the service role, paging, and
AddStudents idempotent by e-mail."""

from __future__ import annotations

import grpc
import pytest

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow_runtime.auth import Role
from tests.integration.cms.conftest import Cms, error_details, new_id


async def test_create_and_get_class_owner_service_and_admin(cms: Cms) -> None:
    created = await cms.stub.CreateClass(
        cms_pb2.CreateClassRequest(name="  7A Svenska ", course_code=common_pb2.COURSE_CODE_SV1),
        metadata=cms.as_("teacher-1"),
    )
    klass = getattr(created, "class")
    assert (klass.owner_id, klass.name, klass.course_code) == ("teacher-1", "7A Svenska", common_pb2.COURSE_CODE_SV1)
    assert not klass.auto_confirm_high_confidence

    request = cms_pb2.GetClassRequest(class_id=klass.class_id)
    # BOS checks ownership with a service token: owner_id is what it compares.
    for subject, role in (("teacher-1", Role.TEACHER), ("bos", Role.SERVICE), ("admin", Role.ADMIN)):
        got = await cms.stub.GetClass(request, metadata=cms.as_(subject, role))
        assert getattr(got, "class").owner_id == "teacher-1"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.GetClass(request, metadata=cms.as_("teacher-2"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # another teacher's class looks missing

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.GetClass(cms_pb2.GetClassRequest(class_id=new_id()), metadata=cms.as_("bos", Role.SERVICE))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_details(caught.value)[0].reason == "CLASS_NOT_FOUND"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.GetClass(request)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.CreateClass(
            cms_pb2.CreateClassRequest(name="x", course_code=common_pb2.COURSE_CODE_SV1),
            metadata=cms.as_("bos", Role.SERVICE),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_create_class_rejects_bad_names_and_course_codes(cms: Cms) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.CreateClass(cms_pb2.CreateClassRequest(name=" " * 3), metadata=cms.as_("teacher-1"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in error_details(caught.value)[1][0].field_violations}
    assert fields == {"name", "course_code"}

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.CreateClass(
            cms_pb2.CreateClassRequest(name="x" * 101, course_code=common_pb2.COURSE_CODE_ENG5),
            metadata=cms.as_("teacher-1"),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_add_students_is_idempotent_by_email(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    first = await cms.stub.AddStudents(
        cms_pb2.AddStudentsRequest(
            class_id=class_id,
            students=[
                cms_pb2.NewStudent(first_name="Åsa", last_name="Lind", email="Asa.Lind@School.se "),
                cms_pb2.NewStudent(first_name="Bo", last_name="Ek", email="bo@school.se"),
            ],
        ),
        metadata=cms.as_("teacher-1"),
    )
    assert (first.created_count, first.existing_count) == (2, 0)
    assert first.students[0].email == "asa.lind@school.se"

    again = await cms.stub.AddStudents(
        cms_pb2.AddStudentsRequest(
            class_id=class_id,
            students=[
                cms_pb2.NewStudent(first_name="Cia", last_name="Ny", email="cia@school.se"),
                cms_pb2.NewStudent(first_name="Asa", last_name="L", email="asa.lind@school.se"),
                cms_pb2.NewStudent(first_name="Cia", last_name="Ny", email="CIA@school.se"),
            ],
        ),
        metadata=cms.as_("teacher-1"),
    )
    assert (again.created_count, again.existing_count) == (1, 2)
    assert again.students[1].student_id == first.students[0].student_id
    assert again.students[1].first_name == "Åsa"  # the stored student, not the retyped name
    assert again.students[0].student_id == again.students[2].student_id

    roster = await cms.stub.ListClassStudents(
        cms_pb2.ListClassStudentsRequest(class_id=class_id), metadata=cms.as_("nlp", Role.SERVICE)
    )
    assert sorted(s.email for s in roster.students) == ["asa.lind@school.se", "bo@school.se", "cia@school.se"]
    got = await cms.stub.GetClass(cms_pb2.GetClassRequest(class_id=class_id), metadata=cms.as_("teacher-1"))
    assert getattr(got, "class").student_count == 3


async def test_roster_access_and_bad_students(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.AddStudents(
            cms_pb2.AddStudentsRequest(
                class_id=class_id, students=[cms_pb2.NewStudent(first_name="A", last_name="B", email="not-an-email")]
            ),
            metadata=cms.as_("teacher-1"),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error_details(caught.value)[1][0].field_violations] == ["students[0].email"]

    for call in (
        cms.stub.AddStudents(
            cms_pb2.AddStudentsRequest(
                class_id=class_id, students=[cms_pb2.NewStudent(first_name="A", last_name="B", email="a@b.se")]
            ),
            metadata=cms.as_("teacher-2"),
        ),
        cms.stub.ListClassStudents(cms_pb2.ListClassStudentsRequest(class_id=class_id), metadata=cms.as_("teacher-2")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.ListClassStudents(cms_pb2.ListClassStudentsRequest(class_id="nope"), metadata=cms.as_("t"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.GetClass(cms_pb2.GetClassRequest(), metadata=cms.as_("bos", Role.SERVICE))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_classes_pages_through_the_callers_classes(cms: Cms) -> None:
    mine = [await cms.create_class("teacher-1", name=f"class {i}") for i in range(5)]
    await cms.create_class("teacher-2")
    seen: list[str] = []
    token = ""
    while True:
        page = await cms.stub.ListClasses(
            cms_pb2.ListClassesRequest(page_size=2, page_token=token), metadata=cms.as_("teacher-1")
        )
        seen += [c.class_id for c in page.classes]
        token = page.next_page_token
        if not token:
            break
    assert seen == mine

    everyone = await cms.stub.ListClasses(cms_pb2.ListClassesRequest(), metadata=cms.as_("admin", Role.ADMIN))
    assert len(everyone.classes) == 6

    for bad in (cms_pb2.ListClassesRequest(page_size=201), cms_pb2.ListClassesRequest(page_token="garbage!")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await cms.stub.ListClasses(bad, metadata=cms.as_("teacher-1"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_two_students_under_one_email_in_one_request_are_refused_naming_both(cms: Cms) -> None:
    class_id = await cms.create_class("teacher-1")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await cms.stub.AddStudents(
            cms_pb2.AddStudentsRequest(
                class_id=class_id,
                students=[
                    cms_pb2.NewStudent(first_name="Anna", last_name="Berg", email="anna@school.se"),
                    cms_pb2.NewStudent(first_name="Bo", last_name="Ek", email="bo@school.se"),
                    cms_pb2.NewStudent(first_name="Anna", last_name="Lind", email="ANNA@school.se"),
                ],
            ),
            metadata=cms.as_("teacher-1"),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = error_details(caught.value)[1][0].field_violations
    assert [v.field for v in violations] == ["students[2].email"]
    assert "students[0] (Anna Berg)" in violations[0].description and "Anna Lind" in violations[0].description
    roster = await cms.stub.ListClassStudents(
        cms_pb2.ListClassStudentsRequest(class_id=class_id), metadata=cms.as_("teacher-1")
    )
    assert list(roster.students) == []  # nothing of the refused request was stored
