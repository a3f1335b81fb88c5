"""One rule maps a proto enum value to the lowercase string stored in databases.

``BATCH_STATUS_STUDENT_VALIDATION_COMPLETED`` is stored as
``student_validation_completed``: the value's name without the enum's prefix,
lower-cased. There is no hand-written copy of any status value anywhere else.
"""

from __future__ import annotations

from functools import cache
from typing import TypeAlias

from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

EnumType: TypeAlias = EnumTypeWrapper | EnumDescriptor


def _descriptor(enum: EnumType) -> EnumDescriptor:
    if isinstance(enum, EnumDescriptor):
        return enum
    descriptor: EnumDescriptor = enum.DESCRIPTOR
    return descriptor


def enum_prefix(enum: EnumType) -> str:
    """``BatchStatus`` → ``BATCH_STATUS_`` (buf's ENUM_VALUE_PREFIX rule guarantees it)."""
    unspecified: str = _descriptor(enum).values_by_number[0].name
    return unspecified.removesuffix("UNSPECIFIED")


@cache
def _tables(desc: EnumDescriptor) -> tuple[dict[int, str], dict[str, int]]:
    """Both directions of the rule for one enum, computed once (hot paths convert a lot)."""
    prefix = enum_prefix(desc)
    to_text = {v.number: v.name.removeprefix(prefix).lower() for v in desc.values if v.number != 0}
    return to_text, {text: number for number, text in to_text.items()}


@cache
def _rule(enum: EnumType) -> tuple[EnumDescriptor, dict[int, str], dict[str, int]]:
    # Keyed by the enum object itself: protobuf's descriptor isinstance check is slow
    # enough to dominate a tracker of 500 slots, read and written on every upload.
    desc = _descriptor(enum)
    return (desc, *_tables(desc))


def to_db(enum: EnumType, number: int) -> str:
    """Proto enum number → database string. UNSPECIFIED has no database form."""
    desc, to_text, _ = _rule(enum)
    text = to_text.get(number)
    if text is None:
        raise ValueError(f"{desc.full_name} has no stored form for value {number}")
    return text


def from_db(enum: EnumType, text: str) -> int:
    """Database string → proto enum number."""
    desc, _, to_number = _rule(enum)
    number = to_number.get(text)
    if number is None:
        raise ValueError(f"{text!r} is not a stored {desc.full_name} value")
    return number


def db_values(enum: EnumType) -> list[str]:
    """Every stored string of an enum, in proto order (for CHECK constraints)."""
    desc = _descriptor(enum)
    return [to_db(desc, v.number) for v in desc.values if v.number != 0]


def check_constraint_sql(column: str, enum: EnumType) -> str:
    """``column IN ('a', 'b', ...)`` for a CHECK constraint built from the proto."""
    allowed = ", ".join(f"'{value}'" for value in db_values(enum))
    return f"{column} IN ({allowed})"
