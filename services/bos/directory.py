"""Who owns a class? BOS asks the Class Management Service before registering a REGULAR batch.

:class:`ClassDirectory` is the port; :class:`CmsClassDirectory` calls CMS over gRPC with
a service token. Tests hand BOS an in-memory directory instead.
"""

from __future__ import annotations

from typing import Protocol

import grpc

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow_runtime.auth import ServiceTokens
from essayflow_runtime.config import Settings
from essayflow_runtime.errors import Unavailable
from essayflow_runtime.grpc_client import open_channel

CALL_TIMEOUT_S = 5.0


class ClassDirectory(Protocol):
    async def owner_of(self, class_id: str) -> str | None:
        """The teacher who owns the class, or None when there is no such class."""
        ...


class CmsClassDirectory:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel = open_channel(settings, settings.cms_address)
        self._stub = cms_pb2_grpc.ClassManagementServiceStub(self._channel)
        self._tokens = ServiceTokens(settings, "bos")

    async def owner_of(self, class_id: str) -> str | None:
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
        owner: str = getattr(response, "class").owner_id
        return owner

    async def close(self) -> None:
        await self._channel.close()
