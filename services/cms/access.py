"""Who may act on a class and its batches. The role checks per RPC happen in the gRPC
interceptor; these are the ownership checks that need the class.

Another teacher's class or batch is answered exactly like one that does not exist: the
same code (NOT_FOUND), message, reason and metadata (built from the id the caller sent,
never from the stored record), after the same reads. PERMISSION_DENIED, or an owning
class id in the details, would tell a prober which ids exist and how they relate.
"""

from __future__ import annotations

from essayflow_runtime.auth import Principal, Role
from essayflow_runtime.errors import NotFound


def may_act(principal: Principal, owner_id: str, *, allow_service: bool = False) -> bool:
    """A teacher acts only on their own classes; admins (and, where allowed, services) on any."""
    if principal.role is Role.ADMIN or (allow_service and principal.role is Role.SERVICE):
        return True
    return principal.role is Role.TEACHER and principal.subject == owner_id


def class_not_found(class_id: str) -> NotFound:
    """For a class that does not exist and for one the caller may not see alike."""
    return NotFound(f"class {class_id} does not exist", reason="CLASS_NOT_FOUND", metadata={"class_id": class_id})


def batch_not_found(batch_id: str) -> NotFound:
    """For a batch CMS has no associations for and for another teacher's batch alike."""
    return NotFound(f"batch {batch_id} has no associations", reason="BATCH_NOT_FOUND", metadata={"batch_id": batch_id})
