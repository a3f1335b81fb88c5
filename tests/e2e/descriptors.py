"""Hostile inputs built from the proto descriptors alone: hypothesis strategies for any
request or event message, and the string-field paths of a message (for "a NUL in each
field" tests). A new field or RPC is covered without editing this module."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.els.v1 import els_pb2
from essayflow.nlp.v1 import nlp_pb2
from essayflow_runtime import contracts, input_rules

SERVICE_MODULES = {"bos": bos_pb2, "cms": cms_pb2, "els": els_pb2, "nlp": nlp_pb2}
# How deep nested messages go, and how long "ordinary" repeated fields get.
MAX_DEPTH = 4
SMALL_LIST = 3

T = Any


def rpc_methods() -> list[tuple[str, MethodDescriptor]]:
    """Every RPC of every service, with the service's short name."""
    return [
        (name, method)
        for name, module in SERVICE_MODULES.items()
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


def consumed_events() -> list[contracts.EventType]:
    return [t for t in contracts.event_types().values() if t.consumers]


def hostile_text(rule: input_rules.FieldRule, known: Sequence[str]) -> st.SearchStrategy[str]:
    limit = rule.max_length or 1000
    clean = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=min(limit, 40))
    ids = st.sampled_from(list(known) or [str(uuid.uuid4())])
    ordinary = st.one_of(ids, ids, ids, clean, st.just("")) if known else st.one_of(clean, st.just(""), ids)
    nul = st.builds(lambda s, i: s[:i] + "\x00" + s[i:], st.text(max_size=20), st.integers(0, 20))
    controls = st.text(alphabet=st.characters(codec="utf-8", categories=["Cc"]), min_size=1, max_size=5)
    huge = st.integers(limit + 1, limit * 3 + 1).map(lambda n: "x" * n)
    # Two draws in three are well-formed, so that many requests get past the edge and reach
    # the services' own validation, lookups and writes.
    return st.one_of(ordinary, ordinary, st.one_of(nul, controls, huge))


def _scalar(field: FieldDescriptor, known: Sequence[str]) -> st.SearchStrategy[Any]:
    rule = input_rules.rule_of(field)
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return hostile_text(rule, known if field.name.endswith("_id") else ())
    if kind == FieldDescriptor.TYPE_BYTES:
        limit = rule.max_length or 1000
        return st.one_of(
            st.binary(max_size=200),
            st.text(min_size=40, max_size=300).map(lambda s: s.encode()),
            st.integers(limit + 1, limit + 100).map(lambda n: b"\x00" * n),
        )
    if kind == FieldDescriptor.TYPE_ENUM:
        defined = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(defined), st.sampled_from(defined), st.integers(-(2**31), 2**31 - 1))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return st.one_of(st.integers(-5, 600), st.integers(-(2**31), 2**31 - 1))
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    return st.one_of(st.integers(-5, 600), st.integers(-(2**63), 2**63 - 1))


def _value(field: FieldDescriptor, known: Sequence[str], depth: int) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return message_strategy(field.message_type, known, depth + 1)
    return _scalar(field, known)


def _repeated(field: FieldDescriptor, known: Sequence[str], depth: int) -> st.SearchStrategy[list[Any]]:
    rule = input_rules.rule_of(field)
    element = _value(field, known, depth)
    ordinary = st.lists(element, max_size=SMALL_LIST)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        # Many empty elements: over the limit without building thousands of random ones.
        empty = GetMessageClass(field.message_type)
        huge = st.integers((rule.max_items or 1000) + 1, (rule.max_items or 1000) * 3).map(
            lambda n: [empty() for _ in range(n)]
        )
    else:
        # Many small elements (up to the 20,000 pipeline names of the report), never many huge ones.
        small: Any = {FieldDescriptor.TYPE_STRING: "x", FieldDescriptor.TYPE_BYTES: b"x"}.get(field.type, 0)
        limit = rule.max_items or 1000
        huge = st.integers(limit + 1, max(limit * 3, 20_000)).map(lambda n: [small] * n)
    return st.one_of(ordinary, ordinary, huge)


def message_strategy(descriptor: Descriptor, known: Sequence[str] = (), depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with any subset of fields set to hostile values: NUL and
    other control characters, strings and lists past their limits, undefined enum numbers."""
    cls = GetMessageClass(descriptor)
    if depth > MAX_DEPTH or descriptor.full_name.startswith("google."):
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.containing_oneof is not None and len(field.containing_oneof.fields) > 1:
            continue  # oneofs are drawn below, one member at a time
        strategy = _repeated(field, known, depth) if field.is_repeated else _value(field, known, depth)
        fields[field.name] = strategy

    def member(field: FieldDescriptor) -> st.SearchStrategy[dict[str, Any]]:
        return _value(field, known, depth).map(lambda value: {field.name: value})

    oneofs = [st.sampled_from(list(o.fields)).flatmap(member) for o in descriptor.oneofs if len(o.fields) > 1]

    def build(values: dict[str, Any], chosen: list[dict[str, Any]]) -> Message:
        merged = dict(values)
        for member in chosen:
            merged.update(member)
        return cls(**merged)

    # Every field set, or any subset of them.
    optional_fields = st.one_of(st.fixed_dictionaries(fields), st.fixed_dictionaries({}, optional=fields))
    return st.builds(build, optional_fields, st.tuples(*oneofs).map(list) if oneofs else st.just([]))


def draw(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples, the same on every run (derandomized), drawn without I/O so the
    async test can send them afterwards."""
    found: list[T] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found[:count]


def filled(descriptor: Descriptor, depth: int = 0) -> Message:
    """A message with every field set (ids are UUIDs, repeated fields one element, the
    first member of each oneof): the base into which one bad value is put."""
    cls = GetMessageClass(descriptor)
    message = cls()
    if depth > MAX_DEPTH or descriptor.full_name.startswith("google."):
        return message
    chosen_oneofs: set[str] = set()
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:
            if oneof.name in chosen_oneofs:
                continue
            chosen_oneofs.add(oneof.name)
        value: Any
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            value = filled(field.message_type, depth + 1)
        elif field.type == FieldDescriptor.TYPE_STRING:
            value = str(uuid.uuid4()) if field.name.endswith(("_id", "_ids")) else "text"
        elif field.type == FieldDescriptor.TYPE_BYTES:
            value = b"bytes"
        elif field.type == FieldDescriptor.TYPE_ENUM:
            value = field.enum_type.values[-1].number
        elif field.type == FieldDescriptor.TYPE_BOOL:
            value = True
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            value = 0.5
        else:
            value = 1
        if field.is_repeated:
            items = getattr(message, field.name)
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                items.add().CopyFrom(value)
            else:
                items.append(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, field.name).CopyFrom(value)
        else:
            setattr(message, field.name, value)
    return message


def string_paths(message: Message, prefix: str = "") -> Iterator[str]:
    """Paths (as input_rules names them) of every string set in ``message``."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.is_repeated:
            for index, item in enumerate(value):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    yield from string_paths(item, f"{path}[{index}].")
                elif field.type == FieldDescriptor.TYPE_STRING:
                    yield f"{path}[{index}]"
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            yield from string_paths(value, f"{path}.")
        elif field.type == FieldDescriptor.TYPE_STRING:
            yield path


_STEP = re.compile(r"(\w+)(?:\[(\d+)\])?")


def with_text(message: Message, path: str, change: Callable[[str], str]) -> Message:
    """A copy of ``message`` whose string at ``path`` is ``change(old)``."""
    result = copy.deepcopy(message)
    target: Any = result
    steps = path.split(".")
    for step in steps[:-1]:
        name, index = _STEP.fullmatch(step).groups()  # type: ignore[union-attr]
        target = getattr(target, name)
        if index is not None:
            target = target[int(index)]
    name, index = _STEP.fullmatch(steps[-1]).groups()  # type: ignore[union-attr]
    if index is None:
        setattr(target, name, change(getattr(target, name)))
    else:
        items = getattr(target, name)
        items[int(index)] = change(items[int(index)])
    return result
