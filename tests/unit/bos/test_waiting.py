"""What a batch waits for, read off the state machine; and what a reconcile re-issues."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from essayflow.common.v1 import common_pb2
from essayflow.events.v1 import bos_events_pb2
from services.bos import encoding
from services.bos import state_machine as sm
from services.bos.reconcile import RECONCILABLE, reissues
from services.bos.state_machine import BatchFacts
from services.bos.store import BatchRecord
from services.bos.waiting import (
    CONTENT_COMPLETION,
    ESSAYS_READY,
    PHASE2_REPORT,
    PIPELINE_REQUEST,
    STUDENT_VALIDATION,
    waiting_for,
)

ALL = [v.number for v in common_pb2.BatchStatus.DESCRIPTOR.values if v.number]


# The facts a batch really has in each status on its path (the history that got it there).
def on_the_way(kind: int, status: int) -> BatchFacts:
    regular = kind == sm.REGULAR
    facts: dict[int, BatchFacts] = {
        sm.ACV: BatchFacts(kind),
        sm.ASV: BatchFacts(kind, content_complete=True),
        sm.SVC: BatchFacts(kind, content_complete=True, associations_confirmed=True),
        sm.READY: BatchFacts(kind, content_complete=True, essays_stored=True, associations_confirmed=regular),
        sm.PROCESSING: BatchFacts(kind, content_complete=True, essays_stored=True, associations_confirmed=regular),
    }
    return facts[status]


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        (sm.GUEST, sm.ACV, CONTENT_COMPLETION),
        (sm.REGULAR, sm.ACV, CONTENT_COMPLETION),
        (sm.REGULAR, sm.ASV, STUDENT_VALIDATION),
        (sm.REGULAR, sm.SVC, ESSAYS_READY),
        (sm.GUEST, sm.READY, PIPELINE_REQUEST),
        (sm.REGULAR, sm.READY, PIPELINE_REQUEST),
        (sm.REGULAR, sm.PROCESSING, PHASE2_REPORT),
    ],
)
def test_each_status_on_the_path_waits_for_one_thing(kind: int, status: int, expected: object) -> None:
    assert waiting_for(status, on_the_way(kind, status)) == expected


def test_essays_ready_before_the_confirmation_waits_for_the_teacher_only() -> None:
    facts = BatchFacts(sm.REGULAR, content_complete=True, essays_stored=True)
    assert waiting_for(sm.ASV, facts) == STUDENT_VALIDATION


def test_a_step_the_facts_already_allow_is_boss_own() -> None:
    wait = waiting_for(sm.ACV, BatchFacts(sm.REGULAR, content_complete=True))
    assert wait is not None and wait.code == "BOS_STEP" and wait.expected_from == ("bos",)
    assert "AWAITING_STUDENT_VALIDATION" in wait.description


def test_terminal_batches_wait_for_nothing_and_live_ones_always_for_something() -> None:
    for status, kind in itertools.product(ALL, (sm.GUEST, sm.REGULAR)):
        wait = waiting_for(status, BatchFacts(kind))
        if status in sm.TERMINAL_STATUSES:
            assert wait is None
        else:
            assert wait is not None and wait.code and wait.description and wait.expected_from


def test_a_wait_names_the_fact_the_state_machine_misses() -> None:
    """Each bringer is tied to a guard: remove that guard from the facts and the wait appears."""
    done = BatchFacts(sm.REGULAR, content_complete=True, essays_stored=True, associations_confirmed=True)
    assert waiting_for(sm.SVC, done) is not None and waiting_for(sm.SVC, done).code == "BOS_STEP"  # type: ignore[union-attr]
    assert waiting_for(sm.SVC, dataclasses.replace(done, essays_stored=False)) == ESSAYS_READY


def record(status: int, kind: int, **facts: object) -> BatchRecord:
    now = datetime.now(UTC)
    return BatchRecord(
        batch_id=str(uuid.uuid4()),
        owner_id="teacher",
        class_id="" if kind == sm.GUEST else str(uuid.uuid4()),
        batch_type=kind,  # type: ignore[arg-type]
        course_code=common_pb2.COURSE_CODE_SV1,
        title="",
        expected_essay_count=1,
        essay_ids=[str(uuid.uuid4())],
        status=status,  # type: ignore[arg-type]
        version=0,
        correlation_id="c",
        content_completed_at=facts.get("content_completed_at"),  # type: ignore[arg-type]
        every_upload_failed=False,
        essays_stored_at=facts.get("essays_stored_at"),  # type: ignore[arg-type]
        associations_confirmed_at=facts.get("associations_confirmed_at"),  # type: ignore[arg-type]
        stored_essay_count=int(facts.get("stored_essay_count", 0)),  # type: ignore[call-overload]
        created_at=now - timedelta(hours=1),
        updated_at=now,
        status_changed_at=now - timedelta(minutes=20),
    )


def test_reconcile_reissues_the_registration_and_the_match_request_only_when_they_may_be_missing() -> None:
    now = datetime.now(UTC)
    assert reissues(record(sm.ACV, sm.GUEST)) == (bos_events_pb2.BatchEssaysRegistered,)
    assert reissues(record(sm.ASV, sm.REGULAR, content_completed_at=now)) == (bos_events_pb2.StudentMatchingInitiate,)
    # Essays stored with their students: CMS confirmed, so no match is missing.
    ahead = record(sm.ASV, sm.REGULAR, content_completed_at=now, essays_stored_at=now, stored_essay_count=1)
    assert reissues(ahead) == ()
    assert reissues(record(sm.SVC, sm.REGULAR, associations_confirmed_at=now)) == ()
    assert sm.READY not in RECONCILABLE and sm.PROCESSING not in RECONCILABLE
    assert not RECONCILABLE & sm.TERMINAL_STATUSES


def test_the_wire_batch_says_since_when_and_for_what() -> None:
    batch = encoding.batch(record(sm.ACV, sm.REGULAR))
    assert batch.waiting_for.code == "CONTENT_COMPLETION"
    assert timedelta(minutes=20) <= batch.waited.ToTimedelta() < timedelta(minutes=21)
    assert batch.status_since.ToDatetime(UTC) < batch.updated_at.ToDatetime(UTC)
    finished = encoding.batch(record(sm.CANCELLED, sm.GUEST))
    assert not finished.HasField("waiting_for")
