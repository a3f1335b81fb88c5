"""What the ELS tests do to the outside of the service: publish the events BOS, CMS and
the file service would, call the RPCs with a token, and read what ended up on the stream."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2, els_pb2_grpc
from essayflow.events.v1 import bos_events_pb2, envelope_pb2, file_events_pb2
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role
from essayflow_runtime.config import Settings
from essayflow_runtime.consumer import publish
from tests.support import token_for


def essay_text(index: int, batch_id: str = "") -> str:
    """A distinct, valid essay text (well over 50 characters)."""
    return f"Essay number {index} of batch {batch_id}. " + "It argues a point at some length. " * 4


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


async def register_batch(
    js: JetStreamContext,
    batch_id: str,
    essay_ids: list[str],
    *,
    owner_id: str = "teacher-1",
    class_id: str = "",
    correlation_id: str = "",
) -> str:
    """Publish BatchEssaysRegistered as BOS would; returns its event id."""
    return await publish(
        js,
        bos_events_pb2.BatchEssaysRegistered(
            batch_id=batch_id,
            essay_ids=essay_ids,
            expected_essay_count=len(essay_ids),
            course_code=common_pb2.COURSE_CODE_ENG5,
            class_id=class_id,
            batch_type=common_pb2.BATCH_TYPE_REGULAR if class_id else common_pb2.BATCH_TYPE_GUEST,
            owner_id=owner_id,
        ),
        source="bos",
        correlation_id=correlation_id or str(uuid.uuid4()),
    )


async def content_provisioned(js: JetStreamContext, batch_id: str, file_name: str, text_storage_id: str) -> str:
    """Publish EssayContentProvisioned as an external file service would."""
    return await publish(
        js,
        file_events_pb2.EssayContentProvisioned(
            batch_id=batch_id,
            file_name=file_name,
            text_storage_id=text_storage_id,
            text_length=100,
            file_upload_id=f"upload-{file_name}",
        ),
        source="file",
        correlation_id=batch_id,
    )


@dataclass
class Caller:
    """An ELS client holding one role's token."""

    stub: els_pb2_grpc.EssayLifecycleServiceStub
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    async def provision(
        self, batch_id: str, file_name: str, content: bytes, file_upload_id: str = ""
    ) -> els_pb2.ProvisionEssayResponse:
        request = els_pb2.ProvisionEssayRequest(
            batch_id=batch_id, file_name=file_name, content=content, file_upload_id=file_upload_id
        )
        response: els_pb2.ProvisionEssayResponse = await self.stub.ProvisionEssay(
            request, metadata=self.metadata, timeout=30
        )
        return response

    async def slots(self, batch_id: str) -> els_pb2.GetBatchSlotsResponse:
        response: els_pb2.GetBatchSlotsResponse = await self.stub.GetBatchSlots(
            els_pb2.GetBatchSlotsRequest(batch_id=batch_id), metadata=self.metadata, timeout=10
        )
        return response

    async def slots_or_none(self, batch_id: str) -> els_pb2.GetBatchSlotsResponse | None:
        try:
            return await self.slots(batch_id)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise


def caller(channel: grpc.aio.Channel, settings: Settings, subject: str, role: Role) -> Caller:
    return Caller(els_pb2_grpc.EssayLifecycleServiceStub(channel), token_for(settings, subject, role, "els"))


async def events_on_stream(
    js: JetStreamContext, settings: Settings, payload_class: type[Message], batch_id: str
) -> list[tuple[envelope_pb2.EventEnvelope, Any]]:
    """Every message of one event type about one batch, as stored on the stream
    (after JetStream's duplicate window dropped repeated publishes)."""
    subscription = await js.pull_subscribe(
        contracts.subject_of(payload_class),
        stream=settings.stream_name,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30.0),
    )
    found = []
    try:
        # Read until the consumer has nothing left to deliver, so a slow server
        # cannot make a count look smaller than what is on the stream.
        while (pending := (await subscription.consumer_info()).num_pending or 0) > 0:
            try:
                batch = await subscription.fetch(min(pending, 256), timeout=2)
            except TimeoutError:  # nats' own and asyncio's timeouts are both TimeoutError
                continue
            for msg in batch:
                envelope, payload = contracts.unwrap(msg.data)
                if payload.batch_id == batch_id:
                    found.append((envelope, payload))
    finally:
        await subscription.unsubscribe()
    return found


async def payloads(js: JetStreamContext, settings: Settings, payload_class: type[Message], batch_id: str) -> list[Any]:
    return [payload for _, payload in await events_on_stream(js, settings, payload_class, batch_id)]
