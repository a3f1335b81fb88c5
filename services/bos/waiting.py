"""What a batch waits for in its status: read off the state machine, never listed by hand.

Pure: no I/O. For each move out of the status (CANCELLED aside: nobody waits for that) that
fits the batch's kind, either a guard still fails, and the batch waits for whoever records
that fact, or every guard holds and the move waits for its trigger (a request, a report).
A move the recorded facts already allow is BOS's own next step (``next_automatic_step``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.bos.state_machine import (
    CANCELLED,
    EDGES,
    GUEST,
    PROCESSING,
    READY,
    TERMINAL_STATUSES,
    BatchFacts,
    Edge,
    Guard,
    failed_guards,
    next_automatic_step,
    status_name,
)


@dataclass(frozen=True)
class WaitingFor:
    code: str  # UPPER_SNAKE, for machines
    description: str  # for people
    expected_from: tuple[str, ...]  # who is expected to act


CONTENT_COMPLETION = WaitingFor(
    "CONTENT_COMPLETION",
    "uploads and ELS's content completion (BatchContentProvisioningCompleted)",
    ("teacher", "els"),
)
STUDENT_VALIDATION = WaitingFor(
    "STUDENT_VALIDATION",
    "teacher validation or the deadline (StudentAssociationsConfirmed from CMS)",
    ("teacher", "cms"),
)
ESSAYS_READY = WaitingFor("ESSAYS_READY", "essays from ELS (BatchEssaysReady)", ("els",))
PIPELINE_REQUEST = WaitingFor("PIPELINE_REQUEST", "a pipeline request (RequestPipeline)", ("teacher",))
PHASE2_REPORT = WaitingFor("PHASE2_REPORT", "the assessment pipelines' report (Phase 2)", ("phase2",))

# The guards that choose a batch's path by its kind: they never change, nobody brings them.
_KIND_GUARDS = frozenset({Guard.BATCH_IS_GUEST, Guard.BATCH_IS_REGULAR})
# Moves that need someone to ask once their guards hold.
_TRIGGERS = {(READY, PROCESSING): PIPELINE_REQUEST, **{(PROCESSING, e.to_status): PHASE2_REPORT for e in EDGES}}


def _bringer(guard: Guard, facts: BatchFacts) -> WaitingFor | None:
    """Who records the fact a guard reads; None for an outcome nobody waits for."""
    if guard is Guard.CONTENT_COMPLETE:
        return CONTENT_COMPLETION
    if guard is Guard.ASSOCIATIONS_CONFIRMED:
        return STUDENT_VALIDATION
    if guard is Guard.ESSAYS_STORED:
        # A GUEST batch's essays are stored with its content; a REGULAR one's come with their students.
        return CONTENT_COMPLETION if facts.batch_type == GUEST else ESSAYS_READY
    return None  # EVERY_UPLOAD_FAILED: a possible outcome of the content, not something awaited


def _waits(edge: Edge, facts: BatchFacts) -> list[WaitingFor]:
    failed = failed_guards(facts, edge.guards)
    if not failed:
        trigger = _TRIGGERS.get((edge.from_status, edge.to_status))
        return [trigger] if trigger else []
    return [w for g in failed if (w := _bringer(g, facts)) is not None]


def waiting_for(status: int, facts: BatchFacts) -> WaitingFor | None:
    """What the batch needs next to leave ``status``; None once it is terminal."""
    if status in TERMINAL_STATUSES:
        return None
    due = next_automatic_step(facts, status)
    if due is not None:
        return WaitingFor("BOS_STEP", f"BOS's own step to {status_name(due)} (the facts allow it)", ("bos",))
    found: list[WaitingFor] = []
    for edge in EDGES:
        if edge.from_status != status or edge.to_status == CANCELLED:
            continue
        if failed_guards(facts, [g for g in edge.guards if g in _KIND_GUARDS]):
            continue  # the other kind of batch's path
        for wait in _waits(edge, facts):
            if wait not in found:
                found.append(wait)
    if not found:
        return WaitingFor("NOTHING", "no move out of this status is defined", ())
    if len(found) == 1:
        return found[0]
    return WaitingFor(
        found[0].code,
        "; ".join(w.description for w in found),
        tuple(dict.fromkeys(who for w in found for who in w.expected_from)),
    )
