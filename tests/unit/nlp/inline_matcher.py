"""The matcher in the calling task, without worker processes: for unit tests of what is built
around it (the handler, the RPC). The worker pool itself is tested in the integration tier."""

from __future__ import annotations

from collections.abc import Sequence

from essayflow.common.v1 import common_pb2
from services.nlp.suggestions import EssayToMatch, RosterMatcher


class InlineMatcher:
    async def match(
        self, roster: Sequence[common_pb2.Student], essays: Sequence[EssayToMatch]
    ) -> list[common_pb2.EssayMatchResult]:
        matcher = RosterMatcher(roster)
        return [matcher.match(essay) for essay in essays]
