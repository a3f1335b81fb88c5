"""Every message the descriptors list round-trips byte for byte between the
grpcio-tools wire layer and the betterproto2 dataclasses."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import Message

import essayflow
from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2, envelope_pb2

# Every generated wire module, found on disk: a new .proto needs no list here.
PB2_MODULES: tuple[ModuleType, ...] = tuple(
    importlib.import_module(".".join(("essayflow", *path.relative_to(root).with_suffix("").parts)))
    for root in map(Path, essayflow.__path__)
    for path in sorted(root.rglob("*_pb2.py"))
)


def _messages(desc: Descriptor) -> Iterator[Descriptor]:
    yield desc
    for nested in desc.nested_types:
        yield from _messages(nested)


def _all_messages() -> list[Descriptor]:
    found: list[Descriptor] = []
    for module in PB2_MODULES:
        file: FileDescriptor = module.DESCRIPTOR
        for desc in file.message_types_by_name.values():
            found.extend(_messages(desc))
    return found


def _fill(message: Message, depth: int = 0) -> Message:
    """Set every field (one member of each oneof) to a non-default value."""
    seen_oneofs: set[str] = set()
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None:
            if field.containing_oneof.name in seen_oneofs:
                continue
            seen_oneofs.add(field.containing_oneof.name)
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth > 3:
                continue
            if field.message_type.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
                # betterproto2 holds these as datetime/timedelta: microsecond precision, which
                # is all any essayflow time carries (they come from Python datetimes).
                target = getattr(message, field.name)
                for item in (target.add(), target.add()) if repeated else (target,):
                    item.seconds, item.nanos = 1_795_000_000, 123_456_000
                continue
            if field.message_type.full_name == "google.protobuf.Any":
                target = getattr(message, field.name)
                (target.add() if repeated else target).Pack(bos_events_pb2.BatchEssaysRegistered(batch_id="b"))
                continue
            if repeated:
                for _ in range(2):
                    _fill(getattr(message, field.name).add(), depth + 1)
            else:
                _fill(getattr(message, field.name), depth + 1)
                getattr(message, field.name).SetInParent()
            continue
        values = [_scalar(field, i) for i in range(2)]
        if repeated:
            getattr(message, field.name).extend(values)
        else:
            setattr(message, field.name, values[0])
    return message


def _scalar(field: FieldDescriptor, i: int) -> object:
    if field.type == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values if v.number != 0]
        return numbers[i % len(numbers)]
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-{i}-åäö"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return bytes([0, 255, i])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 0.75 + i
    return 7 + i


def _betterproto_class(desc: Descriptor) -> type:
    package = desc.file.package  # essayflow.bos.v1
    module = importlib.import_module(f"essayflow_models.{package}")
    nested = desc.full_name[len(package) + 1 :].split(".")
    # betterproto2 flattens nested messages to Outer + Inner names.
    return getattr(module, "".join(nested))  # type: ignore[no-any-return]


MESSAGES = _all_messages()


def test_the_descriptors_list_every_event_and_rpc_message() -> None:
    names = {d.full_name for d in MESSAGES}
    assert "essayflow.events.v1.EventEnvelope" in names
    assert "essayflow.bos.v1.TransitionBatchRequest" in names
    assert len(names) > 60


@pytest.mark.parametrize("desc", MESSAGES, ids=[d.full_name for d in MESSAGES])
def test_message_round_trips_byte_for_byte(desc: Descriptor) -> None:
    module = importlib.import_module(desc.file.name.replace("/", ".").removesuffix(".proto") + "_pb2")
    cls: Any = module
    for part in desc.full_name[len(desc.file.package) + 1 :].split("."):
        cls = getattr(cls, part)
    original = _fill(cls())
    wire = original.SerializeToString(deterministic=True)
    assert wire or not desc.fields, "a filled message must not serialise to nothing"

    model = _betterproto_class(desc)().parse(wire)
    again = bytes(model)
    assert again == wire

    back = cls()
    back.ParseFromString(again)
    assert back == original


def test_betterproto_enums_are_real_enums() -> None:
    from essayflow_models.essayflow.common.v1 import BatchStatus

    assert BatchStatus.STUDENT_VALIDATION_COMPLETED == common_pb2.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED
    assert isinstance(BatchStatus(4), BatchStatus)


def test_a_subscriber_with_only_the_descriptors_decodes_any_event() -> None:
    """Rebuild the schema in a fresh pool from the file descriptors alone (what an outside
    subscriber would load), then decode a real envelope and its Any payload with it."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
        added.add(file.name)

    for module in PB2_MODULES:
        add(module.DESCRIPTOR)
    sent = bos_events_pb2.BatchEssaysRegistered(batch_id="b-1", essay_ids=["e-1", "e-2"], expected_essay_count=2)
    envelope = envelope_pb2.EventEnvelope(event_id="x", event_type=sent.DESCRIPTOR.full_name)
    envelope.payload.Pack(sent)

    envelope_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("essayflow.events.v1.EventEnvelope"))
    received = envelope_class.FromString(envelope.SerializeToString())
    payload_class = message_factory.GetMessageClass(pool.FindMessageTypeByName(received.event_type))
    payload = payload_class.FromString(received.payload.value)
    assert list(payload.essay_ids) == ["e-1", "e-2"] and payload.batch_id == "b-1"
    assert payload_class is not bos_events_pb2.BatchEssaysRegistered  # really rebuilt, not the generated class
