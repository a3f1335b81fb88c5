"""BOS running for real (in-process, free port) over the session's PostgreSQL and nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from essayflow_runtime import db
from essayflow_runtime.config import Settings
from essayflow_runtime.service import RunningService, start_service
from services.bos.main import make_build_parts
from tests.integration.bos.helpers import Client, FakeDirectory

pytestmark = pytest.mark.integration


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
async def bos(settings: Settings, directory: FakeDirectory) -> AsyncIterator[RunningService]:
    service = await start_service("bos", settings, make_build_parts(directory), port=0, with_database=True)
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def client(settings: Settings, bos: RunningService) -> AsyncIterator[Client]:
    stub = Client(settings, bos.port)
    try:
        yield stub
    finally:
        await stub.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await db.create_pool(database_url, "bos", min_size=1, max_size=10)
    try:
        yield created
    finally:
        await created.close()
