"""Another team's code: the TypeScript client (clients/typescript, generated from proto/ alone)
runs the GUEST and a REGULAR flow against the real processes over gRPC, and its NATS subscriber
decodes every event those flows produced the same way Python does."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import grpc
import nats
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import envelope_pb2
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role, mint_token
from tests.e2e.conftest import E2EStack
from tests.e2e.test_other_clients import FLOW_EVENTS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="Node.js (node and npm) is not installed: the TypeScript client and subscriber are not run",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clients" / "typescript"


@pytest.fixture(scope="module")
def built_client() -> Path:
    """`make ts-client`: npm ci from the committed lock, TypeScript generated from proto/, compiled."""
    started = time.monotonic()
    made = subprocess.run(["make", "-s", "ts-client"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    print(f"ts-client built in {time.monotonic() - started:.1f}s")
    return PACKAGE / "dist" / "src"


def node(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("node") or "node", str(script), *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=300,
    )


def server_fields(error: grpc.aio.AioRpcError) -> set[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    fields = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields |= {v.field for v in bad.field_violations}
    return fields


async def python_view(stack: E2EStack, seqs: list[int]) -> dict[int, dict[str, object]]:
    """The same stream messages as Python decodes them, in proto3 JSON."""
    client = await nats.connect(stack.settings.nats_url)
    try:
        js = client.jetstream()
        found = {}
        for seq in seqs:
            raw = await js.get_msg(stack.settings.stream_name, seq)
            envelope = envelope_pb2.EventEnvelope.FromString(raw.data)
            contracts.event_types()  # every payload type is in the pool
            found[seq] = json_format.MessageToDict(envelope)
        return found
    finally:
        await client.close()


async def test_typescript_client_runs_both_flows_and_its_subscriber_decodes_every_event(
    stack_ready: E2EStack, built_client: Path
) -> None:
    settings = stack_ready.settings
    env = {
        "ESSAYFLOW_TOKEN": mint_token(settings, "teacher-typescript", Role.TEACHER),
        "BOS": f"127.0.0.1:{settings.bos_port}",
        "ELS": f"127.0.0.1:{settings.els_port}",
        "CMS": f"127.0.0.1:{settings.cms_port}",
        "NATS_URL": settings.nats_url,
        "STREAM": settings.stream_name,
    }
    started = time.monotonic()
    flows = await asyncio.to_thread(node, built_client / "flows.js", env)
    assert flows.returncode == 0, flows.stdout + flows.stderr
    result = json.loads(flows.stdout)
    flows_s = time.monotonic() - started
    # The client's own check of the proto rules names the fields the server does.
    assert {"expected_essay_count", "class_id"} <= set(result["refusedLocally"])
    teacher = stack_ready.clients("teacher-typescript")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await teacher.bos.RegisterBatch(
                bos_pb2.RegisterBatchRequest(
                    expected_essay_count=0, course_code=common_pb2.COURSE_CODE_SV1, class_id="not-a-uuid"
                ),
                metadata=teacher.metadata,
            )
    finally:
        await teacher.close()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(result["refusedLocally"]) == server_fields(refused.value)

    batch_ids = [result["guest"], result["regular"]]
    decoded: list[dict[str, object]] = []
    started = time.monotonic()
    for _ in range(50):  # the last events leave the outboxes a moment after READY is visible
        run = await asyncio.to_thread(node, built_client / "subscriber.js", env, *batch_ids)
        assert run.returncode == 0, run.stdout + run.stderr
        decoded = [json.loads(line) for line in run.stdout.splitlines()]
        types = {str(d["envelope"]["payload"]["@type"]).rsplit("/", 1)[-1] for d in decoded}  # type: ignore[index]
        if types >= FLOW_EVENTS:
            break
        await asyncio.sleep(0.3)
    subscribe_s = time.monotonic() - started
    assert types >= FLOW_EVENTS, types

    python = await python_view(stack_ready, [int(d["seq"]) for d in decoded])  # type: ignore[call-overload]
    for line in decoded:
        assert line["envelope"] == python[int(line["seq"])], line  # type: ignore[call-overload]
    print(
        f"typescript flows {flows_s:.1f}s ({result['ms']} ms in node), subscriber {subscribe_s:.1f}s, "
        f"{len(decoded)} events compared"
    )
