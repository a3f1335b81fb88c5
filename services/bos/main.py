"""The BOS process: gRPC API, event consumer, outbox relay and the watch feed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from essayflow_runtime.consumer import Consumer
from essayflow_runtime.outbox import OutboxRelay
from essayflow_runtime.service import BuildParts, Connections, ServiceParts, run_service
from services.bos import handlers
from services.bos.directory import ClassDirectory, CmsClassDirectory
from services.bos.faults import with_faults
from services.bos.retention import TextRetentionSweep
from services.bos.servicer import BatchOrchestratorServicer, binding
from services.bos.wait_stats import BatchWaitStats
from services.bos.watch import BatchChangeFeed

SERVICE = "bos"


def make_build_parts(directory: ClassDirectory | None = None) -> BuildParts:
    """``directory`` replaces the CMS client (tests hand in an in-memory one)."""

    async def build_parts(connections: Connections) -> ServiceParts:
        settings, pool = connections.settings, connections.pool
        assert pool is not None, "BOS needs its database"
        cleanups: list[Callable[[], Awaitable[None]]] = []
        classes = directory
        if classes is None:
            cms = CmsClassDirectory(settings)
            classes, cleanups = cms, [cms.close]
        feed = BatchChangeFeed(settings, SERVICE)
        retention = TextRetentionSweep(settings, pool)
        consumer = Consumer(
            settings, connections.js, service=SERVICE, handlers=with_faults(handlers.handlers(pool))
        )
        relay = OutboxRelay(settings, pool, connections.js, SERVICE)
        return ServiceParts(
            bindings=[binding(BatchOrchestratorServicer(pool, classes, feed))],
            workers=[consumer, relay, feed, BatchWaitStats(settings, pool), retention],
            cleanups=cleanups,
        )

    return build_parts


build_parts = make_build_parts()


def main() -> None:
    run_service(SERVICE, build_parts, with_database=True)


if __name__ == "__main__":
    main()
