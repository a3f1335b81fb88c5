"""Health that tells the truth: NOT_SERVING while the database or NATS is unreachable.

Every service runs one :class:`HealthProbe`. Each interval it checks what the service
cannot work without — its NATS connection (``is_connected``: false while nats-py is
reconnecting) and, for services with a database, a ``SELECT 1`` within a short
timeout — and sets grpc.health.v1 for ``""`` and every hosted service name:
NOT_SERVING after two failed checks in a row (one slow answer on a loaded machine is
not an outage), SERVING again after the first good one. The ``essayflow_dependency_up``
gauge shows which dependency is down.

The database check uses a connection of its own rather than the pool: a pool whose
connections are all busy under load is not a database that is down, and must not take
the service out of rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from grpc_health.v1 import health, health_pb2
from nats.aio.client import Client as NATS

from essayflow_runtime import db
from essayflow_runtime.config import Settings
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import DEPENDENCY_UP
from essayflow_runtime.periodic import Periodic

log = get_logger(__name__)

# Consecutive failed checks before a dependency counts as down.
FAILURES_TO_DOWN = 2

Check = Callable[[], Awaitable[bool]]


class DatabaseCheck:
    """``SELECT 1`` on a connection kept for probing; reconnects when it is lost."""

    def __init__(self, database_url: str, schema: str, timeout_s: float) -> None:
        self._url = database_url
        self._schema = schema
        self._timeout_s = timeout_s
        self._conn: asyncpg.Connection | None = None

    async def __call__(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await db.connect(self._url, self._schema)
                await self._conn.fetchval("SELECT 1")
            return True
        except Exception as exc:  # whatever it is, the database is not answering
            log.debug("database check failed", error=repr(exc))
            await self.close()
            return False

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.terminate()


def nats_check(nc: NATS) -> Check:
    async def check() -> bool:
        return bool(nc.is_connected)

    return check


class HealthProbe:
    """A worker (run/stop) that keeps grpc.health.v1 in line with the dependencies."""

    def __init__(
        self,
        settings: Settings,
        service: str,
        servicer: health.aio.HealthServicer,
        service_names: tuple[str, ...],
        checks: Mapping[str, Check],
    ) -> None:
        self._settings = settings
        self._service = service
        self._servicer = servicer
        self._names = (*service_names, "")
        self._checks = dict(checks)
        self._failed = dict.fromkeys(self._checks, 0)
        self._serving: bool | None = None
        self._loop = Periodic("health probe", settings.health_probe_interval_s, self.check_once)

    @property
    def serving(self) -> bool | None:
        return self._serving

    def stop(self) -> None:
        self._loop.stop()

    async def run(self) -> None:
        try:
            await self._loop.run()
        finally:
            for check in self._checks.values():
                close = getattr(check, "close", None)
                if close is not None:
                    await close()

    async def check_once(self) -> bool:
        """Run every check once and publish the outcome; returns whether the service serves."""
        results = await asyncio.gather(*(check() for check in self._checks.values()))
        down = []
        for name, ok in zip(self._checks, results, strict=True):
            self._failed[name] = 0 if ok else self._failed[name] + 1
            is_down = self._failed[name] >= FAILURES_TO_DOWN
            DEPENDENCY_UP.labels(self._service, name).set(0 if is_down else 1)
            if is_down:
                down.append(name)
        serving = not down
        if serving != self._serving:
            if serving:
                log.info("dependencies reachable: SERVING")
            else:
                log.warning("dependencies unreachable: NOT_SERVING", down=down)
            status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
            # After a graceful shutdown began the servicer ignores these: it stays NOT_SERVING.
            for name in self._names:
                await self._servicer.set(name, status)
            self._serving = serving
        return serving
