"""The rules every field obeys, read from proto.

A request is checked against every ``buf.validate`` rule its proto declares (lengths, ranges,
UUIDs, required fields, repeated bounds, patterns) by protovalidate, and against the one rule
protovalidate has no way to make the default of every string: no control character (C0, DEL,
C1), except tab, line feed and carriage return in a field marked ``multiline``
(options.proto). :func:`check_request` names every field that breaks one, as paths like
``essays[3].file_name``; the gRPC interceptor refuses such a request before its handler runs.

A consumed event is held to its fields' limits (the ``max_len`` and ``max_items`` of their
``buf.validate`` rules) and the text rule: :func:`violations` walks any message by its
descriptor — nested messages, repeated fields, maps — and the consumer dead-letters such an
event before its handler runs. Text that PostgreSQL cannot store (NUL) or that a display cannot
show safely never gets further than the edge.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import protovalidate
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from buf.validate import validate_pb2
from essayflow.common.v1 import options_pb2
from essayflow_runtime.errors import InvalidArgument

# C0 controls, DEL and C1 controls. Lone surrogates need no rule: protobuf refuses
# them when a message is parsed (invalid UTF-8) and when one is built in Python.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Free text keeps tab, line feed and carriage return.
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A request naming thousands of bad fields gets the first ones; that is enough to act on.
MAX_REPORTED = 50

Violation = tuple[str, str]


@dataclass(frozen=True)
class FieldRule:
    """What one field declares in proto."""

    max_length: int = 0  # 0: no limit declared
    max_items: int = 0
    multiline: bool = False

    @property
    def declared(self) -> bool:
        return bool(self.max_length or self.max_items)


# One validator for the process: it compiles a message type's rules once, on first use.
_VALIDATOR = protovalidate.Validator()


def _max_len(rules: validate_pb2.FieldRules) -> int:
    if rules.HasField("string"):
        return rules.string.max_len
    if rules.HasField("bytes"):
        return rules.bytes.max_len
    return 0


@cache
def rule_of(field: FieldDescriptor) -> FieldRule:
    """A field's limits (from its buf.validate rules) and text rule (from ``multiline``)."""
    options = field.GetOptions()
    rules = options.Extensions[validate_pb2.field]
    if field.is_repeated:
        max_items, max_length = rules.repeated.max_items, _max_len(rules.repeated.items)
    else:
        max_items, max_length = 0, _max_len(rules)
    return FieldRule(max_length=max_length, max_items=max_items, multiline=options.Extensions[options_pb2.multiline])


def control_character(text: str, *, multiline: bool) -> int:
    """Index of the first character ``text`` may not hold, or -1."""
    found = (_CONTROL_MULTILINE if multiline else _CONTROL).search(text)
    return found.start() if found else -1


def violations(message: Message, *, check_enums: bool = True, limits: bool = True) -> list[Violation]:
    """Every field of ``message`` that breaks its limits or the text rule, as (path, description).

    ``check_enums``: also refuse enum numbers the proto does not define. Requests do;
    events do not, so that a producer may start sending a newly added value before every
    consumer knows it. ``limits``: also the lengths and item counts (requests leave those to
    protovalidate, with the rest of their buf.validate rules)."""
    found: list[Violation] = []
    for violation in _walk(message, "", check_enums, limits):
        found.append(violation)
        if len(found) >= MAX_REPORTED:
            break
    return found


def event_violations(envelope: Message, payload: Message) -> list[Violation]:
    """:func:`violations` of a consumed event: the envelope's own fields, then the
    payload's (paths ``payload.<field>``)."""
    found = [v for v in violations(envelope, check_enums=False) if not v[0].startswith("payload.")]
    found += [(f"payload.{path}", text) for path, text in violations(payload, check_enums=False)]
    return found[:MAX_REPORTED]


def describe(found: list[Violation]) -> str:
    return "; ".join(f"{path}: {text}" for path, text in found)


def _path(violation: protovalidate.Violation) -> str:
    path = ""
    field = violation.proto.field
    for element in field.elements if field is not None else ():
        path += ("." if path else "") + element.field_name
        subscript = element.subscript
        if subscript is not None:
            key = subscript.value
            path += f"[{key[:40]!r}]" if isinstance(key, str) else f"[{key}]"
    return path


def request_violations(request: Message) -> list[Violation]:
    """Every field of a request that breaks a buf.validate rule or the text rule; one finding per
    field (the first), in field order of the rules."""
    found = [(_path(v), v.proto.message) for v in _VALIDATOR.collect_violations(request)]
    named = {path for path, _ in found}
    found += [v for v in violations(request, limits=False) if v[0] not in named]
    return found[:MAX_REPORTED]


def check_request(request: Message) -> None:
    """Raise INVALID_ARGUMENT with a BadRequest naming every field that breaks its rules."""
    found = request_violations(request)
    if found:
        raise InvalidArgument(
            "the request is invalid: " + describe(found[:3]),
            reason="INVALID_ARGUMENT",
            field_violations=found,
        )


def _walk(message: Message, prefix: str, check_enums: bool, limits: bool = True) -> Iterator[Violation]:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        rule = rule_of(field) if limits else FieldRule(multiline=rule_of(field).multiline)
        if _is_map(field):
            if rule.max_items and len(value) > rule.max_items:
                yield path, f"must have at most {rule.max_items} entries"
                continue
            value_field = field.message_type.fields_by_name["value"]
            key_field = field.message_type.fields_by_name["key"]
            for key, item in value.items():
                if isinstance(key, str):
                    yield from _check_scalar(
                        key_field, rule_of(key_field), key, f"{path}[{key[:40]!r}]", check_enums, limits
                    )
                item_path = f"{path}[{key!r}]" if not isinstance(key, str) else f"{path}[{key[:40]!r}]"
                yield from _check_value(value_field, rule_of(value_field), item, item_path, check_enums, limits)
            continue
        if field.is_repeated:
            if rule.max_items and len(value) > rule.max_items:
                yield path, f"must have at most {rule.max_items} items (has {len(value)})"
                continue
            for index, item in enumerate(value):
                yield from _check_value(field, rule, item, f"{path}[{index}]", check_enums, limits)
            continue
        yield from _check_value(field, rule, value, path, check_enums, limits)


def _check_value(
    field: FieldDescriptor, rule: FieldRule, value: object, path: str, check_enums: bool, limits: bool = True
) -> Iterator[Violation]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert isinstance(value, Message)
        yield from _walk(value, f"{path}.", check_enums, limits)
        return
    yield from _check_scalar(field, rule, value, path, check_enums)


def _check_scalar(
    field: FieldDescriptor, rule: FieldRule, value: object, path: str, check_enums: bool, limits: bool = True
) -> Iterator[Violation]:
    if isinstance(value, str):
        if rule.max_length and len(value) > rule.max_length:
            yield path, f"must be at most {rule.max_length} characters (has {len(value)})"
        at = control_character(value, multiline=rule.multiline)
        if at >= 0:
            allowed = " (tab, line feed and carriage return are allowed)" if rule.multiline else ""
            yield path, f"must not contain control character U+{ord(value[at]):04X} (at {at}){allowed}"
    elif isinstance(value, bytes):
        if rule.max_length and len(value) > rule.max_length:
            yield path, f"must be at most {rule.max_length} bytes (has {len(value)})"
    elif check_enums and field.type == FieldDescriptor.TYPE_ENUM:
        enum = field.enum_type
        if value not in enum.values_by_number:
            yield path, f"{value} is not a defined {enum.name} value"


def _is_map(field: FieldDescriptor) -> bool:
    return bool(
        field.type == FieldDescriptor.TYPE_MESSAGE and field.is_repeated and field.message_type.GetOptions().map_entry
    )


def undeclared_fields(descriptor: Descriptor) -> list[str]:
    """String, bytes and repeated fields of ``descriptor`` and every message it contains
    (outside google.protobuf) that declare no limit: what the contract test refuses."""
    missing: list[str] = []
    seen: set[str] = set()

    def visit(desc: Descriptor) -> None:
        if desc.full_name in seen or desc.full_name.startswith("google."):
            return
        seen.add(desc.full_name)
        for field in desc.fields:
            rule = rule_of(field)
            repeated = field.is_repeated
            sized = field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
            if repeated and not rule.max_items:
                missing.append(f"{field.full_name}: max_items")
            if sized and not rule.max_length:
                missing.append(f"{field.full_name}: max_length")
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                visit(field.message_type)

    visit(descriptor)
    return missing


def conform(message: Message) -> None:
    """Make a message a service produces from text it does not control (e.g. evidence
    quoted from an essay) fit its own declared rules, in place: control characters become
    spaces, strings and repeated fields are cut to their limits. For derived output only;
    input is refused, never silently changed."""
    for field, value in message.ListFields():
        rule = rule_of(field)
        if field.is_repeated and not _is_map(field):
            if rule.max_items and len(value) > rule.max_items:
                del value[rule.max_items :]
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value:
                    conform(item)
            elif field.type == FieldDescriptor.TYPE_STRING:
                value[:] = [_fit(item, rule) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(field):
            conform(value)
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, _fit(value, rule))


def _fit(text: str, rule: FieldRule) -> str:
    text = (_CONTROL_MULTILINE if rule.multiline else _CONTROL).sub(" ", text)
    return text[: rule.max_length] if rule.max_length else text
