"""Who may act on a class and its batches. The role checks per RPC happen in the gRPC
interceptor; these are the ownership checks that need the class."""

from __future__ import annotations

from essayflow_runtime.auth import Principal, Role
from essayflow_runtime.errors import PermissionDenied


def require_owner(principal: Principal, owner_id: str, *, class_id: str, allow_service: bool = False) -> None:
    """A teacher acts only on their own classes; admins (and, where allowed, services) on any."""
    if principal.role is Role.ADMIN or (allow_service and principal.role is Role.SERVICE):
        return
    if principal.role is Role.TEACHER and principal.subject == owner_id:
        return
    raise PermissionDenied(
        f"class {class_id} belongs to another teacher",
        reason="NOT_CLASS_OWNER",
        metadata={"class_id": class_id},
    )
