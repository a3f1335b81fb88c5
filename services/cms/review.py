"""A teacher's review of a batch: read its associations, decide on some of them.

Each decision runs in one transaction holding the batch's row lock, so a decision and
the deadline sweep (or a second teacher click) never interleave: whichever commits
first wins, and the later one sees the batch as the first left it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from essayflow_runtime.auth import Principal, Role
from essayflow_runtime.errors import FailedPrecondition, FieldErrors
from services.cms import access, confirmation, store, validation


@dataclass(frozen=True)
class ReviewOutcome:
    batch: store.BatchRecord
    touched: list[store.AssociationView]
    batch_confirmed: bool
    pending_count: int


async def _batch_for(
    conn: store.Connection, principal: Principal, batch_id: str, *, for_update: bool = False
) -> store.BatchRecord:
    # Only the caller's own batch is read (and locked); another teacher's is answered like
    # a missing one (access.batch_not_found).
    owner = None if principal.role is Role.ADMIN else principal.subject
    batch = await store.get_batch(conn, batch_id, for_update=for_update, owner_id=owner)
    if batch is None or not access.may_act(principal, batch.owner_id):
        raise access.batch_not_found(batch_id)
    return batch


async def associations(
    pool: asyncpg.Pool, principal: Principal, batch_id: str
) -> tuple[store.BatchRecord, list[store.AssociationView]]:
    async with pool.acquire() as conn:
        batch = await _batch_for(conn, principal, batch_id)
        return batch, await store.batch_associations(conn, batch_id)


async def counts(
    pool: asyncpg.Pool, principal: Principal, batch_id: str
) -> tuple[store.BatchRecord, dict[validation.Status, int]]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        batch = await _batch_for(conn, principal, batch_id)
        return batch, await store.status_counts(conn, batch_id)


async def decide(
    pool: asyncpg.Pool, principal: Principal, batch_id: str, decisions: list[validation.Decision]
) -> ReviewOutcome:
    """Apply decisions (a part of the batch or all of it); publish when none is pending."""
    async with pool.acquire() as conn, conn.transaction():
        batch = await _batch_for(conn, principal, batch_id, for_update=True)
        if batch.is_confirmed:
            raise FailedPrecondition(
                f"batch {batch_id} is already confirmed; its associations are final",
                reason="BATCH_ALREADY_CONFIRMED",
                metadata={"batch_id": batch_id},
                violations=[("BATCH_CONFIRMED", f"batches/{batch_id}", "every association is final and published")],
            )
        current = {v.association.essay_id: v.association for v in await store.batch_associations(conn, batch_id)}
        errors = FieldErrors()
        for i, decision in enumerate(decisions):
            errors.check(decision.essay_id in current, f"decisions[{i}].essay_id", "is not an essay of this batch")
        errors.raise_if_any("a decision names an essay outside the batch")
        await _require_members(conn, batch, decisions)

        now = datetime.now(UTC)
        resolutions = [validation.decide(current[d.essay_id], d, principal.subject, now) for d in decisions]
        # Repeating a decision keeps its first validated_at/validated_by.
        changed = [r for r in resolutions if not r.same_outcome(current[r.essay_id])]
        await store.apply_resolutions(conn, batch_id, changed, only_pending=False)
        published = await confirmation.publish_if_complete(conn, batch, now)

        views = await store.batch_associations(conn, batch_id)
        named = {d.essay_id for d in decisions}
        return ReviewOutcome(
            batch=batch,
            touched=[v for v in views if v.association.essay_id in named],
            batch_confirmed=published,
            pending_count=validation.pending_count(v.association for v in views),
        )


async def _require_members(
    conn: store.Connection, batch: store.BatchRecord, decisions: list[validation.Decision]
) -> None:
    wanted = {d.student_id for d in decisions if d.kind is validation.DecisionKind.OVERRIDE and d.student_id}
    if not wanted:
        return
    outsiders = sorted(wanted - await store.class_member_ids(conn, batch.class_id, wanted))
    if outsiders:
        raise FailedPrecondition(
            f"student {outsiders[0]} is not in class {batch.class_id}",
            reason="STUDENT_NOT_IN_CLASS",
            metadata={"class_id": batch.class_id, "student_id": outsiders[0]},
            violations=[
                ("STUDENT_NOT_IN_CLASS", f"students/{sid}", f"not a student of class {batch.class_id}")
                for sid in outsiders
            ],
        )
