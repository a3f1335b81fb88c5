"""Shared fixtures: real PostgreSQL and a real nats-server for every tier that needs them.

The configured ``ESSAYFLOW_DATABASE_URL`` / ``ESSAYFLOW_NATS_URL`` are used when set;
otherwise the session starts embedded ones (pip-installed binaries) on free ports in
a temporary directory, so the suite passes on a machine with no services running.
Each test gets a fresh database with every service's migrations applied.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest
from hypothesis import settings as hypothesis_settings
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from essayflow_runtime import bus, migrations
from essayflow_runtime.config import Settings, load_settings, nats_servers
from essayflow_runtime.db import plain_dsn
from essayflow_runtime.embedded import EmbeddedNats, EmbeddedPostgres

# A developer's running `make run` records itself in .data/stack.json, which the config loader
# reads; the tests never find it (a data directory that does not exist, unless a test sets one).
os.environ["ESSAYFLOW_DATA_DIR"] = str(Path(tempfile.gettempdir()) / f"essayflow-tests-no-stack-{os.getpid()}")

# Hypothesis's per-example deadline (200 ms) measures how busy the machine is, not the code
# under test: a shared 2-core machine misses it now and then. Examples still run in full.
hypothesis_settings.register_profile("essayflow", deadline=None)
hypothesis_settings.load_profile("essayflow")


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("ESSAYFLOW_DATABASE_URL")
    if configured:
        yield configured
        return
    # Not under pytest's base temp dir: pytest re-tightens it to 0700 on every run, which
    # the unprivileged postgres user (when tests run as root) could then not traverse.
    data_dir = Path(tempfile.mkdtemp(prefix="essayflow-pg-"))
    server = EmbeddedPostgres(data_dir).start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("ESSAYFLOW_NATS_URL")
    if configured:
        asyncio.run(_record_history(configured))
        yield configured
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats")).start()
    try:
        asyncio.run(_record_history(server.url))
        yield server.url
    finally:
        server.stop()


# Interest retention drops an event once its consumers processed it (at once if none is
# declared); tests read the stream afterwards, so the servers they share keep it all.
HISTORY_CONSUMER = "tests-history"


async def _record_history(url: str, *, stream_replicas: int = 1) -> None:
    client = await nats.connect(nats_servers(url))
    try:
        settings = load_settings({}, nats_url=url, stream_replicas=stream_replicas)
        await bus.record_history(settings, client.jetstream(), HISTORY_CONSUMER)
    finally:
        await client.close()


def _migrated_services() -> list[str]:
    """Every service with migrations; ESSAYFLOW_TEST_SERVICES=bos,... narrows it while developing."""
    only = {s for s in os.environ.get("ESSAYFLOW_TEST_SERVICES", "").split(",") if s}
    services_dir = Path(migrations.__file__).parent.parent / "services"
    return [
        service
        for service in migrations.SERVICES_WITH_DATABASE
        if (services_dir / service / "migrations").exists() and (not only or service in only)
    ]


def _with_database(server_url: str, name: str) -> str:
    """The server's URL for database ``name``; its query (``target_session_attrs`` of a
    multi-host URL) and every host kept."""
    return urlunsplit(urlsplit(plain_dsn(server_url))._replace(path=f"/{name}"))


def _database_name(database_url: str) -> str:
    return urlsplit(plain_dsn(database_url)).path.lstrip("/")


def _admin(server_url: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(plain_dsn(server_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _create_database(server_url: str, *, migrate: bool = True) -> str:
    """A fresh database on the server, with every service's migrations applied."""
    name = f"essayflow_test_{uuid.uuid4().hex[:12]}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    if migrate:
        for service in _migrated_services():
            migrations.upgrade(service, url)
    return url


def _drop_database(server_url: str, database_url: str) -> None:
    name = _database_name(database_url)
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_database(postgres_server_url: str) -> Iterator[Callable[[], str]]:
    """Creates fresh, fully migrated databases; drops them afterwards."""
    created: list[str] = []

    def make() -> str:
        created.append(_create_database(postgres_server_url))
        return created[-1]

    yield make
    for url in created:
        _drop_database(postgres_server_url, url)


@pytest.fixture
def database_url(make_database: Callable[[], str]) -> str:
    return make_database()


@pytest.fixture
def settings(database_url: str, nats_server_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        nats_url=nats_server_url,
        redelivery_backoff_s=(0.05, 0.1, 0.2),
        transient_backoff_initial_s=0.05,
        transient_backoff_max_s=0.5,
        outbox_poll_interval_s=0.2,
        metrics_enabled=False,
    )


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server of this test's own, for tests that stop it or count everything on it."""
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_settings(settings: Settings, private_nats: EmbeddedNats) -> Settings:
    return dataclasses.replace(settings, nats_url=private_nats.url)


@pytest.fixture
async def private_js(private_settings: Settings) -> AsyncIterator[JetStreamContext]:
    """JetStream on the test's own nats-server, streams ensured and their history kept;
    reconnects across restarts."""
    client = await nats.connect(private_settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = client.jetstream()
    await bus.record_history(private_settings, js, HISTORY_CONSUMER)
    try:
        yield js
    finally:
        await client.close()


@pytest.fixture
async def nc(settings: Settings) -> AsyncIterator[NATS]:
    client = await nats.connect(settings.nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def js(nc: NATS, settings: Settings) -> JetStreamContext:
    context = nc.jetstream()
    await bus.ensure_streams(settings, context)
    return context
