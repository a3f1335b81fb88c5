"""The transition table and its guards, without a database."""

from __future__ import annotations

import itertools

import pytest

from essayflow.common.v1 import common_pb2
from services.bos import state_machine as sm
from services.bos.servicer import describe_state_machine
from services.bos.state_machine import BatchFacts, Guard, check_transition, next_automatic_step

S = common_pb2.BatchStatus
ALL = [v.number for v in S.DESCRIPTOR.values if v.number]
GUEST_DONE = BatchFacts(sm.GUEST, content_complete=True, essays_stored=True)
REGULAR_DONE = BatchFacts(sm.REGULAR, content_complete=True, essays_stored=True, associations_confirmed=True)


def test_the_table_is_the_architecture_table() -> None:
    moves = {(e.from_status, e.to_status) for e in sm.EDGES}
    expected = {
        (sm.ACV, sm.ASV),
        (sm.ACV, sm.READY),
        (sm.ACV, sm.FAILED_INGESTION),
        (sm.ASV, sm.SVC),
        (sm.SVC, sm.READY),
        (sm.READY, sm.PROCESSING),
        (sm.PROCESSING, sm.COMPLETED_OK),
        (sm.PROCESSING, sm.COMPLETED_FAILURES),
        (sm.PROCESSING, sm.FAILED_CRITICALLY),
    } | {(s, sm.CANCELLED) for s in (sm.ACV, sm.ASV, sm.SVC, sm.READY, sm.PROCESSING)}
    assert moves == expected
    assert len(moves) == len(sm.EDGES)


def test_nothing_leaves_a_terminal_status() -> None:
    for terminal, target in itertools.product(sm.TERMINAL_STATUSES, ALL):
        violation = check_transition(REGULAR_DONE, terminal, target)
        assert violation is not None and violation.reason == "TRANSITION_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("facts", "source", "failed"),
    [
        # Invariant 1: no READY without stored essays, GUEST or REGULAR.
        (BatchFacts(sm.GUEST, content_complete=True), sm.ACV, (Guard.ESSAYS_STORED,)),
        (BatchFacts(sm.REGULAR, content_complete=True, associations_confirmed=True), sm.SVC, (Guard.ESSAYS_STORED,)),
        (BatchFacts(sm.REGULAR, content_complete=True, essays_stored=True), sm.SVC, (Guard.ASSOCIATIONS_CONFIRMED,)),
        # A REGULAR batch never skips student validation.
        (REGULAR_DONE, sm.ACV, (Guard.BATCH_IS_GUEST,)),
    ],
)
def test_ready_needs_its_facts(facts: BatchFacts, source: int, failed: tuple[Guard, ...]) -> None:
    violation = check_transition(facts, source, sm.READY)
    assert violation is not None
    assert violation.reason == "TRANSITION_GUARD_FAILED"
    assert violation.failed_guards == failed
    assert [v[0] for v in violation.precondition_violations("batches/x")] == [g.value.upper() for g in failed]


def test_ready_with_its_facts() -> None:
    assert check_transition(GUEST_DONE, sm.ACV, sm.READY) is None
    assert check_transition(REGULAR_DONE, sm.SVC, sm.READY) is None


def test_ingestion_fails_only_when_every_upload_failed() -> None:
    some_stored = BatchFacts(sm.GUEST, content_complete=True, essays_stored=True)
    none_stored = BatchFacts(sm.GUEST, content_complete=True, every_upload_failed=True)
    assert check_transition(some_stored, sm.ACV, sm.FAILED_INGESTION) is not None
    assert check_transition(none_stored, sm.ACV, sm.FAILED_INGESTION) is None
    assert check_transition(BatchFacts(sm.GUEST, every_upload_failed=True), sm.ACV, sm.FAILED_INGESTION) is not None


def test_backwards_and_skipping_moves_are_refused() -> None:
    for source, target in [(sm.READY, sm.SVC), (sm.SVC, sm.ASV), (sm.PROCESSING, sm.READY), (sm.ACV, sm.SVC)]:
        violation = check_transition(REGULAR_DONE, source, target)
        assert violation is not None and violation.reason == "TRANSITION_NOT_ALLOWED"


@pytest.mark.parametrize("first", ["essays", "associations"])
def test_readiness_completes_whichever_fact_comes_second(first: str) -> None:
    content = BatchFacts(sm.REGULAR, content_complete=True)
    status = next_automatic_step(content, sm.ACV)
    assert status == sm.ASV
    if first == "essays":
        with_essays = BatchFacts(sm.REGULAR, content_complete=True, essays_stored=True)
        assert next_automatic_step(with_essays, sm.ASV) is None  # waits for the teacher
    facts = REGULAR_DONE
    assert next_automatic_step(facts, sm.ASV) == sm.SVC
    assert next_automatic_step(facts, sm.SVC) == sm.READY
    assert next_automatic_step(facts, sm.READY) is None


def test_automatic_steps_are_legal_moves() -> None:
    facts_space = [
        BatchFacts(t, c, f, e, a)
        for t in (sm.GUEST, sm.REGULAR)
        for c, f, e, a in itertools.product((False, True), repeat=4)
        if not (f and e)
    ]
    for facts, status in itertools.product(facts_space, ALL):
        target = next_automatic_step(facts, status)
        if target is not None:
            assert check_transition(facts, status, target) is None, (facts, status, target)


def test_described_state_machine_is_the_table() -> None:
    described = describe_state_machine()
    assert described.initial_status == S.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
    assert set(described.terminal_statuses) == set(sm.TERMINAL_STATUSES)
    assert [(e.from_status, e.to_status, e.trigger, tuple(e.guards)) for e in described.edges] == [
        (e.from_status, e.to_status, e.trigger, tuple(g.value for g in e.guards)) for e in sm.EDGES
    ]
    ready_from_svc = next(e for e in described.edges if e.from_status == sm.SVC and e.to_status == sm.READY)
    assert "essays_stored" in ready_from_svc.guards
