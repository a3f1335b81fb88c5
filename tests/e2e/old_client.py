"""Last release's client and subscriber: run with only stubs generated from a descriptor set
(``PYTHONPATH`` = that package) and nothing of this repository on the path.

    python old_client.py flows            GUEST and REGULAR to READY; prints {"guest": id, "regular": id}
    python old_client.py decode ID...     decodes every event of those batches on the stream; prints a report

Environment: ESSAYFLOW_TOKEN (a teacher's), BOS/ELS/CMS (host:port), NATS_URL, STREAM.
Exit status 0 when the flows reached READY; a failed call prints its status and exits 1."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import grpc
import nats
from google.protobuf import message_factory, symbol_database
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from essayflow.bos.v1 import bos_pb2, bos_pb2_grpc
from essayflow.cms.v1 import cms_pb2, cms_pb2_grpc
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2, els_pb2_grpc
from essayflow.events.v1 import (  # noqa: F401 (each registers its payload types)
    bos_events_pb2,
    cms_events_pb2,
    els_events_pb2,
    envelope_pb2,
    file_events_pb2,
    nlp_events_pb2,
)

READY = common_pb2.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
ROSTER = [("Ingrid", "Halvorsen"), ("Tobias", "Lindqvist"), ("Maja", "Ek-Sandberg")]
BODY = (
    "Det här är min text om hösten. Löven faller och dagarna blir kortare, men jag tycker ändå "
    "att hösten är den vackraste årstiden eftersom allt får nya färger. "
)


def essay(first: str, last: str, n: int) -> bytes:
    return f"Namn: {first} {last}\nKlass: 9B\n\n{BODY}Uppsats nummer {n}.\n".encode()


async def wait_ready(bos: Any, metadata: Any, batch_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = await bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch_id), metadata=metadata)
        if got.batch.status == READY:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"batch {batch_id} never became READY")


async def flows() -> dict[str, str]:
    metadata = (("authorization", f"Bearer {os.environ['ESSAYFLOW_TOKEN']}"),)
    channels = {name: grpc.aio.insecure_channel(os.environ[name]) for name in ("BOS", "ELS", "CMS")}
    bos = bos_pb2_grpc.BatchOrchestratorServiceStub(channels["BOS"])
    els = els_pb2_grpc.EssayLifecycleServiceStub(channels["ELS"])
    cms = cms_pb2_grpc.ClassManagementServiceStub(channels["CMS"])
    try:
        guest = await bos.RegisterBatch(
            bos_pb2.RegisterBatchRequest(expected_essay_count=2, course_code=common_pb2.COURSE_CODE_SV1),
            metadata=metadata,
        )
        for n in range(2):
            await els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(
                    batch_id=guest.batch.batch_id, file_name=f"g{n}.txt", content=essay("Anon", "Writer", n)
                ),
                metadata=metadata,
            )
        await wait_ready(bos, metadata, guest.batch.batch_id)

        created = await cms.CreateClass(
            cms_pb2.CreateClassRequest(name="9B old client", course_code=common_pb2.COURSE_CODE_SV1), metadata=metadata
        )
        class_id = getattr(created, "class").class_id
        await cms.AddStudents(
            cms_pb2.AddStudentsRequest(
                class_id=class_id,
                students=[
                    cms_pb2.NewStudent(first_name=f, last_name=last, email=f"{f}.{last}@skola.example".lower())
                    for f, last in ROSTER
                ],
            ),
            metadata=metadata,
        )
        regular = await bos.RegisterBatch(
            bos_pb2.RegisterBatchRequest(
                expected_essay_count=len(ROSTER), course_code=common_pb2.COURSE_CODE_SV1, class_id=class_id
            ),
            metadata=metadata,
        )
        batch_id = regular.batch.batch_id
        for n, (first, last) in enumerate(ROSTER):
            await els.ProvisionEssay(
                els_pb2.ProvisionEssayRequest(batch_id=batch_id, file_name=f"r{n}.txt", content=essay(first, last, n)),
                metadata=metadata,
            )
        deadline = time.monotonic() + 60
        associations: list[Any] = []
        while len(associations) < len(ROSTER):
            if time.monotonic() > deadline:
                raise TimeoutError("the associations never appeared")
            try:
                listed = await cms.ListBatchAssociations(
                    cms_pb2.ListBatchAssociationsRequest(batch_id=batch_id), metadata=metadata
                )
                associations = list(listed.associations)
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(0.1)
        await cms.ValidateAssociations(
            cms_pb2.ValidateAssociationsRequest(
                batch_id=batch_id,
                decisions=[
                    cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision())
                    for a in associations
                ],
            ),
            metadata=metadata,
        )
        await wait_ready(bos, metadata, batch_id)
        return {"guest": guest.batch.batch_id, "regular": batch_id}
    finally:
        for channel in channels.values():
            await channel.close()


def _unknown_enums(message: Message) -> list[str]:
    """Enum fields holding a number this release does not define (kept, not refused)."""
    found = []
    for field, value in message.ListFields():
        if field.enum_type is not None:
            values = value if field.is_repeated else [value]
            found += [f"{field.name}={v}" for v in values if v not in field.enum_type.values_by_number]
        elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
            for item in value if field.is_repeated else [value]:
                found += [f"{field.name}.{u}" for u in _unknown_enums(item)]
    return found


async def decode(batch_ids: set[str]) -> list[dict[str, Any]]:
    client = await nats.connect(os.environ["NATS_URL"])
    js = client.jetstream()
    database = symbol_database.Default()
    report = []
    try:
        info = await js.stream_info(os.environ["STREAM"])
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                raw = await js.get_msg(os.environ["STREAM"], seq)
            except nats.js.errors.NotFoundError:
                continue
            envelope = envelope_pb2.EventEnvelope.FromString(raw.data)
            payload_type = envelope.payload.type_url.rsplit("/", 1)[-1]
            payload = message_factory.GetMessageClass(database.pool.FindMessageTypeByName(payload_type))()
            envelope.payload.Unpack(payload)
            if getattr(payload, "batch_id", None) not in batch_ids:
                continue
            report.append(
                {
                    "seq": seq,
                    "subject": raw.subject,
                    "type": payload_type,
                    "envelope_roundtrip": envelope.SerializeToString() == raw.data,
                    "payload_roundtrip": payload.SerializeToString() == envelope.payload.value,
                    "unknown_fields": sorted(f.field_number for f in UnknownFieldSet(payload)),
                    "unknown_enums": _unknown_enums(payload),
                }
            )
    finally:
        await client.close()
    return report


def main() -> None:
    try:
        if sys.argv[1] == "flows":
            print(json.dumps(asyncio.run(flows())))
        else:
            print(json.dumps(asyncio.run(decode(set(sys.argv[2:])))))
    except grpc.aio.AioRpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
