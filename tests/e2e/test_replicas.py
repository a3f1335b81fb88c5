"""Two replicas of every service, twenty REGULAR batches at once: all READY, every
transition once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest

from essayflow.common.v1 import common_pb2 as c
from essayflow_cli.client import Clients
from essayflow_cli.waits import wait_status
from essayflow_runtime.auth import Role, mint_token
from tests.e2e.conftest import E2EStack, launch_stack
from tests.e2e.flows import ROSTER, create_class, essay_text, register, transitions, upload

pytestmark = pytest.mark.e2e

BATCHES = 20
READY_PATH = [
    (c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION),
    (c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, c.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED),
    (c.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION),
]


@pytest.fixture(scope="module")
def replicated_stack(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    with launch_stack(postgres_server_url, tmp_path_factory.mktemp("replicas-nats"), replicas=2) as stack:
        yield stack


@pytest.fixture
async def replicas(replicated_stack: E2EStack) -> AsyncIterator[list[Clients]]:
    await replicated_stack.wait_serving(timeout_s=120)
    settings = replicated_stack.settings
    token = mint_token(settings, "teacher-replicas", Role.TEACHER)
    clients = [
        Clients(
            dataclasses.replace(
                settings,
                bos_port=replicated_stack.ports["bos"][i],
                els_port=replicated_stack.ports["els"][i],
                cms_port=replicated_stack.ports["cms"][i],
            ),
            token,
        )
        for i in range(2)
    ]
    yield clients
    for client in clients:
        await client.close()


async def test_twenty_concurrent_regular_batches_over_two_replicas_each(replicas: list[Clients]) -> None:
    class_id, _ = await create_class(replicas[0], auto_confirm=True)
    texts = [essay_text(first, last, i) for i, (first, last) in enumerate(ROSTER)]

    async def one_batch(n: int) -> str:
        registering, uploading = replicas[n % 2], replicas[(n + 1) % 2]  # cross the replicas
        batch = await register(registering, len(texts), class_id)
        await upload(uploading, batch.batch_id, texts)
        await wait_status(replicas[n % 2], batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION, timeout_s=180)
        return str(batch.batch_id)

    batch_ids = await asyncio.gather(*(one_batch(n) for n in range(BATCHES)))
    assert len(set(batch_ids)) == BATCHES
    for batch_id in batch_ids:
        assert await transitions(replicas[0], batch_id) == READY_PATH, "every transition exactly once"
