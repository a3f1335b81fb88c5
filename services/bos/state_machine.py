"""What may happen to a batch: the one table of legal status changes and their guards.

Pure: no I/O. The transaction that applies a change lives in ``transitions.py``; it asks
:func:`check_transition` whether the change is allowed, and the event handlers ask
:func:`next_automatic_step` how far the facts recorded on a batch carry it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from essayflow.common.v1 import common_pb2

S = common_pb2.BatchStatus
ACV = S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
FAILED_INGESTION = S.BATCH_STATUS_CONTENT_INGESTION_FAILED
ASV = S.BATCH_STATUS_AWAITING_STUDENT_VALIDATION
SVC = S.BATCH_STATUS_STUDENT_VALIDATION_COMPLETED
READY = S.BATCH_STATUS_READY_FOR_PIPELINE_EXECUTION
PROCESSING = S.BATCH_STATUS_PROCESSING_PIPELINES
COMPLETED_OK = S.BATCH_STATUS_COMPLETED_SUCCESSFULLY
COMPLETED_FAILURES = S.BATCH_STATUS_COMPLETED_WITH_FAILURES
FAILED_CRITICALLY = S.BATCH_STATUS_FAILED_CRITICALLY
CANCELLED = S.BATCH_STATUS_CANCELLED

INITIAL_STATUS = ACV
TERMINAL_STATUSES = frozenset({FAILED_INGESTION, COMPLETED_OK, COMPLETED_FAILURES, FAILED_CRITICALLY, CANCELLED})
NON_TERMINAL_STATUSES: tuple[common_pb2.BatchStatus, ...] = tuple(
    cast(common_pb2.BatchStatus, v.number)
    for v in S.DESCRIPTOR.values
    if v.number and v.number not in TERMINAL_STATUSES
)
# From here on the stored essays are what the pipelines run on: nothing overwrites them.
ESSAYS_FROZEN_STATUSES = frozenset({READY, PROCESSING}) | TERMINAL_STATUSES

GUEST = common_pb2.BatchType.BATCH_TYPE_GUEST
REGULAR = common_pb2.BatchType.BATCH_TYPE_REGULAR


class Guard(enum.StrEnum):
    """A condition on the batch's recorded facts, checked inside the transition's transaction."""

    BATCH_IS_GUEST = "batch_is_guest"
    BATCH_IS_REGULAR = "batch_is_regular"
    CONTENT_COMPLETE = "content_complete"
    EVERY_UPLOAD_FAILED = "every_upload_failed"
    ESSAYS_STORED = "essays_stored"
    ASSOCIATIONS_CONFIRMED = "associations_confirmed"


@dataclass(frozen=True)
class BatchFacts:
    """What BOS knows about a batch besides its status; the guards read only this."""

    batch_type: int
    content_complete: bool = False
    every_upload_failed: bool = False
    # The final essays are stored (GUEST: at content completion; REGULAR: with their
    # confirmed students, from BatchEssaysReady) and there is at least one.
    essays_stored: bool = False
    associations_confirmed: bool = False


_GUARD_HOLDS = {
    Guard.BATCH_IS_GUEST: lambda f: f.batch_type == GUEST,
    Guard.BATCH_IS_REGULAR: lambda f: f.batch_type == REGULAR,
    Guard.CONTENT_COMPLETE: lambda f: f.content_complete,
    Guard.EVERY_UPLOAD_FAILED: lambda f: f.every_upload_failed,
    Guard.ESSAYS_STORED: lambda f: f.essays_stored,
    Guard.ASSOCIATIONS_CONFIRMED: lambda f: f.associations_confirmed,
}

_GUARD_FAILURE = {
    Guard.BATCH_IS_GUEST: "the batch belongs to a class (REGULAR); it needs student validation first",
    Guard.BATCH_IS_REGULAR: "the batch has no class (GUEST); it has no student validation",
    Guard.CONTENT_COMPLETE: "the batch's content is not complete yet",
    Guard.EVERY_UPLOAD_FAILED: "at least one upload succeeded",
    Guard.ESSAYS_STORED: "the batch's essays are not stored in BOS yet",
    Guard.ASSOCIATIONS_CONFIRMED: "the batch's student associations are not confirmed yet",
}


@dataclass(frozen=True)
class Edge:
    from_status: common_pb2.BatchStatus
    to_status: common_pb2.BatchStatus
    trigger: str
    guards: tuple[Guard, ...] = ()


def _edges() -> tuple[Edge, ...]:
    g = Guard
    table = [
        Edge(ACV, ASV, "REGULAR batch, content complete", (g.BATCH_IS_REGULAR, g.CONTENT_COMPLETE)),
        Edge(
            ACV,
            READY,
            "GUEST batch, content complete, essays stored",
            (g.BATCH_IS_GUEST, g.CONTENT_COMPLETE, g.ESSAYS_STORED),
        ),
        Edge(ACV, FAILED_INGESTION, "every upload failed validation", (g.CONTENT_COMPLETE, g.EVERY_UPLOAD_FAILED)),
        Edge(ASV, SVC, "associations confirmed", (g.ASSOCIATIONS_CONFIRMED,)),
        Edge(
            SVC,
            READY,
            "essays with their confirmed students stored",
            (g.ASSOCIATIONS_CONFIRMED, g.ESSAYS_STORED),
        ),
        Edge(READY, PROCESSING, "a pipeline is requested", (g.ESSAYS_STORED,)),
        Edge(PROCESSING, COMPLETED_OK, "Phase 2 reports every essay done"),
        Edge(PROCESSING, COMPLETED_FAILURES, "Phase 2 reports some essays failed"),
        Edge(PROCESSING, FAILED_CRITICALLY, "Phase 2 reports the batch failed"),
    ]
    table += [Edge(status, CANCELLED, "the owner cancels") for status in NON_TERMINAL_STATUSES]
    return tuple(table)


EDGES: tuple[Edge, ...] = _edges()
_BY_MOVE: dict[tuple[int, int], Edge] = {(e.from_status, e.to_status): e for e in EDGES}


def status_name(status: int) -> str:
    return str(S.Name(status))


def edge(from_status: int, to_status: int) -> Edge | None:
    return _BY_MOVE.get((from_status, to_status))


@dataclass(frozen=True)
class Violation:
    """Why a change is refused: ``reason`` is UPPER_SNAKE for ErrorInfo."""

    reason: str
    message: str
    failed_guards: tuple[Guard, ...] = ()

    def precondition_violations(self, subject: str) -> list[tuple[str, str, str]]:
        if not self.failed_guards:
            return [(self.reason, subject, self.message)]
        return [(g.value.upper(), subject, _GUARD_FAILURE[g]) for g in self.failed_guards]


def failed_guards(facts: BatchFacts, guards: Iterable[Guard]) -> tuple[Guard, ...]:
    return tuple(g for g in guards if not _GUARD_HOLDS[g](facts))


def check_transition(facts: BatchFacts, from_status: int, to_status: int) -> Violation | None:
    """None when ``from_status → to_status`` is in the table and every guard holds."""
    move = edge(from_status, to_status)
    if move is None:
        return Violation(
            "TRANSITION_NOT_ALLOWED",
            f"{status_name(from_status)} → {status_name(to_status)} is not a legal transition",
        )
    failed = failed_guards(facts, move.guards)
    if failed:
        return Violation(
            "TRANSITION_GUARD_FAILED",
            f"{status_name(from_status)} → {status_name(to_status)} refused: "
            + "; ".join(_GUARD_FAILURE[g] for g in failed),
            failed,
        )
    return None


def next_automatic_step(facts: BatchFacts, status: int) -> common_pb2.BatchStatus | None:
    """The status the recorded facts carry a batch to next, without anyone asking.

    Readiness is "essays stored AND associations confirmed": whichever fact is recorded
    second completes it, so the order the events arrive in does not matter."""
    if status == ACV and facts.content_complete:
        if facts.every_upload_failed:
            return FAILED_INGESTION
        if facts.batch_type == GUEST:
            return READY if facts.essays_stored else None
        return ASV
    if status == ASV and facts.associations_confirmed:
        return SVC
    if status == SVC and facts.essays_stored and facts.associations_confirmed:
        return READY
    return None
