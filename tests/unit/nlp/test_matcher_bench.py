"""The promises of the confidence levels, checked on the labelled data `make bench` scores.

HIGH means safe to auto-confirm: on the repository's family data (and on the dev data, when it is
there) no HIGH suggestion names the wrong student and no essay that nobody can attribute gets HIGH.
These are invariants of the matcher, not figures to tune: accuracy and speed are reported by the bench.
"""

from __future__ import annotations

import pytest

from bench import matcher_bench
from bench.matching_families import DATA, SEED, dumps, generate


@pytest.fixture(scope="module")
def family_figures() -> dict[str, object]:
    return matcher_bench.score_batches(matcher_bench.load_batches(DATA), group_by="family")


def test_the_bench_reads_the_repositorys_own_data_by_default() -> None:
    assert matcher_bench.DEFAULT_DATA == DATA
    assert DATA.is_file()


def test_no_wrong_high_and_no_high_for_unattributable_essays(family_figures: dict[str, object]) -> None:
    assert matcher_bench.invariant_breaches(family_figures) == []


def test_every_family_is_reported(family_figures: dict[str, object]) -> None:
    by_family = family_figures["by_pattern"]
    assert isinstance(by_family, dict)
    assert set(by_family) >= {
        "title_and", "header_below", "letter", "email_from", "signature_forms", "short_forms",
        "twins_email", "given_name_prefix", "caps_title", "file_text_conflict", "unattributable",
    }  # fmt: skip


def test_the_dev_data_keeps_the_promises_too() -> None:
    path = matcher_bench.dev_data_path()
    if not path.is_file():
        pytest.skip("no dev data here")
    figures = matcher_bench.score_batches(matcher_bench.load_batches(path))
    assert matcher_bench.invariant_breaches(figures) == []


def test_a_wrong_high_is_reported_as_a_broken_promise() -> None:
    batch = {
        "roster": [{"student_id": "a", "first_name": "Anna", "last_name": "Lind"}],
        "essays": [
            {"essay_id": "1", "text": "Namn: Anna Lind\n\nText.", "expected_student_id": None, "family": "x"},
        ],
    }
    breaches = matcher_bench.invariant_breaches(matcher_bench.score_batches([batch], group_by="family"))
    assert breaches == ["HIGH precision 0.0%: 1 wrong HIGH", "1 unattributable essays got HIGH"]


def test_the_generator_reproduces_the_committed_data() -> None:
    pytest.importorskip("faker")
    assert dumps(generate(SEED)) == DATA.read_text(encoding="utf-8")
