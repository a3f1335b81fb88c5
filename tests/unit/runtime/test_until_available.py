"""A service's start-up waits for a dependency that fails transiently and gives up at
once on one that never will."""

from __future__ import annotations

import pytest

from essayflow_runtime.config import load_settings
from essayflow_runtime.service import until_available

SETTINGS = load_settings({}, transient_backoff_initial_s=0.001, transient_backoff_max_s=0.002)


async def test_a_refused_connection_is_tried_again_until_it_succeeds() -> None:
    attempts: list[int] = []

    async def connect() -> str:
        attempts.append(1)
        if len(attempts) < 4:
            raise ConnectionRefusedError("nothing listens yet")
        return "connected"

    assert await until_available(SETTINGS, "database", connect) == "connected"
    assert len(attempts) == 4


async def test_a_failure_that_cannot_pass_is_raised_at_once() -> None:
    attempts: list[int] = []

    async def connect() -> str:
        attempts.append(1)
        raise ValueError("a setting that is wrong stays wrong")

    with pytest.raises(ValueError):
        await until_available(SETTINGS, "database", connect)
    assert len(attempts) == 1
