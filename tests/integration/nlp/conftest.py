"""The real NLP service in-process, with a small CMS peer over real gRPC serving rosters.

NLP has no database, so these tests need only the session's nats-server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import grpc
import pytest

from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow_runtime.auth import Principal, Role, current_principal
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.errors import NotFound, Unavailable
from essayflow_runtime.grpc_server import RunningServer, ServiceBinding, start_server
from essayflow_runtime.service import RunningService, start_service
from services.nlp.handlers import RetryPolicy
from services.nlp.main import make_build_parts


@pytest.fixture
def settings(nats_server_url: str) -> Settings:
    return load_settings(
        nats_url=nats_server_url,
        redelivery_backoff_s=(0.05, 0.1, 0.2),
        transient_backoff_initial_s=0.05,
        transient_backoff_max_s=0.2,
        metrics_enabled=False,
    )


class RosterPeer(cms_pb2_grpc.ClassManagementServiceServicer):  # type: ignore[misc]
    """ListClassStudents of CMS, answering from a dict; may be told to be down for a while."""

    def __init__(self) -> None:
        self.rosters: dict[str, list[common_pb2.Student]] = {}
        self.down_for: dict[str, int] = {}
        self.callers: list[tuple[str, Principal]] = []

    async def ListClassStudents(
        self, request: cms_pb2.ListClassStudentsRequest, context: grpc.aio.ServicerContext
    ) -> cms_pb2.ListClassStudentsResponse:
        self.callers.append((request.class_id, current_principal()))
        remaining = self.down_for.get(request.class_id, 0)
        if remaining:
            self.down_for[request.class_id] = remaining - 1
            raise Unavailable("CMS is restarting", reason="CMS_RESTARTING")
        if request.class_id not in self.rosters:
            raise NotFound(f"no class {request.class_id}", reason="CLASS_NOT_FOUND")
        return cms_pb2.ListClassStudentsResponse(students=self.rosters[request.class_id])

    def calls_for(self, class_id: str) -> int:
        return sum(1 for called, _ in self.callers if called == class_id)


@pytest.fixture
async def cms(settings: Settings) -> AsyncIterator[tuple[RosterPeer, int]]:
    peer = RosterPeer()
    binding = ServiceBinding(
        "essayflow.cms.v1.ClassManagementService",
        cms_pb2_grpc.add_ClassManagementServiceServicer_to_server,
        peer,
        {"ListClassStudents": frozenset({Role.SERVICE})},
    )
    server: RunningServer = await start_server(settings, "cms", [binding], port=0)
    try:
        yield peer, server.port
    finally:
        await server.stop(0)


@pytest.fixture
def roster_peer(cms: tuple[RosterPeer, int]) -> RosterPeer:
    return cms[0]


@pytest.fixture
async def nlp(settings: Settings, cms: tuple[RosterPeer, int]) -> AsyncIterator[RunningService]:
    service_settings = dataclasses.replace(settings, cms_address=f"127.0.0.1:{cms[1]}")
    build = make_build_parts(retry=RetryPolicy(attempts=3, pauses_s=(0.02,)))
    running = await start_service("nlp", service_settings, build, port=0, with_database=False)
    try:
        yield running
    finally:
        await running.stop()
