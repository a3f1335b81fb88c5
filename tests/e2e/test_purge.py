"""PurgeBatch end to end: a REGULAR batch through to READY, purged by an admin, then
every store is looked into directly — BOS and CMS tables by SQL, ELS's KV bucket and
object store through NATS — for the batch's texts, file names and student names. The
status history stays. A teacher may not purge."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys

import grpc
import nats
import pytest
from nats.js.errors import NotFoundError

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2 as c
from essayflow_cli.waits import wait_associations, wait_status
from essayflow_runtime import db
from essayflow_runtime.auth import Role, mint_token
from services.els.store import tracker_key
from tests.e2e.conftest import E2EStack
from tests.e2e.flows import ROSTER, create_class, essay_text, register, upload
from tests.e2e.test_phase1_flows import REGULAR_PATH
from tests.support import eventually

pytestmark = pytest.mark.e2e

NAMES = [part for first, last in ROSTER for part in (first, last)]


def mentions(text: str, needles: list[str]) -> list[str]:
    return [n for n in needles if n in text]


async def bos_leftovers(database_url: str, batch_id: str, file_names: list[str]) -> list[str]:
    """Texts, file names or students of the batch still in BOS's tables (not the outbox:
    sent rows there age out by retention)."""
    conn = await db.connect(database_url, "bos")
    try:
        found = []
        essays = await conn.fetch("SELECT * FROM batch_essays WHERE batch_id = $1", batch_id)
        found += [f"batch_essays row {dict(r)}" for r in essays]
        answers = await conn.fetch("SELECT response FROM idempotency_keys WHERE batch_id = $1", batch_id)
        found += [f"kept answer mentioning {mentions(r['response'].decode('latin-1'), file_names)}" for r in answers]
        row = await conn.fetchrow("SELECT row_to_json(b)::text AS doc FROM batches b WHERE batch_id = $1", batch_id)
        found += [f"batches row mentions {m}" for m in mentions(row["doc"], file_names + NAMES)]
        return found
    finally:
        await conn.close()


async def cms_leftovers(database_url: str, batch_id: str) -> list[str]:
    conn = await db.connect(database_url, "cms")
    try:
        rows = await conn.fetch(
            "SELECT essay_id, student_id, suggested_student_id, match_reasons::text AS reasons "
            "FROM essay_student_associations WHERE batch_id = $1",
            batch_id,
        )
        return [f"association {dict(r)} (names: {mentions(r['reasons'], NAMES)})" for r in rows]
    finally:
        await conn.close()


async def els_leftovers(stack: E2EStack, batch_id: str, text_ids: list[str]) -> list[str]:
    """What ELS still holds of the batch: tracker or pending values in the KV bucket's
    stream, and the chunks of each text in the object store's stream."""
    settings = stack.settings
    client = await nats.connect(stack.nats.url)
    try:
        js = client.jetstream()
        found = []
        for key in (tracker_key(batch_id), f"pending.{batch_id}"):
            try:
                message = await js.get_last_msg(f"KV_{settings.slot_bucket}", f"$KV.{settings.slot_bucket}.{key}")
            except NotFoundError:
                continue
            if message.data:
                found.append(f"KV {key}: {len(message.data)} bytes")
        stream = f"OBJ_{settings.content_bucket}"
        for text_id in text_ids:
            name = base64.urlsafe_b64encode(text_id.encode()).decode()
            try:
                meta = await js.get_last_msg(stream, f"$O.{settings.content_bucket}.M.{name}")
            except NotFoundError:
                continue
            info = json.loads(meta.data or b"{}")
            try:
                chunk = await js.get_last_msg(stream, f"$O.{settings.content_bucket}.C.{info.get('nuid', '')}")
            except NotFoundError:
                continue
            text = (chunk.data or b"").decode()
            found.append(f"text {text_id[:12]}: {len(text)} characters, names {mentions(text, NAMES)}")
        return found
    finally:
        await client.close()


async def test_purge_removes_texts_and_names_from_every_store_and_keeps_the_history(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-purge")
    admin = stack_ready.clients("admin-purge", Role.ADMIN)
    database_url = stack_ready.env["ESSAYFLOW_DATABASE_URL"]
    try:
        class_id, _ = await create_class(teacher)
        batch = await register(teacher, len(ROSTER), class_id)
        await upload(teacher, batch.batch_id, [essay_text(first, last, i) for i, (first, last) in enumerate(ROSTER)])
        associations = await wait_associations(teacher, batch.batch_id, len(ROSTER))
        decisions = [
            cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision()) for a in associations
        ]
        await teacher.cms.ValidateAssociations(
            cms_pb2.ValidateAssociationsRequest(batch_id=batch.batch_id, decisions=decisions),
            metadata=teacher.metadata,
        )
        ready = await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)
        text_ids = [e.text_storage_id for e in ready.essays]
        file_names = [e.file_name for e in ready.essays]
        assert len(text_ids) == len(ROSTER)
        # Before the purge every store holds the batch (so the probes below can see it).
        assert await bos_leftovers(database_url, batch.batch_id, file_names)
        assert await cms_leftovers(database_url, batch.batch_id)
        assert len(await els_leftovers(stack_ready, batch.batch_id, text_ids)) == len(ROSTER) + 1

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await teacher.bos.PurgeBatch(bos_pb2.PurgeBatchRequest(batch_id=batch.batch_id), metadata=teacher.metadata)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert await cms_leftovers(database_url, batch.batch_id), "a refused purge deleted something"

        purged = await admin.bos.PurgeBatch(
            bos_pb2.PurgeBatchRequest(batch_id=batch.batch_id, reason="e2e"), metadata=admin.metadata
        )
        assert purged.batch.status == c.BATCH_STATUS_CANCELLED and not purged.already_purged

        assert await bos_leftovers(database_url, batch.batch_id, file_names) == []

        async def cms_clean() -> bool:
            return await cms_leftovers(database_url, batch.batch_id) == []

        async def els_clean() -> bool:
            return await els_leftovers(stack_ready, batch.batch_id, text_ids) == []

        await eventually(cms_clean, timeout_s=60, interval_s=0.2, message="CMS kept associations of the batch")
        await eventually(els_clean, timeout_s=60, interval_s=0.2, message="ELS kept the tracker or texts")

        listed = await teacher.bos.ListBatchTransitions(
            bos_pb2.ListBatchTransitionsRequest(batch_id=batch.batch_id), metadata=teacher.metadata
        )
        moves = [(t.from_status, t.to_status) for t in listed.transitions]
        assert moves == [*REGULAR_PATH[:3], (c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION, c.BATCH_STATUS_CANCELLED)]
        assert listed.transitions[-1].cause == "rpc:PurgeBatch"
        shown = await teacher.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=teacher.metadata)
        assert list(shown.batch.essays) == []
    finally:
        await teacher.close()
        await admin.close()


def cli(stack: E2EStack, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.env, "ESSAYFLOW_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "essayflow_cli.main", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_the_cli_purges_only_with_yes_and_reports_json(stack_ready: E2EStack) -> None:
    teacher = stack_ready.clients("teacher-cli-purge")
    admin_token = mint_token(stack_ready.settings, "admin-cli", Role.ADMIN)
    try:
        batch = await register(teacher, 2)
        await upload(teacher, batch.batch_id, [essay_text("Anon", "Writer", i) for i in range(2)])
        await wait_status(teacher, batch.batch_id, c.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION)

        unconfirmed = await asyncio.to_thread(cli, stack_ready, "batch", "purge", batch.batch_id, token=admin_token)
        assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
        still = await teacher.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=teacher.metadata)
        assert len(still.batch.essays) == 2

        as_teacher = await asyncio.to_thread(
            cli, stack_ready, "batch", "purge", batch.batch_id, "--yes", token=teacher.token
        )
        assert as_teacher.returncode == 1 and "PERMISSION_DENIED" in as_teacher.stderr
        assert "Traceback" not in as_teacher.stdout + as_teacher.stderr

        done = await asyncio.to_thread(
            cli, stack_ready, "batch", "purge", batch.batch_id, "--yes", "--output", "json", token=admin_token
        )
        assert done.returncode == 0, done.stdout + done.stderr
        answer = json.loads(done.stdout)
        assert answer["batch"]["status"] == "BATCH_STATUS_CANCELLED" and len(answer["event"]["text_storage_ids"]) == 2
        gone = await teacher.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch.batch_id), metadata=teacher.metadata)
        assert list(gone.batch.essays) == []
    finally:
        await teacher.close()
