"""Quality and speed of the student matcher on labelled batches.

    python -m bench.matcher_bench [--data PATH] [--json OUT] [--half even|odd]

The data defaults to shared/data/matching/dev.jsonl beside the repository (override with the
ESSAYFLOW_MATCHING_DATA environment variable or --data). The `pattern` tag of an essay is read here,
for reporting only; the matcher never sees it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.hostile_essays import HOSTILE_ESSAYS, LONGEST_ESSAY
from essayflow.common.v1 import common_pb2
from services.nlp.extraction import extract_candidates
from services.nlp.matching import RosterIndex, Student, confidence_level, match_essay

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "matching" / "dev.jsonl"
SPEED_ROSTER_SIZE = 30
_MIN_SPEED_SECONDS = 1.0

_LEVELS = common_pb2.AssociationConfidenceLevel


def _level_name(value: int) -> str:
    return str(_LEVELS.Name(value)).removeprefix("ASSOCIATION_CONFIDENCE_LEVEL_")


_HIGH = _level_name(common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH)
_MEDIUM = _level_name(common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM)
_LEVEL_ORDER = [
    _level_name(v)
    for v in (
        common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH,
        common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM,
        common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW,
        common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH,
    )
]


@dataclass
class _Tally:
    essays: int = 0
    with_expected: int = 0
    top1_correct: int = 0
    high: int = 0
    high_correct: int = 0
    without_expected: int = 0
    null_high: int = 0
    null_medium: int = 0
    levels: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, expected: str | None, top_id: str | None, level: str) -> None:
        self.essays += 1
        self.levels[level] += 1
        if expected is None:
            self.without_expected += 1
            self.null_high += level == _HIGH
            self.null_medium += level == _MEDIUM
            return
        self.with_expected += 1
        self.top1_correct += top_id == expected
        if level == _HIGH:
            self.high += 1
            self.high_correct += top_id == expected

    def figures(self) -> dict[str, Any]:
        return {
            "essays": self.essays,
            "with_expected": self.with_expected,
            "top1_accuracy": _ratio(self.top1_correct, self.with_expected),
            "high_suggestions": self.high,
            # HIGH on an essay without an expected student is wrong too.
            "high_precision": _ratio(self.high_correct, self.high + self.null_high),
            "without_expected": self.without_expected,
            "null_high": self.null_high,
            "null_medium": self.null_medium,
            "null_medium_rate": _ratio(self.null_medium, self.without_expected),
            "levels": {name: self.levels.get(name, 0) for name in _LEVEL_ORDER},
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def load_batches(data_path: Path) -> list[dict[str, Any]]:
    with data_path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _students(batch: dict[str, Any]) -> list[Student]:
    return [
        Student(s["student_id"], s.get("first_name", ""), s.get("last_name", ""), s.get("email"))
        for s in batch["roster"]
    ]


def score_batches(batches: list[dict[str, Any]]) -> dict[str, Any]:
    overall = _Tally()
    by_pattern: dict[str, _Tally] = defaultdict(_Tally)
    misses: list[dict[str, Any]] = []
    for batch in batches:
        roster = RosterIndex.build(_students(batch))
        for essay in batch["essays"]:
            suggestions = match_essay(roster, essay["text"], essay.get("file_name", ""))
            top = suggestions[0] if suggestions else None
            level = _level_name(confidence_level(top.confidence_score if top else 0.0))
            expected = essay.get("expected_student_id")
            top_id = top.student_id if top else None
            overall.add(expected, top_id, level)
            by_pattern[essay.get("pattern", "")].add(expected, top_id, level)
            wrong = top_id != expected if expected is not None else level in (_HIGH, _MEDIUM)
            if wrong:
                misses.append(
                    {
                        "batch_id": batch.get("batch_id"),
                        "essay_id": essay.get("essay_id"),
                        "pattern": essay.get("pattern"),
                        "expected": expected,
                        "top": top_id,
                        "level": level,
                        "score": top.confidence_score if top else None,
                    }
                )
    return {
        "overall": overall.figures(),
        "by_pattern": {p: t.figures() for p, t in sorted(by_pattern.items())},
        "misses": misses,
    }


def measure_speed(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Essays per second against a roster of exactly 30 students, roster preparation included."""
    pool = [s for batch in batches for s in _students(batch)]
    workloads: list[tuple[list[Student], list[tuple[str, str]]]] = []
    for batch in batches:
        roster = _students(batch)[:SPEED_ROSTER_SIZE]
        known = {s.student_id for s in roster}
        for extra in pool:
            if len(roster) >= SPEED_ROSTER_SIZE:
                break
            if extra.student_id not in known:
                roster.append(extra)
                known.add(extra.student_id)
        essays = [(e["text"], e.get("file_name", "")) for e in batch["essays"]]
        workloads.append((roster, essays))

    processed = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < _MIN_SPEED_SECONDS or processed == 0:
        for roster, essays in workloads:
            index = RosterIndex.build(roster)
            for text, file_name in essays:
                match_essay(index, text, file_name)
            processed += len(essays)
        elapsed = time.perf_counter() - started
    return {
        "roster_size": SPEED_ROSTER_SIZE,
        "essays": processed,
        "seconds": round(elapsed, 3),
        "essays_per_second": round(processed / elapsed, 1),
    }


def measure_hostile(rounds: int = 3) -> dict[str, float]:
    """Milliseconds extraction takes on each hostile essay (the best of a few rounds)."""
    figures: dict[str, float] = {}
    for kind, make in sorted(HOSTILE_ESSAYS.items()):
        text = make(LONGEST_ESSAY)
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            extract_candidates(text, "uppsats.docx")
            best = min(best, time.perf_counter() - started)
        figures[kind] = round(1000 * best, 2)
    return figures


def run(data_path: Path | str | None = None, half: str | None = None) -> dict[str, Any]:
    """All bench figures for the data file (default: the dev data beside the repository)."""
    path = Path(data_path) if data_path else Path(os.environ.get("ESSAYFLOW_MATCHING_DATA", DEFAULT_DATA))
    batches = load_batches(path)
    if half == "even":
        batches = batches[::2]
    elif half == "odd":
        batches = batches[1::2]
    figures = score_batches(batches)
    figures["speed"] = measure_speed(batches)
    figures["hostile_extraction_ms"] = measure_hostile()
    figures["data"] = path.name
    return figures


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(figures: dict[str, Any]) -> str:
    rows = [("ALL", figures["overall"]), *figures["by_pattern"].items()]
    header = (
        f"{'pattern':<24}{'n':>5}{'top-1':>9}{'HIGH prec':>11}{'HIGH':>6}{'null':>6}{'null H':>8}{'null M':>8}  levels"
    )
    lines = [header, "-" * len(header)]
    for name, row in rows:
        levels = " ".join(f"{k[0]}{v}" for k, v in row["levels"].items())
        lines.append(
            f"{name:<24}{row['essays']:>5}{_percent(row['top1_accuracy']):>9}{_percent(row['high_precision']):>11}"
            f"{row['high_suggestions']:>6}{row['without_expected']:>6}{row['null_high']:>8}{row['null_medium']:>8}"
            f"  {levels}"
        )
    speed = figures["speed"]
    lines.append("")
    lines.append(
        f"speed: {speed['essays_per_second']:.0f} essays/s with a {speed['roster_size']}-student roster "
        f"({speed['essays']} essays in {speed['seconds']} s)"
    )
    hostile = ", ".join(f"{kind} {ms:g} ms" for kind, ms in figures["hostile_extraction_ms"].items())
    lines.append(f"extraction of {LONGEST_ESSAY:,}-character hostile essays: {hostile}")
    if figures["misses"]:
        lines.append(f"misses: {len(figures['misses'])} (listed with --json)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=None, help="labelled batches (JSON lines)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--half", choices=("even", "odd"), default=None, help="only every other batch")
    args = parser.parse_args(argv)
    figures = run(args.data, half=args.half)
    print(render(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
