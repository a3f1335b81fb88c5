"""``make demo``: a REGULAR and a GUEST batch from registration to PROCESSING_PIPELINES.

Self-contained: uses the stack ``make run`` serves, or starts one (and stops it after).
The REGULAR batch is a labelled class of 25 students with their 25 essays, kept beside
this module (``demo_class.json``); the teacher
overrides one suggestion and confirms the rest through CMS."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli.client import Clients
from essayflow_cli.main import associations_table, console, history_table
from essayflow_cli.output import EXIT_REFUSED
from essayflow_cli.stack import start_stack
from essayflow_cli.waits import wait_associations, wait_status
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.grpc_client import is_serving, wait_until_serving
from essayflow_runtime.stackfile import StackLocked

# One labelled class of 25 students and their 25 essays, kept with the CLI so the demo needs
# nothing outside the repository.
DATA = Path(__file__).resolve().parent / "demo_class.json"
READY = common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
PROCESSING = common_pb2.BATCH_STATUS_PROCESSING_PIPELINES


def demo_class() -> dict[str, Any]:
    """The labelled demo class: its roster and its essays."""
    loaded: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
    return loaded


def service_addresses(settings: Settings) -> list[str]:
    return [
        f"{settings.host}:{port}"
        for port in (settings.bos_port, settings.els_port, settings.cms_port, settings.nlp_port)
    ]


async def upload_all(c: Clients, batch_id: str, essays: list[tuple[str, str]]) -> None:
    for file_name, text in essays:
        request = els_pb2.ProvisionEssayRequest(batch_id=batch_id, file_name=file_name, content=text.encode())
        await c.els.ProvisionEssay(request, metadata=c.metadata)


async def regular_batch(c: Clients) -> str:
    labelled = demo_class()
    created = await c.cms.CreateClass(
        cms_pb2.CreateClassRequest(name="Demo 9B", course_code=common_pb2.COURSE_CODE_SV2), metadata=c.metadata
    )
    class_id = getattr(created, "class").class_id
    await c.cms.AddStudents(
        cms_pb2.AddStudentsRequest(
            class_id=class_id,
            students=[
                cms_pb2.NewStudent(first_name=s["first_name"], last_name=s["last_name"], email=s["email"])
                for s in labelled["roster"]
            ],
        ),
        metadata=c.metadata,
    )
    essays = [(e["file_name"], e["text"]) for e in labelled["essays"]]
    console.print(f"REGULAR: class of {len(labelled['roster'])} students, {len(essays)} essays")
    batch = await c.register_batch(len(essays), common_pb2.COURSE_CODE_SV2, class_id=class_id, title="Demo REGULAR")
    await upload_all(c, batch.batch_id, essays)
    await wait_status(c, batch.batch_id, common_pb2.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
    associations = await wait_associations(c, batch.batch_id, len(essays))

    # The teacher overrides one suggestion and confirms (or rejects, where none) the rest.
    suggested = [a for a in associations if a.suggested_student.student_id]
    roster = await c.cms.ListClassStudents(cms_pb2.ListClassStudentsRequest(class_id=class_id), metadata=c.metadata)
    first = suggested[0]
    other = next(s.student_id for s in roster.students if s.student_id != first.suggested_student.student_id)
    decisions = [
        cms_pb2.AssociationDecision(essay_id=first.essay_id, override=cms_pb2.OverrideDecision(student_id=other))
    ]
    for a in associations:
        if a.essay_id == first.essay_id:
            continue
        if a.suggested_student.student_id:
            decisions.append(cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision()))
        else:
            decisions.append(cms_pb2.AssociationDecision(essay_id=a.essay_id, reject=cms_pb2.RejectDecision()))
    await c.cms.ValidateAssociations(
        cms_pb2.ValidateAssociationsRequest(batch_id=batch.batch_id, decisions=decisions), metadata=c.metadata
    )
    await wait_status(c, batch.batch_id, READY)
    await c.bos.RequestPipeline(
        bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, idempotency_key=str(uuid.uuid4())), metadata=c.metadata
    )
    await wait_status(c, batch.batch_id, PROCESSING)
    listed = await c.cms.ListBatchAssociations(
        cms_pb2.ListBatchAssociationsRequest(batch_id=batch.batch_id), metadata=c.metadata
    )
    console.print(associations_table(listed.associations))
    return str(batch.batch_id)


async def guest_batch(c: Clients) -> str:
    labelled = demo_class()
    essays = [(e["file_name"], e["text"]) for e in labelled["essays"][:4]]
    console.print(f"GUEST: {len(essays)} essays, no class")
    batch = await c.register_batch(len(essays), common_pb2.COURSE_CODE_ENG6, title="Demo GUEST")
    await upload_all(c, batch.batch_id, essays)
    await wait_status(c, batch.batch_id, READY)
    await c.bos.RequestPipeline(
        bos_pb2.RequestPipelineRequest(batch_id=batch.batch_id, idempotency_key=str(uuid.uuid4())), metadata=c.metadata
    )
    await wait_status(c, batch.batch_id, PROCESSING)
    return str(batch.batch_id)


async def run_demo(settings: Settings) -> None:
    clients = Clients(settings, mint_token(settings, f"demo-teacher-{uuid.uuid4().hex[:6]}", Role.TEACHER))
    try:
        for title, flow in (("REGULAR", regular_batch), ("GUEST", guest_batch)):
            batch_id = await flow(clients)
            listed = await clients.bos.ListBatchTransitions(
                bos_pb2.ListBatchTransitionsRequest(batch_id=batch_id), metadata=clients.metadata
            )
            table = history_table(listed.transitions)
            table.title = f"{title} batch {batch_id}"
            console.print(table)
    finally:
        await clients.close()


def main() -> int:
    settings = load_settings()
    started = None
    if not asyncio.run(is_serving(settings, f"{settings.host}:{settings.bos_port}")):
        data_dir = Path(settings.data_dir)
        log_path = data_dir / "demo-services.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            # The data directory's lock first: nothing is touched if another stack holds it.
            started = start_stack(data_dir, log=log_path.open("a", encoding="utf-8"))
        except StackLocked as locked:
            console.print(f"[red]refused[/red]: {locked}; wait until it serves (its banner), then run the demo again")
            return EXIT_REFUSED
        console.print(f"no stack running: started one (stopped when the demo ends; logs in {log_path})")
        settings = started.settings
    try:
        asyncio.run(wait_until_serving(settings, service_addresses(settings), timeout_s=90))
        asyncio.run(run_demo(settings))
    finally:
        if started is not None:
            started.stop()
    console.print("[green]demo finished: both batches reached PROCESSING_PIPELINES[/green]")
    return 0
