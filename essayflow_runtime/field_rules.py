"""The rules each field declares in proto, in words (for docs/api.md)."""

from __future__ import annotations

from google.protobuf import descriptor_pool, text_format
from google.protobuf.descriptor import FieldDescriptor

from buf.validate import validate_pb2
from essayflow_runtime import input_rules


def _field(message: str, name: str) -> FieldDescriptor:
    return descriptor_pool.Default().FindMessageTypeByName(message).fields_by_name[name]


def describe(message: str, name: str) -> list[str]:
    """What ``message.name`` must hold: its buf.validate rules as declared (text format), then the
    text rule every string follows."""
    field = _field(message, name)
    found = []
    rules = field.GetOptions().Extensions[validate_pb2.field]
    if rules.ByteSize():
        found.append("`" + text_format.MessageToString(rules, as_one_line=True) + "`")
    if field.type == FieldDescriptor.TYPE_STRING:
        found.append(
            "free text (tab, LF, CR allowed)" if input_rules.rule_of(field).multiline else "no control characters"
        )
    return found
