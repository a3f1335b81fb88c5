"""Small helpers shared by the test tiers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.05,
    message: str = "condition not reached",
) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"{message} within {timeout_s}s (last value: {last!r})")
