"""Matching in worker processes, each essay within a time budget.

Matching is CPU work, and `re` and rapidfuzz hold the GIL, so a thread does not keep the event loop
free: one slow essay froze health checks and acknowledgements for everyone. Here each essay is
matched in a worker process, and an essay that takes longer than its budget gets no suggestion
(`NO_MATCH_REASON_ANALYSIS_BUDGET_EXCEEDED`) while the rest of its request and every other request
go on.

A process cannot be told to stop in the middle of a regular expression, and a
`ProcessPoolExecutor` cannot cancel a running task. So every worker is a lane of its own: a
one-process executor that runs one essay at a time. When an essay overruns, the supervisor kills
exactly that process (by the pid it reported when it started) and the lane starts a fresh one for
its next essay; no other essay is touched, so none has to be submitted again. A lane's worker is
started, and has imported the matcher, before any budget is counted.

Lanes take essays from the waiting requests in turn (round robin), so a large batch does not hold
back a small one behind all of its essays. Workers are started with "spawn" (or "forkserver"),
never "fork": the service has threads (gRPC, the executor's own) that a fork would copy mid-step.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Protocol

from essayflow.common.v1 import common_pb2
from essayflow_runtime.config import Settings
from essayflow_runtime.logs import get_logger
from essayflow_runtime.metrics import MATCHER_ESSAYS_OVER_BUDGET, MATCHER_WORKER_STARTS
from services.nlp.suggestions import EssayToMatch, RosterMatcher, no_match

log = get_logger(__name__)

START_METHODS = ("spawn", "forkserver")
# A worker that does not come up in this time will not: the error goes to the caller.
_STARTUP_TIMEOUT_S = 120.0
# A worker that died on its own (not killed for its budget) gets the essay once more before the
# essay is reported as over budget: a crash may be the machine's, the second one is the essay's.
_ATTEMPTS = 2
# Rosters a worker keeps prepared: lanes take essays from the waiting requests in turn, so a worker
# switches between the rosters of a few concurrent requests, and preparing one of 1,000 students
# costs as much as matching dozens of essays.
_ROSTERS_KEPT = 4


class EssayMatcher(Protocol):
    async def match(
        self, roster: Sequence[common_pb2.Student], essays: Sequence[EssayToMatch]
    ) -> list[common_pb2.EssayMatchResult]:
        """One result per essay, in order."""
        ...


def over_budget(essay_id: str, detail: str) -> common_pb2.EssayMatchResult:
    return no_match(essay_id, common_pb2.NO_MATCH_REASON_ANALYSIS_BUDGET_EXCEEDED, detail)


# --- in the worker process -----------------------------------------------------------------------

# The rosters of the last few requests, prepared once per worker and request.
_prepared: OrderedDict[int, RosterMatcher] = OrderedDict()


class RosterNotHeld(LookupError):
    """The worker was sent an essay without the roster, and does not hold it (any more)."""


# prctl(2): the signal a process gets when the thread that started it ends.
_PR_SET_PDEATHSIG = 1
_ORPHAN_POLL_S = 1.0


def _worker_init(service_pid: int) -> None:
    """Die with the service. An idle worker holds both ends of its task queue, so a service killed
    with -9 would leave it waiting forever; a busy one would finish its essay first."""
    if sys.platform == "linux":
        # The kernel kills the worker the moment the service dies, even in the middle of a pattern.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_exit_when_orphaned, args=(service_pid,), daemon=True).start()
    if os.getppid() != service_pid:
        # The service died before the line above took effect.
        os._exit(1)


def _exit_when_orphaned(service_pid: int) -> None:
    while os.getppid() == service_pid:
        time.sleep(_ORPHAN_POLL_S)
    os._exit(1)


def _worker_started() -> int:
    return os.getpid()


def _worker_match(token: int, roster: Sequence[common_pb2.Student] | None, essay: EssayToMatch) -> bytes:
    if roster is not None:
        _prepared[token] = RosterMatcher(roster)
    elif token not in _prepared:
        raise RosterNotHeld(f"worker {os.getpid()} holds no roster for request {token}")
    _prepared.move_to_end(token)
    while len(_prepared) > _ROSTERS_KEPT:
        _prepared.popitem(last=False)
    data: bytes = _prepared[token].match(essay).SerializeToString()
    return data


# --- in the service ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Request:
    """One `match` call: its roster, its essays and the results so far."""

    token: int
    roster: tuple[common_pb2.Student, ...]
    essays: Sequence[EssayToMatch]
    done: asyncio.Future[None]
    results: list[common_pb2.EssayMatchResult | None] = field(default_factory=list)
    taken: int = 0
    delivered: int = 0

    def deliver(self, index: int, result: common_pb2.EssayMatchResult) -> None:
        if self.done.done():
            return
        self.results[index] = result
        self.delivered += 1
        if self.delivered == len(self.essays):
            self.done.set_result(None)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


class _Lane:
    """One worker process and the essay it is matching."""

    def __init__(self, name: str, context: multiprocessing.context.BaseContext, budget_s: float) -> None:
        self._name = name
        self._context = context
        self._budget_s = budget_s
        self._executor: ProcessPoolExecutor | None = None
        self._pid: int | None = None
        # The requests whose rosters the worker holds, kept as the worker keeps them (oldest first).
        self._rosters: OrderedDict[int, None] = OrderedDict()
        # One start at a time: an essay arriving while the warm-up is starting this lane's worker
        # waits for that worker instead of starting a second one (and orphaning the first).
        self._starting = asyncio.Lock()

    async def match(self, request: _Request, essay: EssayToMatch) -> common_pb2.EssayMatchResult:
        crashes = 0
        while True:
            executor = await self.started()
            roster = None if request.token in self._rosters else request.roster
            try:
                future = asyncio.wrap_future(executor.submit(_worker_match, request.token, roster, essay))
                data = await asyncio.wait_for(future, self._budget_s)
            except TimeoutError:
                MATCHER_ESSAYS_OVER_BUDGET.inc()
                log.warning(
                    "essay over its matching budget, replacing the worker",
                    essay_id=essay.essay_id,
                    budget_s=self._budget_s,
                    characters=len(essay.text),
                    worker=self._name,
                )
                self.stop()
                return over_budget(essay.essay_id, f"matching took longer than {self._budget_s:g} s")
            except BrokenProcessPool as error:
                crashes += 1
                log.warning("matcher worker stopped", essay_id=essay.essay_id, crashes=crashes, error=repr(error))
                self.stop()
                if crashes >= _ATTEMPTS:
                    MATCHER_ESSAYS_OVER_BUDGET.inc()
                    return over_budget(essay.essay_id, "the matcher's worker process stopped while matching this essay")
                continue
            except RosterNotHeld:
                # Out of step with the worker's cache: send the roster along this time.
                self._rosters.pop(request.token, None)
                continue
            self._rosters[request.token] = None
            self._rosters.move_to_end(request.token)
            while len(self._rosters) > _ROSTERS_KEPT:
                self._rosters.popitem(last=False)
            result: common_pb2.EssayMatchResult = common_pb2.EssayMatchResult.FromString(data)
            return result

    async def started(self) -> ProcessPoolExecutor:
        """The worker process, started if it is not running."""
        async with self._starting:
            return await self._start_if_stopped()

    async def _start_if_stopped(self) -> ProcessPoolExecutor:
        if self._executor is None:
            executor = ProcessPoolExecutor(
                max_workers=1, mp_context=self._context, initializer=_worker_init, initargs=(os.getpid(),)
            )
            try:
                pid = await asyncio.wait_for(asyncio.wrap_future(executor.submit(_worker_started)), _STARTUP_TIMEOUT_S)
            except BaseException:
                executor.shutdown(wait=False, cancel_futures=True)
                raise
            self._executor, self._pid = executor, pid
            self._rosters.clear()
            MATCHER_WORKER_STARTS.inc()
            log.info("matcher worker started", worker=self._name, pid=pid)
        return self._executor

    def stop(self) -> None:
        """Kill the worker (it may be stuck in a pattern) and forget it; the next essay starts a new one."""
        if self._executor is None:
            return
        if self._pid is not None:
            # The worker is our child and not yet reaped, so its pid cannot belong to anyone else.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        # The executor notices its worker died, fails what it still holds and reaps the process.
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor, self._pid = None, None
        self._rosters.clear()


class MatcherPool:
    """Matches essays in `workers` worker processes, at most `essay_budget_s` per essay."""

    def __init__(self, *, workers: int = 2, essay_budget_s: float = 2.0, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError("the matcher needs at least one worker process")
        if essay_budget_s <= 0:
            raise ValueError("the essay budget must be positive")
        if start_method not in START_METHODS:
            raise ValueError(f"start method must be one of {', '.join(START_METHODS)}, not {start_method!r}")
        context = multiprocessing.get_context(start_method)
        self._lanes = [_Lane(f"matcher-{i}", context, essay_budget_s) for i in range(workers)]
        self._tokens = itertools.count(1)
        self._waiting: deque[_Request] = deque()
        # Every request not yet answered, so that closing fails those a lane was working on too.
        self._active: set[_Request] = set()
        self._work = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> MatcherPool:
        return cls(
            workers=settings.matcher_workers,
            essay_budget_s=settings.matcher_essay_budget_s,
            start_method=settings.matcher_start_method,
        )

    async def match(
        self, roster: Sequence[common_pb2.Student], essays: Sequence[EssayToMatch]
    ) -> list[common_pb2.EssayMatchResult]:
        """One result per essay, in order; an essay over budget gets ANALYSIS_BUDGET_EXCEEDED."""
        if self._closed:
            raise RuntimeError("the matcher pool is closed")
        if not essays:
            return []
        self._start()
        request = _Request(
            token=next(self._tokens),
            roster=tuple(roster),
            essays=essays,
            done=asyncio.get_running_loop().create_future(),
            results=[None] * len(essays),
        )
        self._waiting.append(request)
        self._active.add(request)
        self._work.set()
        try:
            # Cancelled (the caller went away): the future is cancelled with it and lanes skip the rest.
            await request.done
        finally:
            self._active.discard(request)
        return [result for result in request.results if result is not None]

    async def close(self) -> None:
        """Stop the lanes and their worker processes (killed if busy: the service is stopping)."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for lane in self._lanes:
            lane.stop()
        for request in self._active:
            request.fail(RuntimeError("the matcher pool closed"))
        self._waiting.clear()

    async def warm(self) -> None:
        """Start every worker process now, so the first essays do not wait for a process to
        spawn and import the matcher (about a second). A worker that cannot start is
        started again by the first essay it is given."""
        self._start()
        results = await asyncio.gather(*(lane.started() for lane in self._lanes), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.warning("matcher worker did not start ahead of time", error=repr(result))

    def _start(self) -> None:
        # Lazily, inside the running loop: nothing is started at import or construction time.
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._serve(lane), name=f"matcher-lane-{i}") for i, lane in enumerate(self._lanes)
            ]

    async def _serve(self, lane: _Lane) -> None:
        try:
            while True:
                request, index = await self._next_essay()
                try:
                    result = await lane.match(request, request.essays[index])
                except Exception as error:
                    # The worker could not be started, or the matcher raised (a bug): the request
                    # fails as a whole, as it would in-process (the consumer redelivers it, an RPC
                    # caller gets an error).
                    log.error("matcher worker could not run", error=repr(error))
                    request.fail(error)
                    continue
                request.deliver(index, result)
        finally:
            lane.stop()

    async def _next_essay(self) -> tuple[_Request, int]:
        while True:
            while self._waiting:
                request = self._waiting[0]
                if request.done.done() or request.taken >= len(request.essays):
                    self._waiting.popleft()
                    continue
                index = request.taken
                request.taken += 1
                # The next lane serves the next request: round robin between requests.
                self._waiting.rotate(-1)
                return request, index
            self._work.clear()
            await self._work.wait()
