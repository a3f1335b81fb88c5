"""The process around a service: connect, serve, run background workers, stop cleanly.

Each service's ``main.py`` hands :func:`run_service` a function that builds its parts
(gRPC bindings plus workers such as consumers, outbox relays and sweeps) from the
shared connections. SIGINT/SIGTERM: health goes NOT_SERVING, workers stop, in-flight
calls drain, connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from essayflow_runtime import bus, db, exposure, failures, migrations, tracing
from essayflow_runtime.bus_stats import BusStats
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.consumer import Consumer
from essayflow_runtime.errors import StartupRefused
from essayflow_runtime.grpc_server import RunningServer, ServiceBinding, start_server, stop_event_on_signals
from essayflow_runtime.health_probe import Check, DatabaseCheck, HealthProbe, nats_check
from essayflow_runtime.logs import configure_logging, get_logger
from essayflow_runtime.metrics import serve_metrics

log = get_logger(__name__)

METRICS_OFFSETS = {"bos": 0, "els": 1, "cms": 2, "nlp": 3}
T = TypeVar("T")


class Worker(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Connections:
    settings: Settings
    nc: NATS
    js: JetStreamContext
    pool: asyncpg.Pool | None = None


@dataclass
class ServiceParts:
    bindings: list[ServiceBinding]
    workers: list[Worker] = field(default_factory=list)
    # Closed after the server stopped (clients to other services, etc.).
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


BuildParts = Callable[[Connections], Awaitable[ServiceParts]]


@dataclass
class RunningService:
    name: str
    server: RunningServer
    connections: Connections
    parts: ServiceParts
    tasks: list[asyncio.Task[None]]

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self) -> None:
        await self.server.health.enter_graceful_shutdown()
        for worker in self.parts.workers:
            worker.stop()
        await self.server.server.stop(self.connections.settings.grpc_shutdown_grace_s)
        for task in self.tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=5)
        for cleanup in self.parts.cleanups:
            with contextlib.suppress(Exception):
                await cleanup()
        with contextlib.suppress(Exception):
            await self.connections.nc.drain()
        if self.connections.pool is not None:
            await self.connections.pool.close()


async def start_service(
    name: str, settings: Settings, build: BuildParts, *, port: int, with_database: bool
) -> RunningService:
    """Start a service in the running loop (``port=0``: any free port). Tests use this too.

    Raises :class:`~essayflow_runtime.exposure.UnsafeExposure` before touching anything
    when the settings would expose it unprotected."""
    exposure.check(settings, name)
    pool = None
    if with_database:
        await until_available(
            settings, "database", lambda: asyncio.to_thread(migrations.upgrade, name, settings.database_url)
        )
        pool = await until_available(settings, "database", lambda: db.create_pool(settings.database_url, name))
    nc = await until_available(settings, "nats", lambda: bus.connect(settings, name))
    js = nc.jetstream()
    # JetStream answers its API only once it has recovered its streams: right after a
    # nats-server restart, stream_info times out for a while.
    await until_available(settings, "jetstream", lambda: bus.ensure_streams(settings, js))
    connections = Connections(settings=settings, nc=nc, js=js, pool=pool)
    parts = await build(connections)
    # The bus gauges for this service's own consumer(s), and both streams' fill.
    durables = [w.durable for w in parts.workers if isinstance(w, Consumer)]
    if durables:
        parts.workers.append(BusStats(settings, js, durables))
    server = await start_server(settings, name, parts.bindings, port)
    # Every service reports NOT_SERVING while what it cannot work without is unreachable.
    checks: dict[str, Check] = {"nats": nats_check(nc)}
    if with_database:
        checks["database"] = DatabaseCheck(settings.database_url, name, settings.health_probe_timeout_s)
    parts.workers.append(HealthProbe(settings, name, server.health, server.service_names, checks))
    tasks = [asyncio.create_task(w.run(), name=f"{name}-{type(w).__name__}") for w in parts.workers]
    return RunningService(name, server, connections, parts, tasks)


async def until_available(settings: Settings, dependency: str, step: Callable[[], Awaitable[T]]) -> T:
    """``step()``, tried again for as long as it fails transiently.

    A service started while its database or NATS is down (or restarting) waits for it,
    as a consumer does, instead of exiting: whatever supervises it need not know the
    order in which the stack comes up. A failure that is not transient (a wrong
    password, a broken migration) is raised at once."""
    delay = settings.transient_backoff_initial_s
    cap = min(settings.transient_backoff_max_s, 5.0)
    while True:
        try:
            return await step()
        except Exception as exc:
            if not failures.is_transient(exc):
                raise
            log.warning("waiting for a dependency", dependency=dependency, retry_in_s=delay, error=repr(exc))
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)


def run_service(name: str, build: BuildParts, *, with_database: bool) -> None:
    """Entry point of a service process (configured explicitly: it never reads a stack file)."""
    settings = load_settings(discover=False)
    configure_logging(settings, name)
    if tracing.configure(name):
        log.info("tracing: exporting spans over OTLP")
    if not settings.nats_url or (with_database and not settings.database_url):
        sys.exit(f"{name}: ESSAYFLOW_NATS_URL{' and ESSAYFLOW_DATABASE_URL' if with_database else ''} must be set")
    port = getattr(settings, f"{name}_port")

    async def main() -> None:
        stop = stop_event_on_signals()
        # Refused (StartupRefused) before anything listens: the metrics port opens after.
        starting = asyncio.ensure_future(start_service(name, settings, build, port=port, with_database=with_database))
        stopping = asyncio.ensure_future(stop.wait())
        # A start-up that waits for a dependency still ends on SIGTERM / Ctrl-C.
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("stopped while starting")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        stopping.cancel()
        service = starting.result()
        if settings.metrics_enabled:
            serve_metrics(settings.metrics_base_port + METRICS_OFFSETS[name], settings.host, name)
        print(f"{name} serving on {settings.host}:{service.port}", flush=True)
        await stop.wait()
        log.info("shutting down")
        await service.stop()

    try:
        try:
            import uvloop

            uvloop.run(main())
        except ImportError:  # pragma: no cover
            asyncio.run(main())
    except StartupRefused as refused:
        sys.exit(f"{name}: {refused}")
    finally:
        tracing.shutdown()  # exports the spans still buffered
