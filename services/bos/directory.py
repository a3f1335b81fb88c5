"""Who owns a class? BOS asks the Class Management Service before registering a REGULAR batch.

:class:`ClassDirectory` is the port; :class:`CmsClassDirectory` calls CMS over gRPC with
a service token. Tests hand BOS an in-memory directory instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import grpc

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow_runtime.auth import ServiceTokens
from essayflow_runtime.config import Settings
from essayflow_runtime.errors import Unavailable
from essayflow_runtime.grpc_client import open_channel

CALL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ClassEntry:
    owner_id: str
    # CourseCode of the class; 0 when the directory does not know it (nothing to compare).
    course_code: int = 0


class ClassDirectory(Protocol):
    async def find(self, class_id: str) -> ClassEntry | None:
        """The class's owner and course, or None when there is no such class."""
        ...


class CmsClassDirectory:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel = open_channel(settings, settings.cms_address)
        self._stub = cms_pb2_grpc.ClassManagementServiceStub(self._channel)
        self._tokens = ServiceTokens(settings, "bos")

    async def owner_of(self, class_id: str) -> str | None:
        found = await self.find(class_id)
        return found.owner_id if found else None

    async def find(self, class_id: str) -> ClassEntry | None:
        try:
            response = await self._stub.GetClass(
                cms_pb2.GetClassRequest(class_id=class_id),
                metadata=self._tokens.metadata("cms"),
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise Unavailable(
                f"the class directory could not be asked: {exc.code().name}",
                reason="CLASS_DIRECTORY_UNAVAILABLE",
                metadata={"class_id": class_id, "code": exc.code().name},
            ) from exc
        # "class" is a Python keyword, so the generated field is reachable only by name.
        found = getattr(response, "class")
        return ClassEntry(owner_id=found.owner_id, course_code=found.course_code)

    async def close(self) -> None:
        await self._channel.close()
