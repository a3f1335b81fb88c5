"""A batch made stuck by hand — the event that would move it deleted from the stream before
its consumers got it — is found by ``essayflow batch list --stalled`` and un-stuck by
``essayflow batch reconcile``: READY exactly once, the history contiguous, and reconciling
again changes nothing. The CLI runs as a separate process, as an operator would run it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2 as c
from essayflow.events.v1 import cms_events_pb2, els_events_pb2
from essayflow_cli.waits import wait_associations, wait_slots, wait_status
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role
from tests.e2e.conftest import E2EStack
from tests.e2e.flows import ROSTER, create_class, essay_text, register, transitions, upload
from tests.e2e.test_phase1_flows import GUEST_PATH, REGULAR_PATH
from tests.support import eventually

pytestmark = pytest.mark.e2e

OPERATOR = ("--role", "admin", "--user", "ops-oncall")
CONSUMERS = ("bos-events", "els-events", "cms-events", "nlp-events")


async def run_cli(stack: E2EStack, *args: str) -> tuple[int, str, str]:
    """``essayflow ARGS`` in a process of its own: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "essayflow_cli.main",
        *args,
        env={**os.environ, **stack.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def essayflow(stack: E2EStack, *args: str) -> Any:
    """``essayflow ARGS --output json`` as the operator; its JSON answer."""
    code, out, err = await run_cli(stack, *args, "--output", "json", *OPERATOR)
    assert code == 0, f"essayflow {' '.join(args)} exited {code}: {err}"
    return json.loads(out)


async def delete_from_stream(stack: E2EStack, js: JetStreamContext, cls: type, batch_id: str) -> None:
    """Delete the event of type ``cls`` about ``batch_id`` from the stream, as an operator's
    slip (or a lost disk segment) would: waits until it is there."""
    subject = contracts.subject_of(cls)

    async def sequence() -> int | None:
        info = await js.stream_info(stack.settings.stream_name)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg(stack.settings.stream_name, seq)
            except Exception:  # a sequence already deleted
                continue
            if (
                message.subject == subject
                and getattr(contracts.unwrap(message.data or b"")[1], "batch_id", "") == batch_id
            ):
                return seq
        return None

    seq = await eventually(sequence, timeout_s=60, message=f"{cls.__name__} for {batch_id} on the stream")
    assert await js.delete_msg(stack.settings.stream_name, seq)


async def drained(js: JetStreamContext, stack: E2EStack, *durables: str) -> bool:
    """Every one of the consumers has processed everything on the stream."""
    for durable in durables:
        info = await js.consumer_info(stack.settings.stream_name, durable)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def dead_letters_about(js: JetStreamContext, stack: E2EStack, batch_id: str) -> list[str]:
    info = await js.stream_info(stack.settings.dlq_stream_name)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1) if info.state.messages else ():
        try:
            message = await js.get_msg(stack.settings.dlq_stream_name, seq)
        except Exception:
            continue
        if batch_id.encode() in (message.data or b""):
            found.append(message.subject or "")
    return found


async def stalled_row(stack: E2EStack, batch_id: str) -> dict[str, Any] | None:
    listed = await essayflow(stack, "batch", "list", "--stalled", "1s")
    return next((row for row in listed if row["batch_id"] == batch_id), None)


async def reconcile_until_ready(
    stack: E2EStack,
    js: JetStreamContext,
    teacher: Any,
    batch_id: str,
    stuck_in: int,
    path: Sequence[tuple[int, int]],
    then: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Reconcile (twice at once), ``then`` (what is left to people), READY once; once more: nothing."""
    answer = await essayflow(stack, "batch", "reconcile", batch_id, "--reason", "event deleted by hand")
    assert (
        answer["requested"] and answer["status"] == c.BatchStatus.Name(stuck_in).removeprefix("BATCH_STATUS_").lower()
    )
    # At once a second time: the same facts arrive again under other ids, harmlessly.
    admin = stack.clients("ops-oncall", Role.ADMIN)
    try:
        await admin.bos.ReconcileBatch(bos_pb2.ReconcileBatchRequest(batch_id=batch_id), metadata=admin.metadata)
    finally:
        await admin.close()
    if then is not None:
        await then()
    await wait_status(teacher, batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION, timeout_s=90)
    await eventually(lambda: drained(js, stack, *CONSUMERS), timeout_s=60)
    assert await transitions(teacher, batch_id) == list(path), "READY exactly once, every step once"

    # Reconciling a healthy batch changes nothing (and says so).
    again = await essayflow(stack, "batch", "reconcile", batch_id)
    assert not again["requested"] and again["waiting_for"].startswith("a pipeline request")
    await eventually(lambda: drained(js, stack, *CONSUMERS), timeout_s=60)
    assert await transitions(teacher, batch_id) == list(path)
    assert await dead_letters_about(js, stack, batch_id) == []
    ready = await essayflow(stack, "batch", "list", "--stalled", "1s", "--status", "awaiting_content_validation")
    assert batch_id not in {row["batch_id"] for row in ready}  # no longer among the stuck


async def test_a_guest_batch_whose_completion_was_deleted_is_found_and_reconciled(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-stuck-guest")
    client = await nats.connect(stack_ready.settings.nats_url)
    try:
        js = client.jetstream()
        batch = await register(teacher, 2)
        # BOS's registration event has reached ELS (it publishes from its outbox a moment after
        # RegisterBatch answered): killed before that, BOS would hold back the registration, not
        # only the completion, and the uploads would find no batch.
        await wait_slots(teacher, batch.batch_id)
        stack_ready.kill("bos")  # nobody takes the completion off the stream meanwhile
        await upload(teacher, batch.batch_id, [essay_text(f, s, i) for i, (f, s) in enumerate(ROSTER[:2])])
        await delete_from_stream(stack_ready, js, els_events_pb2.BatchContentProvisioningCompleted, batch.batch_id)
        stack_ready.start("bos")
        await stack_ready.wait_serving(("bos",))
        await eventually(lambda: drained(js, stack_ready, "bos-events"), timeout_s=60)
        assert (await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION)).version == 0

        row = await eventually(lambda: stalled_row(stack_ready, batch.batch_id), timeout_s=30)
        assert row["status"] == "awaiting_content_validation" and row["waited_s"] >= 1
        assert row["waiting_for"]["code"] == "CONTENT_COMPLETION"
        assert row["waiting_for"]["progress"] == "uploads (2 of 2), ELS completion complete"

        # Not for teachers: the server's explanation, exit code 1, no traceback.
        code, out, err = await run_cli(
            stack_ready, "batch", "reconcile", batch.batch_id, "--user", "teacher-stuck-guest", "--role", "teacher"
        )
        assert code == 1 and "PERMISSION_DENIED" in err and "Traceback" not in out + err

        await reconcile_until_ready(
            stack_ready, js, teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_CONTENT_VALIDATION, GUEST_PATH[:1]
        )
    finally:
        await client.close()
        await teacher.close()


def confirm_all(batch_id: str, associations: Sequence[cms_pb2.Association]) -> cms_pb2.ValidateAssociationsRequest:
    return cms_pb2.ValidateAssociationsRequest(
        batch_id=batch_id,
        decisions=[
            cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision()) for a in associations
        ],
    )


async def test_a_regular_batch_whose_match_request_was_deleted_is_matched_again(stack_ready: E2EStack) -> None:
    """The matcher path: CMS never got suggestions, so the reconcile's fresh match request
    brings them; the teacher then validates as usual."""
    teacher = stack_ready.clients("teacher-stuck-match")
    client = await nats.connect(stack_ready.settings.nats_url)
    try:
        js = client.jetstream()
        class_id, _ = await create_class(teacher)
        batch = await register(teacher, len(ROSTER), class_id)
        stack_ready.kill("nlp")
        await upload(teacher, batch.batch_id, [essay_text(f, s, i) for i, (f, s) in enumerate(ROSTER)])
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
        await delete_from_stream(stack_ready, js, els_events_pb2.BatchStudentMatchingRequested, batch.batch_id)
        stack_ready.start("nlp")
        await stack_ready.wait_serving(("nlp",))
        await eventually(lambda: drained(js, stack_ready, "nlp-events", "cms-events"), timeout_s=60)
        with pytest.raises(TimeoutError):
            await wait_associations(teacher, batch.batch_id, len(ROSTER), timeout_s=1)

        row = await eventually(lambda: stalled_row(stack_ready, batch.batch_id), timeout_s=30)
        assert row["status"] == "awaiting_student_validation" and row["waiting_for"]["code"] == "STUDENT_VALIDATION"

        async def teacher_validates() -> None:
            associations = await wait_associations(teacher, batch.batch_id, len(ROSTER), timeout_s=90)
            first, rest = associations[0], associations[1:]
            partial = await teacher.cms.ValidateAssociations(
                cms_pb2.ValidateAssociationsRequest(
                    batch_id=batch.batch_id,
                    decisions=[cms_pb2.AssociationDecision(essay_id=first.essay_id, reject=cms_pb2.RejectDecision())],
                ),
                metadata=teacher.metadata,
            )
            assert not partial.batch_confirmed
            # Healthy now, waiting for the teacher: a reconcile (and the match it asks for) changes nothing.
            await essayflow(stack_ready, "batch", "reconcile", batch.batch_id)
            await eventually(lambda: drained(js, stack_ready, *CONSUMERS), timeout_s=60)
            still = await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
            assert still.version == 1
            kept = await wait_associations(teacher, batch.batch_id, len(ROSTER))
            assert [(a.essay_id, a.status, a.suggested_student.student_id) for a in kept] == [
                (
                    a.essay_id,
                    c.STUDENT_ASSOCIATION_STATUS_REJECTED if a is first else a.status,
                    a.suggested_student.student_id,
                )
                for a in associations
            ]
            confirmed = await teacher.cms.ValidateAssociations(
                confirm_all(batch.batch_id, rest), metadata=teacher.metadata
            )
            assert confirmed.batch_confirmed

        await reconcile_until_ready(
            stack_ready,
            js,
            teacher,
            batch.batch_id,
            c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION,
            REGULAR_PATH[:3],
            then=teacher_validates,
        )
    finally:
        await client.close()
        await teacher.close()


async def test_a_regular_batch_whose_confirmation_was_deleted_is_found_and_reconciled(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-stuck-regular")
    client = await nats.connect(stack_ready.settings.nats_url)
    try:
        js = client.jetstream()
        class_id, _ = await create_class(teacher)
        batch = await register(teacher, len(ROSTER), class_id)
        await upload(teacher, batch.batch_id, [essay_text(f, s, i) for i, (f, s) in enumerate(ROSTER)])
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)
        associations = await wait_associations(teacher, batch.batch_id, len(ROSTER))
        # Neither BOS nor ELS (who turns it into BatchEssaysReady) gets the confirmation.
        stack_ready.kill("bos")
        stack_ready.kill("els")
        confirmed = await teacher.cms.ValidateAssociations(
            confirm_all(batch.batch_id, associations), metadata=teacher.metadata
        )
        assert confirmed.batch_confirmed
        await delete_from_stream(stack_ready, js, cms_events_pb2.StudentAssociationsConfirmed, batch.batch_id)
        stack_ready.start("bos")
        stack_ready.start("els")
        await stack_ready.wait_serving(("bos", "els"))
        await eventually(lambda: drained(js, stack_ready, "bos-events", "els-events"), timeout_s=60)
        assert (await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION)).version == 1

        row = await eventually(lambda: stalled_row(stack_ready, batch.batch_id), timeout_s=30)
        assert row["status"] == "awaiting_student_validation"
        assert row["waiting_for"]["code"] == "STUDENT_VALIDATION"

        await reconcile_until_ready(
            stack_ready, js, teacher, batch.batch_id, c.BATCH_STATUS_AWAITING_STUDENT_VALIDATION, REGULAR_PATH[:3]
        )
        # The matcher ran again for the reconcile; CMS kept the teacher's decisions.
        kept = await teacher.cms.ListBatchAssociations(
            cms_pb2.ListBatchAssociationsRequest(batch_id=batch.batch_id), metadata=teacher.metadata
        )
        assert all(a.status == c.STUDENT_ASSOCIATION_STATUS_CONFIRMED for a in kept.associations)
    finally:
        await client.close()
        await teacher.close()
