"""BatchStudentMatchingRequested → one BatchAuthorMatchesSuggested for the whole request.

Every essay of the request is reported, whatever happened to it: matched, no candidate,
or why it could not be matched (its roster or text is definitively not there). Fetches
are retried a few times in place; a failure that may pass (CMS or the object store down,
restarting or slow) is raised as transient, so the consumer redelivers the request with
capped backoff for as long as the outage lasts — a peer that is merely away never turns
into ROSTER_UNAVAILABLE or TEXT_UNAVAILABLE. Any other fetch failure is raised as it is:
the consumer counts it toward its dead-letter limit.
The outgoing event id is derived from the request's, so a redelivery that publishes
again is dropped by JetStream as a duplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from google.protobuf.message import Message
from nats.js import JetStreamContext

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import els_events_pb2, nlp_events_pb2
from essayflow_runtime import input_rules, tracing
from essayflow_runtime.consumer import EventContext, publish_caused
from essayflow_runtime.contracts import PoisonMessage
from essayflow_runtime.failures import TransientError, is_transient
from essayflow_runtime.logs import get_logger
from services.nlp.pool import EssayMatcher
from services.nlp.roster import RosterSource, RosterUnavailable
from services.nlp.suggestions import EssayToMatch, count_top_levels, no_match

log = get_logger(__name__)

T = TypeVar("T")

SOURCE = "nlp"


class TextSource(Protocol):
    async def get(self, text_storage_id: str) -> str:
        """The essay text; raises LookupError when no text is stored under the id."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts of one fetch within one delivery, and the pauses between them."""

    attempts: int = 3
    pauses_s: tuple[float, ...] = (0.2, 1.0)

    async def run(self, fetch: Callable[[], Awaitable[T]], *, final: Callable[[Exception], bool]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return await fetch()
            except Exception as error:
                if final(error) or attempt >= self.attempts:
                    raise
                pause = self.pauses_s[min(attempt - 1, len(self.pauses_s) - 1)] if self.pauses_s else 0.0
                log.info("fetch failed, trying again", attempt=attempt, retry_in_s=pause, error=repr(error))
                await asyncio.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass(frozen=True)
class _Unavailable:
    """Data that is definitively not there: reported per essay, never retried."""

    detail: str


class FetchFailed(TransientError):
    """A fetch failed in a way that may pass: let the consumer redeliver the request later."""


def _raise_fetch_failure(error: Exception, detail: str) -> None:
    """A fetch failure that is no final answer: transient (FetchFailed), or as it is (counted)."""
    if is_transient(error):
        raise FetchFailed(detail) from error
    raise error


class StudentMatchingHandler:
    def __init__(
        self,
        js: JetStreamContext,
        roster: RosterSource,
        texts: TextSource,
        *,
        matcher: EssayMatcher,
        retry: RetryPolicy = RetryPolicy(),
        parallel_fetches: int = 16,
    ) -> None:
        self._js = js
        self._roster = roster
        self._texts = texts
        self._matcher = matcher
        self._retry = retry
        self._parallel_fetches = parallel_fetches

    async def __call__(self, context: EventContext, payload: Message) -> None:
        assert isinstance(payload, els_events_pb2.BatchStudentMatchingRequested)
        request = payload
        if not request.batch_id:
            raise PoisonMessage("INVALID_REQUEST", "BatchStudentMatchingRequested without batch_id")
        results = await self._results(request)
        suggested = nlp_events_pb2.BatchAuthorMatchesSuggested(
            batch_id=request.batch_id,
            class_id=request.class_id,
            course_code=request.course_code,
            results=results,
        )
        # Evidence is quoted from essays and error details from exceptions: cut to the event's
        # declared limits so CMS never has to refuse it.
        input_rules.conform(suggested)
        event_id = await publish_caused(self._js, context, suggested, source=SOURCE)
        count_top_levels(results)
        log.info(
            "author matches suggested",
            batch_id=request.batch_id,
            essays=len(results),
            with_suggestion=sum(1 for r in results if r.suggestions),
            event_id=event_id,
            delivery=context.delivery,
        )

    async def _results(
        self, request: els_events_pb2.BatchStudentMatchingRequested
    ) -> list[common_pb2.EssayMatchResult]:
        roster = await self._fetch_roster(request.class_id)
        if isinstance(roster, _Unavailable):
            log.warning("reporting essays as unmatchable", batch_id=request.batch_id, detail=roster.detail)
            return [
                no_match(essay.essay_id, common_pb2.NO_MATCH_REASON_ROSTER_UNAVAILABLE, roster.detail)
                for essay in request.essays
            ]
        texts = await self._fetch_texts(ref.text_storage_id for ref in request.essays)
        # Matching is CPU work (about a second for 500 essays against 1000 students): in the matcher's
        # worker processes, each essay within its budget, so acks, heartbeats and RPCs keep flowing.
        with tracing.span(
            "nlp match authors", batch_id=request.batch_id, essays=len(request.essays), students=len(roster)
        ):
            return await _match_all(self._matcher, roster, request.essays, texts)

    async def _fetch_roster(self, class_id: str) -> list[common_pb2.Student] | _Unavailable:
        if not class_id:
            return _Unavailable("the request names no class")
        try:
            return await self._retry.run(lambda: self._roster.students(class_id), final=_roster_failure_is_final)
        except RosterUnavailable as error:
            if not error.retryable:
                return _Unavailable(error.detail)
            raise FetchFailed(error.detail) from error
        except Exception as error:
            _raise_fetch_failure(error, f"roster of class {class_id}: {error!r}")
            raise

    async def _fetch_texts(self, ids: Iterable[str]) -> dict[str, str | _Unavailable]:
        limit = asyncio.Semaphore(self._parallel_fetches)
        unique = list(dict.fromkeys(ids))

        async def fetch(text_storage_id: str) -> str | _Unavailable:
            if not text_storage_id:
                return _Unavailable("the essay has no text_storage_id")
            async with limit:
                try:
                    return await self._retry.run(
                        lambda: self._texts.get(text_storage_id), final=lambda e: isinstance(e, LookupError)
                    )
                except LookupError as error:
                    return _Unavailable(f"text {text_storage_id}: {error}")

        fetched = await asyncio.gather(*(fetch(i) for i in unique), return_exceptions=True)
        for result in fetched:
            if isinstance(result, Exception):
                _raise_fetch_failure(result, f"essay text: {result!r}")
            if isinstance(result, BaseException):
                raise result
        return dict(zip(unique, fetched, strict=True))  # type: ignore[arg-type]  # no exceptions left


def _roster_failure_is_final(error: Exception) -> bool:
    return isinstance(error, RosterUnavailable) and not error.retryable


async def _match_all(
    matcher: EssayMatcher,
    roster: list[common_pb2.Student],
    essays: Iterable[common_pb2.EssayRef],
    texts: dict[str, str | _Unavailable],
) -> list[common_pb2.EssayMatchResult]:
    refs = list(essays)
    readable = [
        EssayToMatch(essay.essay_id, essay.file_name, text)
        for essay in refs
        if isinstance(text := texts[essay.text_storage_id], str)
    ]
    matched = iter(await matcher.match(roster, readable))
    results: list[common_pb2.EssayMatchResult] = []
    for essay in refs:
        text = texts[essay.text_storage_id]
        if isinstance(text, _Unavailable):
            results.append(no_match(essay.essay_id, common_pb2.NO_MATCH_REASON_TEXT_UNAVAILABLE, text.detail))
        else:
            results.append(next(matched))
    return results
