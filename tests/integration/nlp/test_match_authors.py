"""MatchAuthors through the real NLP server, with a token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from essayflow.common.v1 import common_pb2
from essayflow.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService
from tests.support import bearer as support_bearer

ROSTER = [
    common_pb2.Student(student_id="s-tova", first_name="Tova", last_name="Ekdahl", email="tova.ekdahl@skolan.example"),
    common_pb2.Student(student_id="s-ture", first_name="Ture", last_name="Wikström"),
]


@pytest.fixture
async def matcher(nlp: RunningService) -> AsyncIterator[nlp_pb2_grpc.StudentMatcherServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{nlp.port}") as channel:
        yield nlp_pb2_grpc.StudentMatcherServiceStub(channel)


def bearer(settings: Settings, role: Role) -> list[tuple[str, str]]:
    return list(support_bearer(settings, "someone", role, "nlp"))


def essay(essay_id: str, text: str, file_name: str = "essay.docx") -> nlp_pb2.EssayText:
    return nlp_pb2.EssayText(essay_id=essay_id, file_name=file_name, text=text)


@pytest.mark.parametrize("role", [Role.TEACHER, Role.SERVICE, Role.ADMIN])
async def test_each_role_gets_one_result_per_essay_in_request_order(
    matcher: nlp_pb2_grpc.StudentMatcherServiceStub, settings: Settings, role: Role
) -> None:
    request = nlp_pb2.MatchAuthorsRequest(
        roster=ROSTER,
        essays=[
            essay("e-1", "Om vintern\n\nSnön föll hela natten."),
            essay("e-2", "Text.\n\nMvh\ntova.ekdahl@skolan.example"),
            essay("e-3", "Ture Wikström\n\nOm läxor och skolan."),
        ],
    )
    response = await matcher.MatchAuthors(request, metadata=bearer(settings, role))

    assert [r.essay_id for r in response.results] == ["e-1", "e-2", "e-3"]
    assert response.results[0].no_match_reason == common_pb2.NO_MATCH_REASON_NO_CANDIDATES
    assert response.results[1].suggestions[0].student == ROSTER[0]
    assert response.results[1].suggestions[0].match_reasons[0].matched == "email"
    assert response.results[2].suggestions[0].student.student_id == "s-ture"


async def test_without_a_token_the_call_is_unauthenticated(matcher: nlp_pb2_grpc.StudentMatcherServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await matcher.MatchAuthors(nlp_pb2.MatchAuthorsRequest(roster=ROSTER, essays=[essay("e-1", "x")]))
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_overlong_text_is_invalid_argument_naming_the_field(
    matcher: nlp_pb2_grpc.StudentMatcherServiceStub, settings: Settings
) -> None:
    essays = [essay(f"e-{i}", "Namn: Tova Ekdahl") for i in range(3)] + [essay("e-3", "x" * 50_001)]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await matcher.MatchAuthors(
            nlp_pb2.MatchAuthorsRequest(roster=ROSTER, essays=essays), metadata=bearer(settings, Role.TEACHER)
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error.value)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields += [v.field for v in bad_request.field_violations]
    assert fields == ["essays[3].text"]
