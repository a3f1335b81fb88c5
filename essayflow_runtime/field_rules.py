"""The rules each field declares in proto, in words (for docs/api.md and docs/field-limits.md)."""

from __future__ import annotations

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor

from essayflow_runtime import input_rules


def _field(message: str, name: str) -> FieldDescriptor:
    return descriptor_pool.Default().FindMessageTypeByName(message).fields_by_name[name]


def describe(message: str, name: str) -> list[str]:
    """What ``message.name`` must hold, one phrase per rule."""
    field = _field(message, name)
    rule = input_rules.rule_of(field)
    found = []
    if rule.max_items:
        found.append(f"at most {rule.max_items:,} items")
    if rule.max_length:
        unit = "bytes" if field.type == FieldDescriptor.TYPE_BYTES else "characters"
        found.append(f"at most {rule.max_length:,} {unit}" + (" each" if field.is_repeated else ""))
    if field.type == FieldDescriptor.TYPE_STRING:
        found.append("free text (tab, LF, CR allowed)" if rule.multiline else "no control characters")
    return found
