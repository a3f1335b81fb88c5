"""The one loop behind every periodic worker: sweeps (the validation deadline, text
retention), gauges (batch waits, streams and consumers) and the health probe.

A pass that fails is logged and the next one tries again: a periodic job whose
dependency is away waits for it, and the service keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from essayflow_runtime.logs import get_logger

log = get_logger(__name__)


class Periodic:
    """Runs ``action`` every ``interval_s`` seconds until :meth:`stop`; a worker holds one
    and hands :meth:`run` and :meth:`stop` on (the service's Worker protocol)."""

    def __init__(self, name: str, interval_s: float, action: Callable[[], Awaitable[object]]) -> None:
        self._name = name
        self._interval_s = interval_s
        self._action = action
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called (a long pass checks it between steps)."""
        return self._stopping.is_set()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._action()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("periodic pass failed, will retry", job=self._name, error=repr(exc))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval_s)
