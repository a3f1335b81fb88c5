"""``StudentMatcherService``: the matcher's question asked over gRPC, roster and essays in the request."""

from __future__ import annotations

import grpc

from essayflow.nlp.v1 import nlp_pb2, nlp_pb2_grpc
from essayflow_runtime.errors import FieldErrors
from essayflow_runtime.grpc_server import ServiceBinding, roles_from_proto
from services.nlp.pool import EssayMatcher
from services.nlp.suggestions import EssayToMatch, count_top_levels

MAX_STUDENTS = 1000
MAX_ESSAYS = 500
MAX_TEXT_CHARACTERS = 50_000
MAX_FILE_NAME_CHARACTERS = 255

METHOD_ROLES = roles_from_proto(nlp_pb2.DESCRIPTOR.services_by_name["StudentMatcherService"])


def check_match_request(request: nlp_pb2.MatchAuthorsRequest) -> None:
    """INVALID_ARGUMENT naming every student or essay id given twice, or nothing. The field rules
    (1..1000 students with an id and a name, 1..500 essays with an id, their lengths) are in
    nlp.proto and common.proto."""
    errors = FieldErrors()
    student_ids: set[str] = set()
    for i, student in enumerate(request.roster):
        errors.check(student.student_id not in student_ids, f"roster[{i}].student_id", "is repeated")
        student_ids.add(student.student_id)
    essay_ids: set[str] = set()
    for i, essay in enumerate(request.essays):
        errors.check(essay.essay_id not in essay_ids, f"essays[{i}].essay_id", "is repeated")
        essay_ids.add(essay.essay_id)
    errors.raise_if_any("the match request is invalid")


class StudentMatcherServicer(nlp_pb2_grpc.StudentMatcherServiceServicer):  # type: ignore[misc]
    def __init__(self, matcher: EssayMatcher) -> None:
        self._matcher = matcher

    async def MatchAuthors(
        self, request: nlp_pb2.MatchAuthorsRequest, context: grpc.aio.ServicerContext | None
    ) -> nlp_pb2.MatchAuthorsResponse:
        check_match_request(request)
        essays = [EssayToMatch(e.essay_id, e.file_name, e.text) for e in request.essays]
        # The same worker processes and budgets as the event handler: other calls are served meanwhile.
        results = await self._matcher.match(request.roster, essays)
        count_top_levels(results)
        return nlp_pb2.MatchAuthorsResponse(results=results)


def binding(matcher: EssayMatcher) -> ServiceBinding:
    return ServiceBinding(
        full_name=nlp_pb2.DESCRIPTOR.services_by_name["StudentMatcherService"].full_name,
        register=nlp_pb2_grpc.add_StudentMatcherServiceServicer_to_server,
        servicer=StudentMatcherServicer(matcher),
        method_roles=METHOD_ROLES,
    )
