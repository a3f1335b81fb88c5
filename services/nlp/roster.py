"""Where the matcher gets a class roster: CMS, over gRPC, as the ``nlp`` service."""

from __future__ import annotations

from typing import Protocol

import grpc

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow_runtime.auth import ServiceTokens
from essayflow_runtime.config import Settings
from essayflow_runtime.failures import is_transient
from essayflow_runtime.grpc_client import open_channel

# Answers that asking again will not change: reported as ROSTER_UNAVAILABLE. CMS down, slow or
# restarting (failures.TRANSIENT_GRPC_CODES) may pass; any other code is raised as it is.
_FINAL_CODES = frozenset(
    {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED}
)
SERVICE_SUBJECT = "nlp"


class RosterUnavailable(Exception):
    """The roster could not be fetched; ``retryable`` says whether a later attempt may succeed."""

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


class RosterSource(Protocol):
    async def students(self, class_id: str) -> list[common_pb2.Student]:
        """The class's students; raises :class:`RosterUnavailable`."""
        ...


class CmsRosterSource:
    """``ClassManagementService.ListClassStudents`` with a service token."""

    def __init__(self, settings: Settings, *, timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._channel = open_channel(settings, settings.cms_address)
        self._stub = cms_pb2_grpc.ClassManagementServiceStub(self._channel)
        self._tokens = ServiceTokens(settings, SERVICE_SUBJECT)

    async def students(self, class_id: str) -> list[common_pb2.Student]:
        try:
            response = await self._stub.ListClassStudents(
                cms_pb2.ListClassStudentsRequest(class_id=class_id),
                metadata=self._tokens.metadata("cms"),
                timeout=self._timeout_s,
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code not in _FINAL_CODES and not is_transient(error):
                raise  # neither an answer nor an outage (INTERNAL, UNAUTHENTICATED ...): a bug to surface
            raise RosterUnavailable(
                f"CMS ListClassStudents({class_id}) failed: {code.name}: {error.details()}",
                retryable=code not in _FINAL_CODES,
            ) from error
        return list(response.students)

    async def close(self) -> None:
        await self._channel.close()
