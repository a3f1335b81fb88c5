"""Fuzzing the running stack with inputs built from the proto descriptors.

Every RPC of BOS, ELS, CMS and NLP gets EXAMPLES_PER_RPC requests, and every consumed
event type EXAMPLES_PER_EVENT published events, drawn by hypothesis (derandomized: the
same inputs on every run) from strategies generated from the message descriptors: NUL
and other control characters, strings and repeated fields far past their limits,
undefined enum numbers, ids of real batches and classes. The stack must never answer
UNKNOWN, never lose a process, stay SERVING throughout, end every event as a dead letter
or a no-op (no message left retrying), and afterwards run a GUEST and a REGULAR batch to
READY as usual. The test prints how many inputs were tried.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from typing import Any

import grpc
import nats
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.errors import MaxPayloadError

from essayflow.events.v1 import envelope_pb2
from essayflow_cli.stack import SERVICES
from essayflow_runtime import contracts
from essayflow_runtime.auth import Role, mint_token
from essayflow_runtime.consumer import HEADER_REASON
from tests.e2e.conftest import E2EStack
from tests.e2e.descriptors import consumed_events, draw, message_strategy, rpc_methods
from tests.e2e.flows import complete_guest_flow, complete_regular_flow, create_class, register
from tests.support import eventually

pytestmark = pytest.mark.e2e

EXAMPLES_PER_RPC = 40
EXAMPLES_PER_EVENT = 30
CALL_TIMEOUT_S = 15.0


async def assert_healthy(stack: E2EStack) -> None:
    """Every process alive and every service SERVING, right now."""
    for name in SERVICES:
        process = stack.stack.processes[stack.key(name)]
        assert process.poll() is None, (
            f"{name} died (exit {process.returncode}); logs:\n{stack.logs.getvalue()[-4000:]}"
        )
        port = getattr(stack.settings, f"{name}_port")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, name


async def call_once(
    channel: grpc.aio.Channel, method: MethodDescriptor, request: Message, metadata: tuple[tuple[str, str], ...]
) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    response_class = GetMessageClass(method.output_type)
    try:
        if method.server_streaming:
            stream = channel.unary_stream(
                path,
                request_serializer=type(request).SerializeToString,
                response_deserializer=response_class.FromString,
            )(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
            try:
                # The first message is the current state; a stream that opened is enough.
                await asyncio.wait_for(stream.read(), timeout=3)
            except TimeoutError:
                pass
            finally:
                stream.cancel()
            return grpc.StatusCode.OK
        unary = channel.unary_unary(
            path, request_serializer=type(request).SerializeToString, response_deserializer=response_class.FromString
        )
        await unary(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as error:
        return error.code()


async def test_fuzzed_requests_and_events_never_break_the_stack(stack_ready: E2EStack) -> None:
    settings = stack_ready.settings
    teacher = stack_ready.clients("teacher-fuzz")
    try:
        class_id, student_ids = await create_class(teacher)
        batch = await register(teacher, 2, class_id)
        known = [class_id, batch.batch_id, *batch.essay_ids, *student_ids]
    finally:
        await teacher.close()
    callers = [
        (("authorization", f"Bearer {mint_token(settings, 'teacher-fuzz', Role.TEACHER)}"),),
        (("authorization", f"Bearer {mint_token(settings, 'root-fuzz', Role.ADMIN)}"),),
    ]
    codes: collections.Counter[tuple[str, str]] = collections.Counter()
    unknown: list[tuple[str, str]] = []
    requests_tried = 0
    channels = {name: grpc.aio.insecure_channel(f"127.0.0.1:{getattr(settings, f'{name}_port')}") for name in SERVICES}
    try:
        for service, method in rpc_methods():
            examples = draw(message_strategy(method.input_type, known), EXAMPLES_PER_RPC)
            for index, request in enumerate(examples):
                code = await call_once(channels[service], method, request, callers[index % 2])
                codes[(method.name, code.name)] += 1
                requests_tried += 1
                if code == grpc.StatusCode.UNKNOWN:
                    unknown.append((method.name, str(request)[:300]))
            await assert_healthy(stack_ready)
    finally:
        for channel in channels.values():
            await channel.close()

    events_tried, refused_by_bus, letters = await publish_fuzzed_events(stack_ready, known)
    await assert_healthy(stack_ready)

    print(
        f"\nfuzz: {requests_tried} requests over {len(rpc_methods())} RPCs, "
        f"{events_tried} events over {len(consumed_events())} consumed types "
        f"({refused_by_bus} refused by the bus as too large); "
        f"codes {dict(collections.Counter(code for (_, code), n in codes.items() for _ in range(n)))}; "
        f"dead letters by reason {dict(letters)}"
    )
    assert not unknown, f"UNKNOWN answers: {unknown[:10]}"
    # Every fuzzed event was settled at once: refused as poison, or handled; none retried to its limit.
    assert "MAX_DELIVERIES_EXCEEDED" not in letters, letters
    assert requests_tried >= EXAMPLES_PER_RPC * (len(rpc_methods()) - 1)

    # Ordinary work goes on as if nothing happened.
    teacher = stack_ready.clients("teacher-after-fuzz")
    try:
        guest = await complete_guest_flow(teacher)
        regular = await complete_regular_flow(teacher)
        assert len(guest.essays) == 2 and all(e.student_id for e in regular.essays)
    finally:
        await teacher.close()
    await assert_healthy(stack_ready)


async def publish_fuzzed_events(stack: E2EStack, known: list[str]) -> tuple[int, int, collections.Counter[str]]:
    """Publish fuzzed payloads (every fourth in a fuzzed envelope too) on each consumed subject,
    wait until every consumer has settled every message, and count the dead letters."""
    settings = stack.settings
    client = await nats.connect(settings.nats_url)
    js = client.jetstream()
    published: set[str] = set()
    tried = refused = 0
    envelopes = iter(draw(message_strategy(envelope_pb2.EventEnvelope.DESCRIPTOR, known), EXAMPLES_PER_EVENT * 10))
    try:
        for event in consumed_events():
            for index, payload in enumerate(
                draw(message_strategy(event.message_class.DESCRIPTOR, known), EXAMPLES_PER_EVENT)
            ):
                envelope = contracts.wrap(payload, source="fuzz", correlation_id=str(uuid.uuid4()))
                if index % 4 == 3:
                    hostile: Any = next(envelopes)
                    hostile.payload.CopyFrom(envelope.payload)
                    hostile.event_type = envelope.event_type
                    hostile.event_id = hostile.event_id or envelope.event_id
                    envelope = hostile
                tried += 1
                try:
                    await js.publish(
                        event.subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": str(uuid.uuid4())}
                    )
                except MaxPayloadError:
                    refused += 1
                    continue
                published.add(envelope.event_id)

        async def settled() -> bool:
            for name in SERVICES:
                info = await js.consumer_info(settings.stream_name, f"{name}-events")
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        # Every message acknowledged or dead-lettered: none left retrying.
        await eventually(settled, timeout_s=120, interval_s=0.5, message="every consumer settled every fuzzed event")
        letters: collections.Counter[str] = collections.Counter()
        info = await js.stream_info(settings.dlq_stream_name)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(settings.dlq_stream_name, seq)
            try:
                event_id = envelope_pb2.EventEnvelope.FromString(message.data or b"").event_id
            except Exception:
                continue
            if event_id in published and message.headers:
                letters[message.headers[HEADER_REASON]] += 1
        return tried, refused, letters
    finally:
        await client.close()
