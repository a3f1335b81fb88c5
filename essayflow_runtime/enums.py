"""One rule maps a proto enum value to the lowercase string stored in databases.

``BATCH_STATUS_STUDENT_VALIDATION_COMPLETED`` is stored as
``student_validation_completed``: the value's name without the enum's prefix,
lower-cased. There is no hand-written copy of any status value anywhere else.
"""

from __future__ import annotations

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

EnumType = EnumTypeWrapper | EnumDescriptor


def _descriptor(enum: EnumType) -> EnumDescriptor:
    return enum if isinstance(enum, EnumDescriptor) else enum.DESCRIPTOR


def enum_prefix(enum: EnumType) -> str:
    """``BatchStatus`` → ``BATCH_STATUS_`` (buf's ENUM_VALUE_PREFIX rule guarantees it)."""
    unspecified = _descriptor(enum).values_by_number[0].name
    return unspecified.removesuffix("UNSPECIFIED")


def to_db(enum: EnumType, number: int) -> str:
    """Proto enum number → database string. UNSPECIFIED has no database form."""
    desc = _descriptor(enum)
    if number == 0 or number not in desc.values_by_number:
        raise ValueError(f"{desc.full_name} has no stored form for value {number}")
    return desc.values_by_number[number].name.removeprefix(enum_prefix(desc)).lower()


def from_db(enum: EnumType, text: str) -> int:
    """Database string → proto enum number."""
    desc = _descriptor(enum)
    name = enum_prefix(desc) + text.upper()
    value = desc.values_by_name.get(name)
    if value is None or value.number == 0:
        raise ValueError(f"{text!r} is not a stored {desc.full_name} value")
    return value.number


def db_values(enum: EnumType) -> list[str]:
    """Every stored string of an enum, in proto order (for CHECK constraints)."""
    desc = _descriptor(enum)
    return [to_db(desc, v.number) for v in desc.values if v.number != 0]


def check_constraint_sql(column: str, enum: EnumType) -> str:
    """``column IN ('a', 'b', ...)`` for a CHECK constraint built from the proto."""
    allowed = ", ".join(f"'{value}'" for value in db_values(enum))
    return f"{column} IN ({allowed})"
