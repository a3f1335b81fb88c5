"""Who wrote this essay? Match the extracted candidate names against the class roster.

Scoring in three steps:
1. Each candidate is compared with every roster student by name words (rapidfuzz, optimal string
   alignment so a swapped letter is one typo). How much of the student's name it accounts for decides
   the kind of match: full name, initial and surname, a single name that only one student has, or a
   surname whose given name disagrees. The kind and the place the candidate was found give a score.
2. Evidence for the same student from several places adds up: the strongest piece of each signal, each
   further signal counting half as much as the one before, is the student's weight of evidence.
3. Students compete on that weight: when another student is nearly as plausible (two students could be
   meant) the leading score is scaled down by its share of the plausibility, so ambiguity lowers
   confidence instead of guessing, and a tie stays a tie. When two places each clearly name a different
   student (the file name one, the text another) the evidence conflicts and no suggestion is above LOW.
   Group work caps every score below MEDIUM, since no single author can be named. The reasons say which
   signals agreed, which conflicted and who the rivals are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import OSA

from essayflow.common.v1 import common_pb2
from services.nlp.extraction import Candidate, Signal, extract_candidates
from services.nlp.nicknames import short_forms
from services.nlp.normalize import compact, is_initial, word_parts


@dataclass(frozen=True)
class Student:
    student_id: str
    first_name: str
    last_name: str
    email: str | None = None


@dataclass
class Suggestion:
    student_id: str
    confidence_score: float
    match_reasons: list[dict[str, Any]] = field(default_factory=list)


# How far a place in the essay can be trusted to name the author, for an exact full name there.
_SIGNAL_WEIGHT: dict[Signal, float] = {
    Signal.HEADER_LABEL: 1.0,
    Signal.SELF_INTRO: 0.99,
    Signal.SIGNATURE: 0.98,
    Signal.FIRST_LINE: 0.98,
    Signal.TITLE: 0.96,
    Signal.FILE_NAME: 0.96,
    # A name in an address that is not the student's roster address may belong to someone else.
    Signal.EMAIL_NAME: 0.88,
    Signal.EMAIL: 1.0,
}
# Places where words other than names are expected (file names, address local parts): an unmatched
# word there says nothing, so a lone matched name is weak evidence rather than a contradiction.
_NOISY_SIGNALS = frozenset({Signal.FILE_NAME, Signal.EMAIL_NAME})
_NOISY_SINGLE_NAME = 0.6
# A single word on a line of its own at the top is as likely a title ('Alice', 'Berg') as a name.
_UNLABELLED_LINES = frozenset({Signal.FIRST_LINE, Signal.TITLE})
_UNLABELLED_SINGLE_NAME = 0.82

# Score of each kind of match for an exact spelling, before the signal weight.
_INITIAL_AND_SURNAME = 0.86
# 'E.L.' alone: the initials of exactly one student at best, and of nobody in particular at worst.
_INITIALS_ONLY = 0.6
# 'Amina Huss.': the given name and the start of the surname.
_ABBREVIATED_SURNAME = 0.86
_MAX_ABBREVIATION = 4
# 'sagawallin' (an address, a file name): given name and surname glued; where they split is a guess.
_GLUED_FULL_NAME = 0.98
_SINGLE_NAME = 0.8
_SURNAME_OTHER_GIVEN_NAME = 0.55
_SURNAME_SAME_INITIAL_BONUS = 0.05
_GIVEN_NAME_OTHER_SURNAME = 0.35
_ROSTER_EMAIL = 0.99
_ROSTER_EMAIL_LOCAL_PART = 0.85
_MAX_SCORE = 0.99

# Name words closer than this (OSA normalised similarity) may be the same name misspelt.
_MIN_WORD_SIMILARITY = 0.75
# A form that is only part of a roster name (one of two given names, one half of a double surname).
# One of a student's given names counts as much as all of them: Swedish rosters list every given name,
# and a student goes by any one of them ('Elisabeth' may be 'Elisabeth' or 'Elisabeth Nora').
_GIVEN_NAME_PART = 1.0
# 'Kalle' for Karl: a short form of the given name is as good as a misspelling of it.
_SHORT_FORM = 0.8
# 'Fredde Johansson' when Fredrik and Astrid Johansson are both in the class: the surname cannot tell,
# and whether 'Fredde' is Fredrik is a guess, so a short form beside a shared surname stays LOW.
_SHORT_FORM_SHARED_SURNAME = 0.62
_SURNAME_PART = 0.9
_EXTRA_WORD_PENALTY = 0.01
_UNEXPECTED_ORDER_PENALTY = 0.02

_HYPHEN = re.compile(r"[-\u2010\u2011\u2012\u2013\u2014]")

_GROUP_WORK_CAP = 0.5
# Softmax temperature of the competition between students: a lead of 0.05 keeps ~96 % of the score.
_AMBIGUITY_TEMPERATURE = 0.015
_CORROBORATION = 0.25
# How much each further independent signal adds to a student's weight of evidence in the competition
# (the second signal, the third ...): evidence adds up, so a roster address beside a name that two
# students share decides between them.
_ADDED_EVIDENCE = (1.0, 0.5, 0.25, 0.125)
# A place in the essay names a student when it gives them at least this, and nobody else close: a
# given name alone that only one student has, even in a file name ('kevin.docx'), names them.
_NAMES_STUDENT = 0.45
_NAMES_STUDENT_LEAD = 0.1
# Two places naming two different students: nobody can be suggested above LOW.
_CONFLICT_CAP = 0.6
_MIN_SUGGESTION = 0.15
_MAX_SUGGESTIONS = 5

# Confidence level boundaries (issue 7): HIGH above 0.9, MEDIUM from 0.7 up to 0.9, LOW below.
_HIGH_ABOVE = 0.9
_MEDIUM_FROM = 0.7


@dataclass(frozen=True)
class _FormOwner:
    student: int
    weight: float


@dataclass
class RosterIndex:
    """A roster prepared once per batch: folded name forms and addresses, indexed for lookup."""

    students: list[Student]
    given_forms: list[str]
    given_owners: list[list[_FormOwner]]
    surname_forms: list[str]
    surname_owners: list[list[_FormOwner]]
    given_initials: list[str]
    surname_initials: list[str]
    emails: dict[str, int]
    email_local_parts: dict[str, list[int]]
    # Each student's surname forms (whole and by part), for abbreviations ('Lun.').
    surname_parts: list[tuple[str, ...]]
    # Given name and surname glued into one word ('sagawallin', 'wallinsaga').
    glued: dict[str, list[int]]
    # Short forms of given names ('kalle') and the students whose given name they shorten.
    short_form_students: dict[str, set[int]]
    # How many students have each surname (folded, whole).
    surname_counts: dict[str, int]

    @classmethod
    def build(cls, students: Iterable[Student]) -> RosterIndex:
        roster = list(students)
        given: dict[str, list[_FormOwner]] = {}
        surname: dict[str, list[_FormOwner]] = {}
        emails: dict[str, int] = {}
        local_parts: dict[str, list[int]] = {}
        glued: dict[str, list[int]] = {}
        short: dict[str, set[int]] = {}
        surname_counts: dict[str, int] = {}
        for index, student in enumerate(roster):
            for word in student.first_name.split():
                for part in word_parts(word):
                    for form in short_forms(part):
                        short.setdefault(form, set()).add(index)
            whole_surname = "".join(compact(w) for w in student.last_name.split())
            surname_counts[whole_surname] = surname_counts.get(whole_surname, 0) + 1
            _add_forms(given, index, student.first_name, _GIVEN_NAME_PART)
            _add_forms(surname, index, student.last_name, _SURNAME_PART)
            _add_short_forms(given, index, student.first_name)
            for form in _glued_forms(student):
                owners = glued.setdefault(form, [])
                if index not in owners:
                    owners.append(index)
            if student.email:
                address = student.email.strip().casefold()
                emails[address] = index
                local_parts.setdefault(address.split("@", 1)[0], []).append(index)
        return cls(
            students=roster,
            given_forms=list(given),
            given_owners=list(given.values()),
            surname_forms=list(surname),
            surname_owners=list(surname.values()),
            given_initials=[compact(s.first_name)[:1] for s in roster],
            surname_initials=[compact(s.last_name)[:1] for s in roster],
            emails=emails,
            email_local_parts=local_parts,
            surname_parts=[_name_forms(s.last_name) for s in roster],
            glued=glued,
            short_form_students=short,
            surname_counts=surname_counts,
        )


def _name_forms(name: str) -> tuple[str, ...]:
    words = name.split()
    whole = "".join(compact(w) for w in words)
    return tuple(dict.fromkeys([whole, *(part for word in words for part in word_parts(word))]))


def _glued_forms(student: Student) -> list[str]:
    given_words = student.first_name.split()
    given = [compact(given_words[0])] if given_words else []
    given += ["".join(compact(w) for w in given_words)] if len(given_words) > 1 else []
    surname = "".join(compact(w) for w in student.last_name.split())
    if not given or not surname:
        return []
    return [form for g in given for form in (g + surname, surname + g)]


def _add_short_forms(forms: dict[str, list[_FormOwner]], student: int, given_name: str) -> None:
    for word in given_name.split():
        for part in word_parts(word):
            for short in short_forms(part):
                owners = forms.setdefault(short, [])
                if not any(o.student == student for o in owners):
                    owners.append(_FormOwner(student, _SHORT_FORM))


def _add_forms(forms: dict[str, list[_FormOwner]], student: int, name: str, part_weight: float) -> None:
    """Index a roster name whole ('annamaria', 'lindqvistberg') and by its parts at a lower weight."""
    words = name.split()
    whole = "".join(compact(w) for w in words)
    parts = [part for word in words for part in word_parts(word)]
    entries = [(whole, 1.0)]
    if len(parts) > 1:
        # Very short parts ('Al' in 'Al-Sayed') would match far too much on their own.
        entries += [(part, part_weight) for part in parts if len(part) >= 3]
    for form, weight in entries:
        if not form:
            continue
        owners = forms.setdefault(form, [])
        existing = next((o for o in owners if o.student == student), None)
        if existing is None:
            owners.append(_FormOwner(student, weight))
        elif existing.weight < weight:
            owners[owners.index(existing)] = _FormOwner(student, weight)


@dataclass(frozen=True)
class _Token:
    """One written word, or two adjacent words read as one name ('Al Sayed', 'Anna Maria')."""

    start: int
    end: int
    form: str
    # Below 1 for one half of a written double name ('Lindqvist' of 'Lindqvist-Berg').
    weight: float = 1.0


@dataclass(frozen=True)
class _Evidence:
    student: int
    score: float
    reason: dict[str, Any]


def match_essay(roster: RosterIndex, text: str, file_name: str) -> list[Suggestion]:
    """Ranked suggestions of which roster student wrote the essay (best first, possibly none)."""
    extraction = extract_candidates(text, file_name)
    evidence: list[_Evidence] = []
    known_addresses: set[str] = set()
    for candidate in extraction.candidates:
        if candidate.signal is Signal.EMAIL:
            found = _email_evidence(roster, candidate)
            if found:
                known_addresses.add(candidate.span.casefold().split("@", 1)[0])
                evidence.append(found)
    for candidate in extraction.candidates:
        if candidate.signal is Signal.EMAIL:
            continue
        if candidate.signal is Signal.EMAIL_NAME and candidate.span.casefold() in known_addresses:
            # The roster address already says who this is; its local part is not a second witness.
            continue
        evidence.extend(_name_evidence(roster, candidate))

    if extraction.group_work:
        evidence = [_capped_for_group(e) for e in evidence]
    return _rank(roster, evidence, group_work=extraction.group_work)


def confidence_level(score: float) -> int:
    """The protobuf AssociationConfidenceLevel for a suggestion's score; NO_MATCH for no suggestion (0)."""
    if score > _HIGH_ABOVE:
        return int(common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH)
    if score >= _MEDIUM_FROM:
        return int(common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM)
    if score > 0:
        return int(common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW)
    return int(common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH)


def _email_evidence(roster: RosterIndex, candidate: Candidate) -> _Evidence | None:
    address = candidate.email or candidate.span.casefold()
    if address in roster.emails:
        return _Evidence(roster.emails[address], _ROSTER_EMAIL, _reason(candidate, "email", _ROSTER_EMAIL))
    local_part = address.split("@", 1)[0]
    owners = roster.email_local_parts.get(local_part, [])
    # 'axel.jonsson@privat.example' is as much Axel Jönsson's private address as Axel Jonsson's.
    as_name = compact("".join(ch for ch in local_part if ch.isalpha()))
    if len(owners) == 1 and len(roster.glued.get(as_name, [])) <= 1:
        # Same mailbox name at another domain: most likely the student's private address.
        score = _ROSTER_EMAIL_LOCAL_PART
        return _Evidence(owners[0], score, _reason(candidate, "email_local_part", score))
    return None


def _name_evidence(roster: RosterIndex, candidate: Candidate) -> list[_Evidence]:
    words = list(candidate.words)
    if not words:
        return []
    weight = _SIGNAL_WEIGHT[candidate.signal]
    if len(words) in (2, 3) and all(is_initial(w) for w in words):
        return _initials_evidence(roster, candidate, weight)
    tokens = _tokens(words)
    # A line in capitals at the top is a title far more often than a name ('MIN FRAMTID' is not
    # 'Amin'): there only an exact spelling counts.
    capitals = candidate.signal in _UNLABELLED_LINES and all(w.isupper() for w in words if len(w) > 1)
    cutoff = 1.0 if capitals else _MIN_WORD_SIMILARITY
    given_hits = {t: _similar(t, roster.given_forms, roster.given_owners, cutoff) for t in tokens}
    surname_hits = {t: _similar(t, roster.surname_forms, roster.surname_owners, cutoff) for t in tokens}
    initials = {i: compact(w)[:1] for i, w in enumerate(words) if is_initial(w)}
    abbreviations = {
        i: compact(w)
        for i, w in enumerate(words)
        if w.endswith(".") and not is_initial(w) and 2 <= len(compact(w)) <= _MAX_ABBREVIATION
    }

    # Words that match nobody's name are either a conflicting name or, in noisy places, filler.
    matched_words = {i for t in tokens if given_hits[t] or surname_hits[t] for i in range(t.start, t.end)}
    noisy = candidate.signal in _NOISY_SIGNALS
    name_word_count = len(matched_words | set(initials)) if noisy else len(words)

    students = {s for hits in given_hits.values() for s in hits} | {s for hits in surname_hits.values() for s in hits}
    found: list[_Evidence] = []
    for student in students:
        best = _best_reading(
            roster, student, tokens, given_hits, surname_hits, initials, name_word_count, noisy, candidate.surname_first
        )
        abbreviated = _abbreviated_reading(roster, student, given_hits, abbreviations)
        if abbreviated is not None and (best is None or abbreviated[1] > best[1]):
            best = abbreviated
        if best is None:
            continue
        kind, quality = best
        if noisy and kind in ("first_name", "last_name"):
            quality *= _NOISY_SINGLE_NAME
        elif candidate.signal in _UNLABELLED_LINES and kind in ("first_name", "last_name"):
            quality *= _UNLABELLED_SINGLE_NAME
        # Not capped yet: 'Anna Karin Svensson' fits Anna-Karin Svensson (1.0) better than Anna Svensson
        # (0.99), and the competition must see it; only the confidence is capped.
        score = weight * quality
        if candidate.shared_authorship:
            score = min(score, _GROUP_WORK_CAP)
        found.append(_Evidence(student, score, _reason(candidate, kind, score)))
    if len(words) == 1:
        found.extend(_glued_evidence(roster, candidate, tokens[0].form if tokens else "", weight))
    return found


def _initials_evidence(roster: RosterIndex, candidate: Candidate, weight: float) -> list[_Evidence]:
    """'E.L.': the students with these initials, given name first and surname last."""
    first, last = compact(candidate.words[0])[:1], compact(candidate.words[-1])[:1]
    score = weight * _INITIALS_ONLY
    if candidate.shared_authorship:
        score = min(score, _GROUP_WORK_CAP)
    return [
        _Evidence(student, score, _reason(candidate, "initials", score))
        for student in range(len(roster.students))
        if roster.given_initials[student] == first and roster.surname_initials[student] == last
    ]


def _abbreviated_reading(
    roster: RosterIndex,
    student: int,
    given_hits: dict[_Token, dict[int, float]],
    abbreviations: dict[int, str],
) -> tuple[str, float] | None:
    """'Amina Huss.': the given name, and a word ending in a full stop that starts the surname."""
    if not abbreviations:
        return None
    best: tuple[str, float] | None = None
    for token, hits in given_hits.items():
        if student not in hits:
            continue
        for index, prefix in abbreviations.items():
            if token.start <= index < token.end:
                continue
            if any(form.startswith(prefix) and form != prefix for form in roster.surname_parts[student]):
                quality = _ABBREVIATED_SURNAME * _single_quality(hits[student])
                if best is None or quality > best[1]:
                    best = ("first_name_abbreviated_last_name", quality)
    return best


def _glued_evidence(roster: RosterIndex, candidate: Candidate, form: str, weight: float) -> list[_Evidence]:
    """One word that is a student's given name and surname written together ('sagawallin')."""
    found: list[_Evidence] = []
    for student in roster.glued.get(form, []):
        score = weight * _GLUED_FULL_NAME
        if candidate.shared_authorship:
            score = min(score, _GROUP_WORK_CAP)
        found.append(_Evidence(student, score, _reason(candidate, "full_name", score)))
    return found


def _tokens(words: Sequence[str]) -> list[_Token]:
    forms = [compact(w) for w in words]
    initial = [is_initial(w) for w in words]
    singles = [_Token(i, i + 1, forms[i]) for i in range(len(words)) if not initial[i]]
    pairs = [
        _Token(i, i + 2, forms[i] + forms[i + 1])
        for i in range(len(words) - 1)
        if not initial[i] and not initial[i + 1]
    ]
    # A double name written where the roster has one half of it ('Anna Lind-Berg' for 'Anna Lind').
    halves: list[_Token] = []
    for i, word in enumerate(words):
        if _HYPHEN.search(word):
            parts = word_parts(word)
            if len(parts) > 1:
                halves.extend(_Token(i, i + 1, part, _SURNAME_PART) for part in parts if len(part) >= 3)
    return [t for t in singles + pairs + halves if t.form]


def _similar(
    token: _Token, vocabulary: list[str], owners: list[list[_FormOwner]], cutoff: float = _MIN_WORD_SIMILARITY
) -> dict[int, float]:
    """Students whose name form this written form may be, with the similarity (1.0 = same spelling)."""
    hits: dict[int, float] = {}
    matches = process.extract(token.form, vocabulary, scorer=OSA.normalized_similarity, score_cutoff=cutoff, limit=None)
    for _, similarity, index in matches:
        for owner in owners[index]:
            value = similarity * owner.weight * token.weight
            if value >= _MIN_WORD_SIMILARITY and value > hits.get(owner.student, 0.0):
                hits[owner.student] = value
    return hits


def _best_reading(
    roster: RosterIndex,
    student: int,
    tokens: list[_Token],
    given_hits: dict[_Token, dict[int, float]],
    surname_hits: dict[_Token, dict[int, float]],
    initials: dict[int, str],
    name_word_count: int,
    noisy: bool,
    surname_first: bool,
) -> tuple[str, float] | None:
    """The most favourable way to read the candidate as this student's name: (kind, quality)."""
    given = [(t, h[student]) for t, h in given_hits.items() if student in h]
    surname = [(t, h[student]) for t, h in surname_hits.items() if student in h]
    readings: list[tuple[str, float]] = []

    for g_token, g_sim in given:
        for s_token, s_sim in surname:
            if g_token.end <= s_token.start or s_token.end <= g_token.start:
                covered = (g_token.end - g_token.start) + (s_token.end - s_token.start)
                extra = 0 if noisy else max(0, name_word_count - covered)
                as_written = (g_token.start < s_token.start) != surname_first
                quality = _full_name_quality(g_sim, s_sim, extra, as_written)
                if student in roster.short_form_students.get(g_token.form, ()):
                    if roster.surname_counts.get(s_token.form, 0) > 1:
                        quality = min(quality, _SHORT_FORM_SHARED_SURNAME)
                    readings.append(("short_form_full_name", quality))
                else:
                    readings.append(("full_name", quality))

    initial = roster.given_initials[student]
    for s_token, s_sim in surname:
        others = [i for i in initials if not s_token.start <= i < s_token.end]
        if any(initials[i] == initial for i in others):
            readings.append(("initial_last_name", _INITIAL_AND_SURNAME * _single_quality(s_sim)))
        elif name_word_count == s_token.end - s_token.start:
            readings.append(("last_name", _SINGLE_NAME * _single_quality(s_sim)))
        else:
            # The surname fits but the given name written beside it is not this student's.
            bonus = _SURNAME_SAME_INITIAL_BONUS if _written_initials(tokens, s_token) & {initial} else 0.0
            readings.append(("last_name_other_given_name", (_SURNAME_OTHER_GIVEN_NAME + bonus) * s_sim))
    surname_initial = roster.surname_initials[student]
    for g_token, g_sim in given:
        others = [i for i in initials if not g_token.start <= i < g_token.end]
        if any(initials[i] == surname_initial for i in others):
            readings.append(("first_name_last_initial", _INITIAL_AND_SURNAME * _single_quality(g_sim)))
        elif name_word_count == g_token.end - g_token.start:
            readings.append(("first_name", _SINGLE_NAME * _single_quality(g_sim)))
        else:
            readings.append(("first_name_other_last_name", _GIVEN_NAME_OTHER_SURNAME * g_sim))
    return max(readings, key=lambda r: r[1]) if readings else None


def _full_name_quality(
    given_similarity: float, surname_similarity: float, extra_words: int, order_as_written: bool
) -> float:
    # One misspelt name costs half its error; a second misspelling costs more than the first, since
    # two independent typos are much rarer than one and outsiders often resemble a roster name in one word.
    given_error, surname_error = 1.0 - given_similarity, 1.0 - surname_similarity
    quality = 1.0 - 0.5 * (given_error + surname_error) - 0.5 * min(given_error, surname_error)
    quality -= _EXTRA_WORD_PENALTY * extra_words
    if not order_as_written:
        # 'Lind Anna' is a common way to write a name, but it is a guess that the order was swapped.
        quality -= _UNEXPECTED_ORDER_PENALTY
    return quality


def _single_quality(similarity: float) -> float:
    # A lone name has nothing to corroborate it, so a misspelling weighs more than in a full name.
    return max(0.0, 1.0 - 1.5 * (1.0 - similarity))


def _written_initials(tokens: list[_Token], surname: _Token) -> set[str]:
    return {t.form[:1] for t in tokens if t.end - t.start == 1 and not (surname.start <= t.start < surname.end)}


def _reason(candidate: Candidate, matched: str, score: float) -> dict[str, Any]:
    shown = round(min(_MAX_SCORE, score), 3)
    return {"signal": candidate.signal.value, "matched": matched, "value": candidate.span, "score": shown}


def _capped_for_group(evidence: _Evidence) -> _Evidence:
    if evidence.score <= _GROUP_WORK_CAP:
        return evidence
    reason = dict(evidence.reason, score=_GROUP_WORK_CAP)
    return _Evidence(evidence.student, _GROUP_WORK_CAP, reason)


def _rank(roster: RosterIndex, evidence: list[_Evidence], *, group_work: bool) -> list[Suggestion]:
    by_student: dict[int, list[_Evidence]] = {}
    for item in evidence:
        by_student.setdefault(item.student, []).append(item)
    if not by_student:
        return []
    combined = {student: _combine(items) for student, items in by_student.items()}
    weight = {student: _weight_of_evidence(items) for student, items in by_student.items()}
    # Several names in group work are the group, not a conflict (group work has its own reason and cap).
    named = {} if group_work else _named_students(evidence)

    suggestions: list[Suggestion] = []
    for student, score in combined.items():
        # Share of the plausibility among all students this essay could be by, on the evidence added up.
        total = sum(math.exp((other - weight[student]) / _AMBIGUITY_TEMPERATURE) for other in weight.values())
        share = 1.0 / total
        confidence = score * share
        others_named = {s: signals for s, signals in named.items() if s != student}
        # Two places in the essay name two different students: which one wrote it is a question.
        conflicted = bool(others_named) and (student in named or confidence > _CONFLICT_CAP)
        if conflicted:
            confidence = min(confidence, _CONFLICT_CAP)
        confidence = round(confidence, 4)
        if confidence < _MIN_SUGGESTION:
            continue
        items = sorted(by_student[student], key=lambda e: e.score, reverse=True)
        reasons = [e.reason for e in _distinct(items)]
        agreeing = _signals(e for e in items if e.score >= _MIN_SUGGESTION)
        if len(agreeing) > 1:
            reasons.append(
                {"signal": "agreement", "matched": "independent_signals", "value": agreeing, "score": round(score, 3)}
            )
        if conflicted:
            conflicting = sorted({signal for signals in others_named.values() for signal in signals})
            reasons.append(
                {
                    "signal": "conflict",
                    "matched": ",".join(conflicting),
                    "value": [roster.students[s].student_id for s in sorted(others_named)],
                    "score": _CONFLICT_CAP,
                }
            )
        rivals = [
            s for s, other in weight.items() if s != student and other >= weight[student] - 4 * _AMBIGUITY_TEMPERATURE
        ]
        if rivals:
            reasons.append(
                {
                    "signal": "ambiguity",
                    "matched": "other_students",
                    "value": [roster.students[s].student_id for s in sorted(rivals)],
                    "score": round(share, 3),
                }
            )
        if group_work:
            reasons.append(
                {"signal": "group_work", "matched": "several_authors", "value": "", "score": _GROUP_WORK_CAP}
            )
        suggestions.append(Suggestion(roster.students[student].student_id, confidence, reasons))
    suggestions.sort(key=lambda s: (-s.confidence_score, s.student_id))
    return suggestions[:_MAX_SUGGESTIONS]


def _weight_of_evidence(items: list[_Evidence]) -> float:
    """The strongest evidence of each signal, added up strongest first, each further signal counting less."""
    best: dict[str, float] = {}
    for item in items:
        signal = item.reason["signal"]
        best[signal] = max(best.get(signal, 0.0), item.score)
    ordered = sorted(best.values(), reverse=True)
    return sum(factor * score for factor, score in zip(_ADDED_EVIDENCE, ordered, strict=False))


def _named_students(evidence: list[_Evidence]) -> dict[int, set[str]]:
    """Students that some place in the essay clearly names (nobody else close there), with those places."""
    by_place: dict[tuple[str, str], dict[int, float]] = {}
    for item in evidence:
        place = by_place.setdefault((item.reason["signal"], str(item.reason["value"])), {})
        place[item.student] = max(place.get(item.student, 0.0), item.score)
    named: dict[int, set[str]] = {}
    for (signal, _), scores in by_place.items():
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        student, best = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if best >= _NAMES_STUDENT and best - runner_up >= _NAMES_STUDENT_LEAD:
            named.setdefault(student, set()).add(signal)
    return named


def _signals(items: Iterable[_Evidence]) -> list[str]:
    return list(dict.fromkeys(str(e.reason["signal"]) for e in items))


def _combine(items: list[_Evidence]) -> float:
    """The strongest evidence, raised a little by the strongest evidence from a different place."""
    ordered = sorted(items, key=lambda e: e.score, reverse=True)
    best = ordered[0]
    second = next((e for e in ordered[1:] if e.reason["signal"] != best.reason["signal"]), None)
    score = best.score
    if second is not None:
        score += _CORROBORATION * (1.0 - score) * second.score
    return min(_MAX_SCORE, score)


def _distinct(items: list[_Evidence]) -> list[_Evidence]:
    seen: set[tuple[str, str]] = set()
    kept: list[_Evidence] = []
    for item in items:
        key = (item.reason["signal"], item.reason["value"])
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept
