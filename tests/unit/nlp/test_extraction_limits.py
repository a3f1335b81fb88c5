"""Extraction does linear work whatever the essay holds, and reads ordinary essays as before.

The work is measured, not timed: every pattern the extraction runs is wrapped so that the tests see
what it was given. A whitespace run reaching a pattern (other than the normaliser's) is what made
the old separators quadratic; a span longer than a line's cap reaching a name pattern is what the
cap rules out; the total scanned is what "linear" means.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.hostile_essays import HOSTILE_ESSAYS, LONGEST_ESSAY
from services.nlp import extraction, normalize
from services.nlp.extraction import MAX_CANDIDATES_PER_PLACE, Signal, extract_candidates
from services.nlp.normalize import MAX_LINE_CHARACTERS, essay_lines

# The patterns as they were before extraction was made linear: the reference for what the
# rewritten ones must still find. Each one is quadratic on a long whitespace run.
OLD_BYLINE = re.compile(
    r"^(?P<before>.*?)(?:^|\s)(?P<keyword>skriven av|skrivet av|written by|inlämnad av|submitted by|av|by)\s+"
    r"(?P<value>\S.*)$",
    re.IGNORECASE,
)
OLD_SELF_INTRO = re.compile(
    r"(?:^|(?<=[\s(]))(?P<phrase>jag heter|mitt namn är|mitt namn ar|my name is|i am called|i'm called|"
    r"i am|i'm|jag är|vi heter|we are|our names are|våra namn är)\s+(?P<value>[^\n]+)",
    re.IGNORECASE,
)
OLD_NEXT_FIELD = re.compile(r"\s{2,}|\t|\s+\|\s+|\s+(?=[^\W\d_][\w-]{1,20}\s?:)")
OLD_LABELLED_LINE = re.compile(r"^\s*(?P<label>[^\W\d_][^:;]{0,28}?)\s*[:;]\s*(?P<value>.*)$")
OLD_EMAIL = re.compile(r"(?<![\w.+'-])[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
OLD_TITLE_SEPARATOR = re.compile(r"\s+[-\u2013\u2014|/]\s+|\s*[\u2013\u2014|]\s*|[()\[\]]")
OLD_NAME_SEPARATOR = re.compile(r"\s+(?:och|and|&|samt|\+|med|with|og|und)\s+|\s*[;/&+]\s*", re.IGNORECASE)

# Short strings made of what the separators and labels are built from, whitespace of every kind
# included: where the old and new patterns could disagree, if anywhere.
PIECES = [" ", " ", "  ", "\t", "\u00a0", "\u2003", "\n", "-", "\u2013", "\u2014", "|", "/", "(", ")", "[", "]",
          ";", "&", "+", ",", ":", ".", "@", "'", "a", "A", "Anna", "Lind", "och", "and", "med", "by", "av",
          "Skriven av", "jag heter", "I am", "Namn", "Klass", "x.y", "9B", "se", "ö"]  # fmt: skip
fragments = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


@given(fragments)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_separators_split_where_the_old_ones_did(text: str) -> None:
    assert extraction._TITLE_SEPARATOR.split(text) == OLD_TITLE_SEPARATOR.split(text)
    assert extraction._NAME_SEPARATOR.split(text) == OLD_NAME_SEPARATOR.split(text)
    assert extraction._first_field(text.lstrip()) == OLD_NEXT_FIELD.split(text.lstrip(), maxsplit=1)[0].strip()


@given(fragments)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_labels_bylines_and_addresses_are_read_as_before(text: str) -> None:
    line = text.replace("\n", " ")
    assert _groups(extraction._LABELLED_LINE.match(line)) == _groups(OLD_LABELLED_LINE.match(line))
    assert _groups(extraction._BYLINE.match(line)) == _groups(OLD_BYLINE.match(line))
    assert extraction._EMAIL.findall(text) == OLD_EMAIL.findall(text)
    assert _introductions(extraction._SELF_INTRO, text) == _introductions(OLD_SELF_INTRO, text)


def _groups(match: re.Match[str] | None) -> dict[str, str] | None:
    return match.groupdict() if match else None


def _introductions(pattern: re.Pattern[str], text: str) -> list[tuple[str, str]]:
    # An introduction followed by nothing but whitespace names nobody, whichever pattern saw it.
    return [(m["phrase"], m["value"]) for m in pattern.finditer(text) if m["value"].strip()]


names = st.sampled_from(["Anna Lind", "Lind, Anna", "anna lind", "A. Lind", "Karl Olsson", "Åsa Öberg", "Al-Sayed"])
line_kinds = st.one_of(
    names,
    names.map(lambda n: f"Namn: {n}"),
    names.map(lambda n: f"Namn:  {n}  Klass: 9B"),
    names.map(lambda n: f"Uppsatsen \u2013 {n}"),
    names.map(lambda n: f"Skriven av {n} och Karl"),
    names.map(lambda n: f"Jag heter {n}."),
    names.map(lambda n: f"Mvh {n}"),
    st.just("anna.lind@skolan.example"),
    st.just("Det här är en text om skolan och om hur eleverna har det i dag."),
)
essays = st.lists(line_kinds, min_size=1, max_size=8).map("\n".join)


@given(essays, st.integers(min_value=3, max_value=3_000), st.sampled_from([" ", "\t", "\u00a0"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_whitespace_run_reads_the_same_whatever_its_length(text: str, length: int, kind: str) -> None:
    longer = text.replace("  ", kind * length).replace(" \u2013 ", f"{kind * length}\u2013{kind * length}")
    assert extract_candidates(longer, "uppsats.docx") == extract_candidates(text, "uppsats.docx")


def test_lines_are_normalised_before_any_pattern_sees_them() -> None:
    assert essay_lines("  Namn:\t Anna    Lind \u00a0\u00a0 Klass: 9B\r\n\n   \nText") == [
        "Namn:  Anna  Lind  Klass: 9B",
        "Text",
    ]
    # A single space or tab is kept: a tab ends a field, a space does not.
    assert essay_lines("Namn: Anna\tKlass: 9B") == ["Namn: Anna\tKlass: 9B"]


# --- the work done on hostile essays ------------------------------------------------------------


@dataclass
class Scans:
    """What each pattern was given to scan."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    def total(self) -> int:
        return sum(len(text) for _, text in self.calls)

    def longest_run(self, *, except_for: str) -> int:
        runs = (len(run) for name, text in self.calls if name != except_for for run in _RUNS.findall(text))
        return max(runs, default=0)

    def longest_input(self, names: frozenset[str]) -> int:
        return max((len(text) for name, text in self.calls if name in names), default=0)


_RUNS = re.compile(r"\s+")


class RecordingPattern:
    def __init__(self, name: str, pattern: re.Pattern[str], scans: Scans) -> None:
        self._name, self._pattern, self._scans = name, pattern, scans

    def __getattr__(self, method: str) -> Callable[..., Any]:
        wrapped = getattr(self._pattern, method)

        def call(*args: Any) -> Any:
            # sub(replacement, text); match/fullmatch/search(text, pos, endpos); the others (text, ...).
            text: str = args[1] if method == "sub" else args[0]
            end = args[2] if method in ("match", "fullmatch", "search") and len(args) > 2 else len(text)
            self._scans.calls.append((self._name, text[:end]))
            return wrapped(*args)

        return call


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Scans]:
    recorded = Scans()
    for module in (extraction, normalize):
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                monkeypatch.setattr(module, name, RecordingPattern(name, value, recorded))
    yield recorded


# Patterns that read names: they only ever see a header or footer line, a field or a first sentence.
NAME_PATTERNS = frozenset(
    {"_BYLINE", "_SIGN_OFF", "_NEXT_FIELD", "_TITLE_SEPARATOR", "_NAME_SEPARATOR", "_LOWER_CASE_NAME_LINE",
     "_SENTENCE", "_YEAR_OR_PAGE"}
)  # fmt: skip


@pytest.mark.timeout(60)  # a safety net if extraction ever regresses; the assertions are on work
@pytest.mark.parametrize("kind", sorted(HOSTILE_ESSAYS))
def test_a_hostile_essay_costs_linear_work(kind: str, scans: Scans) -> None:
    text = HOSTILE_ESSAYS[kind](LONGEST_ESSAY)
    assert len(text) == LONGEST_ESSAY

    extract_candidates(text, "uppsats.docx")

    assert scans.calls, "the recorder saw no pattern run"
    # No pattern but the normaliser ever sees a run of more than two whitespace characters.
    assert scans.longest_run(except_for="_WHITESPACE_RUN") <= 2
    assert scans.longest_input(NAME_PATTERNS) <= MAX_LINE_CHARACTERS
    # Every character is scanned a bounded number of times.
    assert scans.total() <= 12 * len(text)


@pytest.mark.parametrize("kind", sorted(HOSTILE_ESSAYS))
def test_a_hostile_essay_yields_at_most_a_handful_of_candidates(kind: str) -> None:
    found = extract_candidates(HOSTILE_ESSAYS[kind](LONGEST_ESSAY), "uppsats.docx").candidates
    per_place = [sum(1 for c in found if c.signal is signal) for signal in (Signal.SELF_INTRO, Signal.EMAIL)]
    assert max(per_place) <= MAX_CANDIDATES_PER_PLACE
    assert len(found) == len(set(found))


def test_repeated_introductions_and_addresses_are_read_once_and_at_most_a_few() -> None:
    lines = [f"Jag heter Anna{chr(ord('a') + i % 26)} Lind." for i in range(200)]
    lines += [f"kontakt{i}@skolan.example" for i in range(200)] + ["Jag heter Anna Lind."] * 50
    found = extract_candidates("\n".join(["Uppsats", "", *lines]), "e.docx").candidates
    assert sum(1 for c in found if c.signal is Signal.SELF_INTRO) == MAX_CANDIDATES_PER_PLACE
    assert sum(1 for c in found if c.signal is Signal.EMAIL) == MAX_CANDIDATES_PER_PLACE


def test_a_line_longer_than_a_name_line_is_prose() -> None:
    long_line = "Anna Lind " + "x" * MAX_LINE_CHARACTERS
    found = extract_candidates(f"{long_line}\n\nText om skolan.\n\n{long_line}", "e.docx").candidates
    assert [c.signal for c in found] == [Signal.FILE_NAME]


@pytest.mark.timeout(60)  # a safety net: quadratic scanning took 24 s here, linear a few milliseconds
@pytest.mark.parametrize("run", ["x", "_", ".", "-", "x@"], ids=["letters", "underscores", "dots", "dashes", "at"])
def test_a_long_run_of_address_characters_is_no_address(run: str) -> None:
    # Without the look-behind every position inside the run would start another scan of the run.
    found = extract_candidates("Namn: " + run * (LONGEST_ESSAY // len(run)), "essay.docx").candidates
    assert not [c for c in found if c.signal is Signal.EMAIL]


def test_an_address_after_punctuation_or_a_word_is_still_found() -> None:
    found = extract_candidates("Uppsats om skolan\n(anna.lind@skolan.example)\n\nText.", "e.docx")
    addresses = [c.span for c in found.candidates if c.signal is Signal.EMAIL]
    assert addresses == ["anna.lind@skolan.example"]
