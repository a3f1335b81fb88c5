"""Idempotency keys: what makes a retry "the same request".

A key is scoped to its caller (role and subject, see :class:`~essayflow_runtime.auth.Principal`)
and stored with the request's :func:`fingerprint`. The same key with the same request is a
retry and gets the first answer; the same key with a different request is a client bug
(a reused or colliding key) and is refused with :func:`key_reused`, never answered with a
replay of something else.
"""

from __future__ import annotations

import hashlib

from google.protobuf.message import Message

from essayflow_runtime.errors import InvalidArgument

KEY_FIELD = "idempotency_key"
REUSED = "IDEMPOTENCY_KEY_REUSED"


def fingerprint(request: Message, key_field: str = KEY_FIELD) -> bytes:
    """SHA-256 of the request's deterministic serialization without the key itself.

    Deterministic serialization orders map entries; fields are written in field-number
    order, so the same request gives the same bytes in every process of a release. Pure."""
    unkeyed = type(request)()
    unkeyed.CopyFrom(request)
    unkeyed.ClearField(key_field)
    return hashlib.sha256(unkeyed.SerializeToString(deterministic=True)).digest()


def key_reused(operation: str, key: str) -> InvalidArgument:
    return InvalidArgument(
        f"idempotency key {key!r} was already used for a different {operation} request; "
        "use a new key for a new request",
        reason=REUSED,
        metadata={"operation": operation, "idempotency_key": key},
        field_violations=[(KEY_FIELD, "already used for a different request by this caller")],
    )


def check_same_request(operation: str, key: str, stored: bytes, current: bytes) -> None:
    """Raise :func:`key_reused` unless ``stored`` (the first request's fingerprint) is ``current``."""
    if stored != current:
        raise key_reused(operation, key)
