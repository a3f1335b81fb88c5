"""The matcher's worker pool with real worker processes: budgets, stuck and dying workers, fairness."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bench.hostile_essays import HOSTILE_ESSAYS
from essayflow.common.v1 import common_pb2
from services.nlp import pool as pool_module
from services.nlp.pool import MatcherPool
from services.nlp.suggestions import EssayToMatch
from tests.integration.nlp import stuck_workers
from tests.support import eventually

OVER_BUDGET = common_pb2.NO_MATCH_REASON_ANALYSIS_BUDGET_EXCEEDED
ROOT = Path(__file__).resolve().parents[3]
ROSTER = [
    common_pb2.Student(student_id="s-tova", first_name="Tova", last_name="Ekdahl"),
    common_pb2.Student(student_id="s-ture", first_name="Ture", last_name="Wikström"),
    common_pb2.Student(student_id="s-anna", first_name="Anna", last_name="Lind"),
]


def tova(essay_id: str) -> EssayToMatch:
    return EssayToMatch(essay_id, "uppsats.docx", "Namn: Tova Ekdahl\n\nOm skolan och eleverna.")


def ture(essay_id: str) -> EssayToMatch:
    return EssayToMatch(essay_id, "uppsats.docx", "Ture Wikström\n\nOm läxor.")


def hostile(essay_id: str, kind: str = "header_spaces") -> EssayToMatch:
    return EssayToMatch(essay_id, "uppsats.docx", HOSTILE_ESSAYS[kind](50_000))


def worker_starts() -> float:
    return REGISTRY.get_sample_value("essayflow_matcher_worker_starts_total") or 0.0


def top(result: common_pb2.EssayMatchResult) -> str:
    return result.suggestions[0].student.student_id if result.suggestions else ""


async def no_workers_left() -> bool:
    # active_children() also reaps the workers that have ended.
    return not multiprocessing.active_children()


@pytest.fixture
def stuck_on_hostile_essays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "_worker_match", stuck_workers.match_with_the_historic_separator)


@pytest.mark.usefixtures("stuck_on_hostile_essays")
async def test_an_essay_over_budget_is_reported_and_every_other_essay_is_matched() -> None:
    # One worker: the essays behind the stuck one are matched only if its worker is reclaimed.
    pool = MatcherPool(workers=1, essay_budget_s=1.0)
    starts = worker_starts()
    try:
        batch, other = await asyncio.gather(
            pool.match(ROSTER, [tova("e-1"), hostile("e-hostile"), ture("e-3")]),
            pool.match(ROSTER, [ture("e-other")]),
        )
    finally:
        await pool.close()

    assert [r.essay_id for r in batch] == ["e-1", "e-hostile", "e-3"]
    assert (top(batch[0]), top(batch[2]), top(other[0])) == ("s-tova", "s-ture", "s-ture")
    stuck = batch[1]
    assert not stuck.suggestions
    assert stuck.no_match_reason == OVER_BUDGET
    assert stuck.detail == "matching took longer than 1 s"
    # The first worker, and the one that replaced the worker killed while stuck.
    assert worker_starts() - starts == 2
    await eventually(no_workers_left, message="worker processes left after close")


async def test_a_worker_that_dies_is_replaced_and_only_its_essay_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "_worker_match", stuck_workers.crash_on_marker)
    pool = MatcherPool(workers=1, essay_budget_s=30.0)
    try:
        crash = EssayToMatch("e-crash", "x.docx", f"Namn: Anna Lind\n\n{stuck_workers.CRASH}")
        results = await pool.match(ROSTER, [tova("e-1"), crash, ture("e-3")])
    finally:
        await pool.close()

    assert [top(r) for r in results] == ["s-tova", "", "s-ture"]
    assert results[1].no_match_reason == OVER_BUDGET
    assert "stopped" in results[1].detail


async def test_an_essay_arriving_during_the_warm_up_waits_for_its_lane_s_worker() -> None:
    pool = MatcherPool(workers=2, essay_budget_s=30.0)
    starts = worker_starts()
    try:
        _, results = await asyncio.gather(pool.warm(), pool.match(ROSTER, [tova("e-1"), ture("e-2")]))
        assert [top(r) for r in results] == ["s-tova", "s-ture"]
        # One process per lane, not one for the warm-up and another for the first essay.
        assert worker_starts() - starts == 2
        assert len(multiprocessing.active_children()) == 2
    finally:
        await pool.close()
    await eventually(no_workers_left, message="worker processes left after close")


@pytest.mark.usefixtures("stuck_on_hostile_essays")
async def test_closing_the_pool_stops_a_worker_stuck_in_an_essay() -> None:
    pool = MatcherPool(workers=1, essay_budget_s=600.0)
    starts = worker_starts()
    matching = asyncio.create_task(pool.match(ROSTER, [hostile("e-hostile")]))
    await eventually(lambda: _started_since(starts), message="worker started")
    await pool.close()

    with pytest.raises(RuntimeError, match="closed"):
        await matching
    await eventually(no_workers_left, message="worker processes left after close")


async def _started_since(starts: float) -> bool:
    return worker_starts() > starts


async def test_a_small_request_is_not_held_back_behind_a_large_one() -> None:
    pool = MatcherPool(workers=1, essay_budget_s=30.0)
    try:
        large = asyncio.create_task(pool.match(ROSTER, [tova(f"e-{i}") for i in range(60)]))
        small = asyncio.create_task(pool.match(ROSTER, [ture("e-small")]))
        done, _ = await asyncio.wait({large, small}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {small}
        assert top((await small)[0]) == "s-ture"
        assert [top(r) for r in await large] == ["s-tova"] * 60
    finally:
        await pool.close()


async def test_each_request_is_matched_against_its_own_roster() -> None:
    # More requests at once than a worker keeps rosters for, taking turns on one worker.
    pool = MatcherPool(workers=1, essay_budget_s=30.0)
    classes = [f"class-{i}" for i in range(pool_module._ROSTERS_KEPT + 2)]
    try:
        answers = await asyncio.gather(
            *(
                pool.match(
                    [common_pb2.Student(student_id=f"{name}-tova", first_name="Tova", last_name="Ekdahl")],
                    [tova(f"{name}-e{i}") for i in range(3)],
                )
                for name in classes
            )
        )
    finally:
        await pool.close()
    assert [[top(r) for r in results] for results in answers] == [[f"{name}-tova"] * 3 for name in classes]


async def test_a_caller_that_goes_away_does_not_stop_the_others() -> None:
    pool = MatcherPool(workers=1, essay_budget_s=30.0)
    try:
        leaving = asyncio.create_task(pool.match(ROSTER, [tova(f"e-{i}") for i in range(30)]))
        staying = asyncio.create_task(pool.match(ROSTER, [ture("e-stays")]))
        await asyncio.sleep(0)
        leaving.cancel()
        assert top((await staying)[0]) == "s-ture"
        with pytest.raises(asyncio.CancelledError):
            await leaving
        assert top((await pool.match(ROSTER, [tova("e-after")]))[0]) == "s-tova"
    finally:
        await pool.close()


@pytest.mark.timeout(120)  # a safety net; the assertion is that none was over budget
async def test_the_real_matcher_answers_every_hostile_essay_within_the_default_budget() -> None:
    pool = MatcherPool()
    try:
        essays = [hostile(f"e-{kind}", kind) for kind in sorted(HOSTILE_ESSAYS)]
        results = await pool.match(ROSTER, essays)
    finally:
        await pool.close()
    assert [r.no_match_reason for r in results if r.no_match_reason == OVER_BUDGET] == []
    assert [r.essay_id for r in results] == [e.essay_id for e in essays]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, "at least one worker"),
        ({"essay_budget_s": 0.0}, "positive"),
        ({"start_method": "fork"}, "spawn, forkserver"),
    ],
)
def test_a_pool_that_could_not_work_is_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MatcherPool(**options)  # type: ignore[arg-type]


# A service process with a pool: it matches once (so its workers are up), prints their pids, waits.
SERVICE_WITH_A_POOL = """
import asyncio, multiprocessing
from essayflow.common.v1 import common_pb2
from services.nlp.pool import MatcherPool
from services.nlp.suggestions import EssayToMatch

async def main():
    pool = MatcherPool(workers=2)
    roster = [common_pb2.Student(student_id="s", first_name="Anna", last_name="Lind")]
    await pool.match(roster, [EssayToMatch(str(i), "e.docx", "Namn: Anna Lind") for i in range(4)])
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    # A worker reparented to an init that does not reap is a zombie: ended all the same.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_workers_end_with_a_service_killed_with_kill_9(tmp_path: Path) -> None:
    script = tmp_path / "service_with_a_pool.py"
    script.write_text(SERVICE_WITH_A_POOL)
    service = await asyncio.create_subprocess_exec(
        sys.executable, str(script), stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        assert service.stdout is not None
        stdout = service.stdout

        async def pids_line() -> str:
            # The service logs to stdout too: the line of pids is the one of digits only.
            async for raw in stdout:
                line = raw.decode()
                if line.strip().replace(" ", "").isdigit():
                    return line
            raise AssertionError("the service ended without printing its workers")

        line = await asyncio.wait_for(pids_line(), 60)
        children = [int(pid) for pid in line.split()]
        assert len(children) >= 2, line  # two workers (and the resource tracker)
    finally:
        service.kill()
        await service.wait()

    async def all_ended() -> bool:
        return not any(_alive(pid) for pid in children)

    await eventually(all_ended, message="workers outlived their service")
