"""Identifiers: every id essayflow issues is a UUID, read in its canonical form."""

from __future__ import annotations

import uuid


def canonical_uuid(text: str) -> str | None:
    """``text`` as a canonical UUID string, or None when it is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def is_uuid(text: str) -> bool:
    return canonical_uuid(text) is not None
