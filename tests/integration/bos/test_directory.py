"""The CMS-backed ClassDirectory over real gRPC (a stand-in CMS server answering GetClass)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow_runtime.auth import Role, verify_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.errors import Unavailable
from services.bos.directory import CmsClassDirectory

CLASS_ID = str(uuid.uuid4())


class StandInCms(cms_pb2_grpc.ClassManagementServiceServicer):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.callers: list[tuple[str, Role]] = []

    async def GetClass(self, request: cms_pb2.GetClassRequest, context: grpc.aio.ServicerContext) -> Any:
        header = dict(context.invocation_metadata() or ())["authorization"]
        principal = verify_token(self.settings, header.removeprefix("Bearer "), audience="cms")
        self.callers.append((principal.subject, principal.role))
        if request.class_id != CLASS_ID:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such class")
        return cms_pb2.GetClassResponse(**{"class": cms_pb2.Class(class_id=CLASS_ID, owner_id="teacher-1")})


@pytest.fixture
async def cms() -> AsyncIterator[tuple[Settings, StandInCms, grpc.aio.Server]]:
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    settings = load_settings(cms_address=f"127.0.0.1:{port}")
    servicer = StandInCms(settings)
    cms_pb2_grpc.add_ClassManagementServiceServicer_to_server(servicer, server)
    await server.start()
    try:
        yield settings, servicer, server
    finally:
        await server.stop(0)


async def test_owner_of_asks_cms_as_the_bos_service(cms: tuple[Settings, StandInCms, grpc.aio.Server]) -> None:
    settings, servicer, server = cms
    directory = CmsClassDirectory(settings)
    try:
        assert await directory.owner_of(CLASS_ID) == "teacher-1"
        assert await directory.owner_of(str(uuid.uuid4())) is None
        assert servicer.callers == [("bos", Role.SERVICE)] * 2
        await server.stop(0)
        with pytest.raises(Unavailable):
            await directory.owner_of(CLASS_ID)
    finally:
        await directory.close()
