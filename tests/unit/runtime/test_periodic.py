"""The one periodic loop: a failing pass is retried on the next tick, and stop ends it."""

from __future__ import annotations

import asyncio

from essayflow_runtime.periodic import Periodic
from tests.support import eventually


async def test_a_failing_pass_is_retried_and_stop_ends_the_loop() -> None:
    passes: list[int] = []

    async def action() -> None:
        passes.append(len(passes))
        if len(passes) < 3:
            raise ConnectionRefusedError("the database is away")

    loop = Periodic("test job", 0.01, action)
    running = asyncio.create_task(loop.run())
    async def four_passes() -> bool | None:
        return len(passes) >= 4 or None

    await eventually(four_passes, timeout_s=10)
    assert not running.done(), "a failing pass must not end the loop"
    loop.stop()
    await asyncio.wait_for(running, timeout=10)
    assert loop.stopping


async def test_stop_before_the_first_pass_runs_nothing() -> None:
    calls: list[None] = []

    async def action() -> None:
        calls.append(None)

    loop = Periodic("test job", 0.01, action)
    loop.stop()
    await loop.run()
    assert calls == []
