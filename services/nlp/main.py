"""The student matcher process: the MatchAuthors RPC and the consumer of matching requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from essayflow.events.v1 import els_events_pb2
from essayflow_runtime.consumer import Consumer
from essayflow_runtime.service import BuildParts, Connections, ServiceParts, run_service
from services.els.content_store import ContentStore
from services.nlp import servicer
from services.nlp.handlers import RetryPolicy, StudentMatchingHandler, TextSource
from services.nlp.pool import MatcherPool
from services.nlp.roster import CmsRosterSource, RosterSource

SERVICE = "nlp"


def make_build_parts(
    *,
    roster_source: RosterSource | None = None,
    text_source: TextSource | None = None,
    retry: RetryPolicy = RetryPolicy(),
) -> BuildParts:
    """Build the service's parts; tests may put their own roster or text source in."""

    async def build(connections: Connections) -> ServiceParts:
        settings = connections.settings
        cleanups: list[Callable[[], Awaitable[None]]] = []
        roster = roster_source
        if roster is None:
            cms = CmsRosterSource(settings)
            cleanups.append(cms.close)
            roster = cms
        texts = text_source or ContentStore(connections.js, settings.content_bucket, replicas=settings.stream_replicas)
        # One pool for the RPC and the consumer; its workers start with the service (in the
        # background), and stop after the server did.
        matcher = MatcherPool.from_settings(settings)
        cleanups.append(matcher.close)
        handler = StudentMatchingHandler(connections.js, roster, texts, matcher=matcher, retry=retry)
        consumer = Consumer(
            settings,
            connections.js,
            service=SERVICE,
            handlers={els_events_pb2.BatchStudentMatchingRequested: handler},
        )
        return ServiceParts(
            bindings=[servicer.binding(matcher)], workers=[consumer, MatcherWarmUp(matcher)], cleanups=cleanups
        )

    return build


class MatcherWarmUp:
    """A worker that starts the matcher's processes once, when the service starts."""

    def __init__(self, matcher: MatcherPool) -> None:
        self._matcher = matcher

    async def run(self) -> None:
        await self._matcher.warm()

    def stop(self) -> None:
        """Nothing to stop: the pool closes with the service's clean-ups."""


build_parts = make_build_parts()


def main() -> None:
    run_service(SERVICE, build_parts, with_database=False)


if __name__ == "__main__":
    main()
