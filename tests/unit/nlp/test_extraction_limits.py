"""Extraction stays linear on the longest text an essay may have."""

from __future__ import annotations

import time

import pytest

from services.nlp.extraction import Signal, extract_candidates

LONGEST_ESSAY = 50_000


@pytest.mark.parametrize("run", ["x", "_", ".", "-", "x@"], ids=["letters", "underscores", "dots", "dashes", "at"])
def test_a_long_run_of_address_characters_is_read_in_linear_time(run: str) -> None:
    text = "Namn: " + run * (LONGEST_ESSAY // len(run))
    started = time.perf_counter()
    extract_candidates(text, "essay.docx")
    # Quadratic scanning took about 24 s here; linear takes a few milliseconds.
    assert time.perf_counter() - started < 2.0


def test_an_address_after_punctuation_or_a_word_is_still_found() -> None:
    found = extract_candidates("Uppsats om skolan\n(anna.lind@skolan.example)\n\nText.", "e.docx")
    addresses = [c.span for c in found.candidates if c.signal is Signal.EMAIL]
    assert addresses == ["anna.lind@skolan.example"]
