"""Steps of the Phase 1 flow through the public RPCs, shared by the e2e tests."""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients
from essayflow_cli.waits import wait_associations, wait_status

ROSTER = [
    ("Ingrid", "Halvorsen"),
    ("Tobias", "Lindqvist"),
    ("Maja", "Ek-Sandberg"),
    ("Omar", "Haddad"),
    ("Vera", "Åström"),
]
BODY = (
    "Det här är min text om hösten. Löven faller och dagarna blir kortare, men jag tycker ändå "
    "att hösten är den vackraste årstiden eftersom allt får nya färger. "
)


def essay_text(first: str, last: str, topic: int) -> str:
    return f"Namn: {first} {last}\nKlass: 9B\n\n{BODY}Uppsats nummer {topic}.\n"


async def create_class(c: Clients, *, auto_confirm: bool = False) -> tuple[str, list[str]]:
    created = await c.cms.CreateClass(
        cms_pb2.CreateClassRequest(
            name=f"9B {uuid.uuid4().hex[:6]}",
            course_code=common_pb2.COURSE_CODE_SV1,
            auto_confirm_high_confidence=auto_confirm,
        ),
        metadata=c.metadata,
    )
    class_id = created.class_.class_id if hasattr(created, "class_") else getattr(created, "class").class_id
    added = await c.cms.AddStudents(
        cms_pb2.AddStudentsRequest(
            class_id=class_id,
            students=[
                cms_pb2.NewStudent(first_name=first, last_name=last, email=f"{first}.{last}@skola.example".lower())
                for first, last in ROSTER
            ],
        ),
        metadata=c.metadata,
    )
    return class_id, [s.student_id for s in added.students]


async def register(c: Clients, count: int, class_id: str = "") -> bos_pb2.Batch:
    return await c.register_batch(count, common_pb2.COURSE_CODE_SV1, class_id=class_id)


async def upload(c: Clients, batch_id: str, texts: list[str]) -> list[els_pb2.ProvisionEssayResponse]:
    responses = []
    for index, text in enumerate(texts):
        request = els_pb2.ProvisionEssayRequest(
            batch_id=batch_id, file_name=f"essay-{index}.txt", content=text.encode()
        )
        responses.append(await retry_unavailable(lambda r=request: c.els.ProvisionEssay(r, metadata=c.metadata)))
    return responses


async def retry_unavailable(call, timeout_s: float = 30):
    """Calls survive a service restart: UNAVAILABLE is retried until the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def transitions(c: Clients, batch_id: str) -> list[tuple[int, int]]:
    listed = await c.bos.ListBatchTransitions(
        bos_pb2.ListBatchTransitionsRequest(batch_id=batch_id), metadata=c.metadata
    )
    return [(t.from_status, t.to_status) for t in listed.transitions]


async def complete_guest_flow(c: Clients, essays: int = 2) -> bos_pb2.Batch:
    """A GUEST batch from registration to READY."""
    batch = await register(c, essays)
    await upload(c, batch.batch_id, [essay_text("Anon", "Writer", i) for i in range(essays)])
    return await wait_status(c, batch.batch_id, common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)


async def complete_regular_flow(c: Clients) -> bos_pb2.Batch:
    """A REGULAR batch of the whole roster: matched, every suggestion confirmed, READY."""
    class_id, _ = await create_class(c)
    batch = await register(c, len(ROSTER), class_id)
    await upload(c, batch.batch_id, [essay_text(first, last, i) for i, (first, last) in enumerate(ROSTER)])
    associations = await wait_associations(c, batch.batch_id, len(ROSTER))
    decisions = [
        cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision()) for a in associations
    ]
    await c.cms.ValidateAssociations(
        cms_pb2.ValidateAssociationsRequest(batch_id=batch.batch_id, decisions=decisions), metadata=c.metadata
    )
    return await wait_status(c, batch.batch_id, common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
