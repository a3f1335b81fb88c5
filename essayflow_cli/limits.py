"""Prints the table of every field limit, generated from the proto field rules.

``make proto`` writes it to docs/field-limits.md and ``make proto-check`` fails when
that file drifts from proto/. The limits themselves live next to the fields in proto: the
``max_len`` and ``max_items`` of their ``buf.validate`` rules, and ``multiline``
(essayflow/common/v1/options.proto) for free text."""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.els.v1 import els_pb2
from essayflow.nlp.v1 import nlp_pb2
from essayflow_runtime import contracts, input_rules


def _messages() -> list[tuple[str, list[Descriptor]]]:
    sections = []
    for module in (bos_pb2, els_pb2, cms_pb2, nlp_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            sections.append((f"`{service.full_name}` requests", [m.input_type for m in service.methods]))
    events = sorted((t.message_class.DESCRIPTOR for t in contracts.event_types().values()), key=lambda d: d.name)
    sections.append(("Events (checked by every consumer)", [contracts.EventEnvelope.DESCRIPTOR, *events]))
    return sections


def _rows(descriptor: Descriptor, prefix: str, seen: tuple[str, ...]) -> list[str]:
    rows = []
    for field in descriptor.fields:
        path = f"{prefix}{field.name}{'[]' if field.is_repeated else ''}"
        rule = input_rules.rule_of(field)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if rule.max_items:
                rows.append(f"| `{path}` | {rule.max_items} items | |")
            nested = field.message_type
            if not nested.full_name.startswith("google.") and nested.full_name not in seen:
                rows += _rows(nested, f"{path}.", (*seen, nested.full_name))
            continue
        limits = []
        if rule.max_items:
            limits.append(f"{rule.max_items} items")
        if rule.max_length:
            unit = "bytes" if field.type == FieldDescriptor.TYPE_BYTES else "characters"
            limits.append(f"{rule.max_length:,} {unit}" + (" each" if field.is_repeated else ""))
        if field.type == FieldDescriptor.TYPE_STRING:
            text = "free text: tab, LF, CR allowed" if rule.multiline else "no control characters"
        else:
            text = ""
        if limits or text:
            rows.append(f"| `{path}` | {', '.join(limits)} | {text} |")
    return rows


def limits_table() -> str:
    lines = [
        "# Field limits",
        "",
        "Generated from the `max_len` and `max_items` of the `buf.validate` rules and the `multiline`",
        "option in `proto/` by `make proto`; do not edit. A request breaking one is INVALID_ARGUMENT with",
        "a BadRequest naming each field (checked before the handler runs, with the request's other",
        "buf.validate rules: UUIDs, ranges, required fields, patterns; see docs/api.md); a consumed",
        "event breaking one is dead-lettered with reason `INVALID_CONTENT`. No string holds a control",
        "character (C0, DEL, C1) except the free-text ones, which keep tab, line feed and carriage",
        "return. Enum numbers a request names must be defined.",
        "",
        f"A sealed event is at most the NATS server's max_payload less {contracts.HEADER_ROOM} bytes of",
        "header room: a request that would produce a larger one is INVALID_ARGUMENT `EVENT_TOO_LARGE`.",
    ]
    for title, descriptors in _messages():
        lines += ["", f"## {title}", ""]
        for descriptor in descriptors:
            rows = _rows(descriptor, "", (descriptor.full_name,))
            if not rows:
                continue
            lines += [f"### {descriptor.name}", "", "| field | limit | text |", "|---|---|---|", *rows, ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    print(limits_table(), end="")


if __name__ == "__main__":
    main()
