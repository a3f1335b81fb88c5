"""A handler bug dead-letters a batch's event; once the fix is deployed `essayflow events
redrive` sends it back and the batch is READY once; a second re-drive does nothing."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import nats
import pytest

from essayflow.common.v1 import common_pb2 as c
from essayflow.events.v1 import els_events_pb2
from essayflow_cli import redrive
from essayflow_cli.waits import wait_status
from essayflow_runtime import contracts
from services.bos.faults import FAIL_EVENT_VARIABLE
from tests.e2e.conftest import E2EStack
from tests.e2e.flows import essay_text, register, transitions, upload
from tests.support import eventually

pytestmark = pytest.mark.e2e

COMPLETED = els_events_pb2.BatchContentProvisioningCompleted
GUEST_TO_READY = [(c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)]


def restart_bos(stack: E2EStack, **extra_env: str) -> None:
    """Stop BOS and start it again, with ``extra_env`` (a deploy, with or without the bug)."""
    stack.kill("bos")
    env = {**stack.env, "ESSAYFLOW_BOS_PORT": str(stack.ports["bos"][0]), **extra_env}
    stack.stack.start_service("bos", env, out=stack.logs, key="bos")


async def redrive_cli(stack: E2EStack, *args: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "essayflow_cli.main",
        "events",
        "redrive",
        "--output",
        "json",
        *args,
        env={**os.environ, "ESSAYFLOW_NATS_URL": stack.settings.nats_url},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out
    report: dict[str, object] = json.loads(out)
    return report


async def dead_letters_about(stack: E2EStack, batch_id: str) -> list[redrive.DeadLetter]:
    client = await nats.connect(stack.settings.nats_url)
    try:
        selection = redrive.Selection(service="bos", subject=contracts.subject_of(COMPLETED))
        letters = await redrive.list_dead_letters(stack.settings, client.jetstream(), selection)
    finally:
        await client.close()
    return [d for d in letters if getattr(contracts.unwrap(d.data)[1], "batch_id", "") == batch_id]


async def test_a_dead_lettered_completion_is_re_driven_after_the_fix_and_the_batch_is_ready_once(
    stack_ready: E2EStack,
) -> None:
    restart_bos(stack_ready, **{FAIL_EVENT_VARIABLE: COMPLETED.DESCRIPTOR.name})
    teacher = stack_ready.clients("teacher-redrive")
    try:
        await stack_ready.wait_serving(("bos",))
        batch = await register(teacher, 2)
        await upload(teacher, batch.batch_id, [essay_text("Anon", "Writer", i) for i in range(2)])
        [letter] = await eventually(
            lambda: dead_letters_about(stack_ready, batch.batch_id), timeout_s=60, message="not dead-lettered"
        )
        assert letter.reason == "MAX_DELIVERIES_EXCEEDED" and "injected bug" in letter.detail
        assert await transitions(teacher, batch.batch_id) == [], "the bug kept the batch waiting"

        restart_bos(stack_ready)  # the fix, deployed
        await stack_ready.wait_serving(("bos",))
        dry = await redrive_cli(stack_ready, "--service", "bos", "--event-id", letter.event_id)
        assert dry["dry_run"] and dry["matched"] == 1 and dry["redriven"] == 0
        done = await redrive_cli(stack_ready, "--service", "bos", "--event-id", letter.event_id, "--yes")
        assert done["redriven"] == 1
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
        assert await transitions(teacher, batch.batch_id) == GUEST_TO_READY

        again = await redrive_cli(stack_ready, "--service", "bos", "--event-id", letter.event_id, "--yes")
        assert again["matched"] == 0 and again["redriven"] == 0
        assert await dead_letters_about(stack_ready, batch.batch_id) == []
        assert await transitions(teacher, batch.batch_id) == GUEST_TO_READY, "READY exactly once"
    finally:
        await teacher.close()
        if stack_ready.stack.processes["bos"].poll() is not None:
            stack_ready.start("bos")
