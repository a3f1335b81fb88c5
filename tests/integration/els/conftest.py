from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import grpc
import pytest

from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService, start_service
from services.els.main import build_parts
from tests.integration.els.helpers import Caller, caller


@pytest.fixture
def els_settings(settings: Settings) -> Settings:
    # ELS has no database: prove it by giving it none.
    return dataclasses.replace(settings, database_url="")


@pytest.fixture
async def els(els_settings: Settings) -> AsyncIterator[RunningService]:
    service = await start_service("els", els_settings, build_parts, port=0, with_database=False)
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def channel(els: RunningService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{els.port}") as opened:
        yield opened


@pytest.fixture
def service_caller(channel: grpc.aio.Channel, els_settings: Settings) -> Caller:
    return caller(channel, els_settings, "file-service", Role.SERVICE)


@pytest.fixture
def teacher(channel: grpc.aio.Channel, els_settings: Settings) -> Caller:
    return caller(channel, els_settings, "teacher-1", Role.TEACHER)
