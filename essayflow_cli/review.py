"""A teacher's review of who wrote each essay, free of I/O: naming essays and students the
way a person does, the reasons in words, and the plan one ``associations validate`` sends.

Essays are named by a unique prefix of their id or by file name; students by e-mail, name
or a unique id prefix. A name that fits several is an error listing them, never a guess.
Bulk confirmation takes only suggestions at or above a level; unmatched essays are
rejected only when asked; essays named explicitly are left out of the bulk decisions."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2

PENDING = common_pb2.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION
Level = common_pb2.AssociationConfidenceLevel

LEVELS = {
    "high": common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH,
    "medium": common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM,
    "low": common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW,
}
# Higher is more confident.
_RANK = {
    common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_HIGH: 3,
    common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_MEDIUM: 2,
    common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_LOW: 1,
}
MIN_PREFIX = 8


class Unresolved(Exception):
    """A name that fits no essay or student, or several (``candidates`` lists them)."""

    def __init__(self, message: str, candidates: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.candidates = list(candidates)


class Action(enum.StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    OVERRIDE = "override"


@dataclass(frozen=True)
class Essay:
    """One essay as the reviewer sees it: its association and its file name."""

    association: cms_pb2.Association
    file_name: str

    @property
    def essay_id(self) -> str:
        return self.association.essay_id

    @property
    def pending(self) -> bool:
        return self.association.status == PENDING

    @property
    def has_suggestion(self) -> bool:
        return bool(self.association.suggested_student.student_id)


@dataclass(frozen=True)
class Planned:
    essay: Essay
    action: Action
    student: common_pb2.Student | None  # who the essay is then by (None for reject)
    why: str  # "--override", "--confirm-all (high)", ...


@dataclass
class Plan:
    decisions: list[Planned] = field(default_factory=list)
    # Pending essays no decision touches, with the reason they are left.
    left_pending: list[tuple[Essay, str]] = field(default_factory=list)

    @property
    def finalises(self) -> bool:
        """True when the decisions leave no essay pending (the batch is then confirmed)."""
        return bool(self.decisions) and not self.left_pending

    def request(self, batch_id: str) -> cms_pb2.ValidateAssociationsRequest:
        decisions = []
        for planned in self.decisions:
            if planned.action is Action.CONFIRM:
                decision = cms_pb2.AssociationDecision(
                    essay_id=planned.essay.essay_id, confirm=cms_pb2.ConfirmDecision()
                )
            elif planned.action is Action.REJECT:
                decision = cms_pb2.AssociationDecision(essay_id=planned.essay.essay_id, reject=cms_pb2.RejectDecision())
            else:
                assert planned.student is not None
                decision = cms_pb2.AssociationDecision(
                    essay_id=planned.essay.essay_id,
                    override=cms_pb2.OverrideDecision(student_id=planned.student.student_id),
                )
            decisions.append(decision)
        return cms_pb2.ValidateAssociationsRequest(batch_id=batch_id, decisions=decisions)


# ---------------------------------------------------------------- names


def full_name(student: common_pb2.Student) -> str:
    return f"{student.first_name} {student.last_name}".strip()


def describe_student(student: common_pb2.Student) -> str:
    return f"{full_name(student)} <{student.email}> {student.student_id[:MIN_PREFIX]}"


def _compact(text: str) -> str:
    return text.strip().lower().replace("-", "")


def shortest_prefixes(ids: Iterable[str], minimum: int = MIN_PREFIX) -> dict[str, str]:
    """Each id's shortest unique prefix (at least ``minimum`` characters)."""
    ids = list(ids)
    prefixes = {}
    for one in ids:
        length = minimum
        while length < len(one) and any(o != one and o.startswith(one[:length]) for o in ids):
            length += 1
        prefixes[one] = one[:length]
    return prefixes


def find_essay(ref: str, essays: Sequence[Essay]) -> Essay:
    """By file name (exact, then case-insensitive, then without its extension) or id prefix."""
    folded = ref.casefold()
    tests: list[Callable[[Essay], bool]] = [
        lambda e: e.file_name == ref,
        lambda e: e.file_name.casefold() == folded,
        lambda e: e.file_name.rsplit(".", 1)[0].casefold() == folded,
    ]
    for same in tests:
        found = [e for e in essays if e.file_name and same(e)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Unresolved(f"{ref!r} is the file name of several essays: name one by its id", _essay_lines(found))
    key = _compact(ref)
    found = [e for e in essays if len(key) >= 4 and _compact(e.essay_id).startswith(key)]
    if len(found) == 1:
        return found[0]
    if found:
        raise Unresolved(f"{ref!r} is the start of several essay ids: give more of it", _essay_lines(found))
    raise Unresolved(f"no essay of this batch is called {ref!r} (an id prefix or a file name)")


def _essay_lines(essays: Iterable[Essay]) -> list[str]:
    return [f"{e.essay_id}  {e.file_name or '-'}" for e in essays]


def find_student(ref: str, roster: Sequence[common_pb2.Student]) -> common_pb2.Student:
    """By e-mail, full name ("First Last" or "Last, First"), a unique first or last name,
    or a unique id prefix."""
    text = " ".join(ref.split())
    folded = text.casefold()
    if "@" in text:
        found = [s for s in roster if s.email.casefold() == folded]
        if found:
            return found[0]
        raise Unresolved(f"no student of the class has the e-mail {ref!r}")
    if "," in text:
        last, _, first = text.partition(",")
        text = f"{first.strip()} {last.strip()}"
        folded = text.casefold()
    by_name: list[Callable[[common_pb2.Student], bool]] = [
        lambda s: full_name(s).casefold() == folded,
        lambda s: folded in (s.first_name.casefold(), s.last_name.casefold()),
    ]
    for same in by_name:
        found = [s for s in roster if same(s)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Unresolved(
                f"{ref!r} fits {len(found)} students: name one by e-mail or id", [describe_student(s) for s in found]
            )
    key = _compact(ref)
    found = [s for s in roster if len(key) >= 4 and _compact(s.student_id).startswith(key)]
    if len(found) == 1:
        return found[0]
    if found:
        raise Unresolved(f"{ref!r} is the start of several student ids", [describe_student(s) for s in found])
    raise Unresolved(f"no student of the class is {ref!r} (an e-mail, a name or an id prefix)")


# ---------------------------------------------------------------- reasons

_SIGNALS = {
    "header_label": "in a name label",
    "first_line": "on the first line",
    "title": "in the title",
    "self_intro": "where the writer introduces themself",
    "signature": "in the signature",
    "email": "as an e-mail address",
    "email_name": "in an e-mail address",
    "file_name": "in the file name",
}
_MATCHED = {
    "full_name": "full name",
    "first_name": "first name",
    "last_name": "last name",
    "surname": "last name",
    "email": "e-mail",
}


def reason_words(reason: common_pb2.MatchReason) -> str:
    if reason.signal == "ambiguity":
        return "other students fit almost as well"
    if reason.signal == "group_work":
        return "written by several students"
    where = _SIGNALS.get(reason.signal, f"({reason.signal})")
    what = _MATCHED.get(reason.matched, reason.matched.replace("_", " ") or "name")
    if reason.signal == "file_name" or not reason.value:
        return f"{what} {where} ({reason.score:.0%})"
    return f"{what} {reason.value!r} {where} ({reason.score:.0%})"


def reasons_text(association: cms_pb2.Association) -> str:
    if not association.suggested_student.student_id:
        return "no student's name or e-mail was found"
    return "; ".join(reason_words(r) for r in association.match_reasons) or "-"


def level_name(level: int) -> str:
    for name, value in LEVELS.items():
        if value == level:
            return name
    return "no_match" if level == common_pb2.ASSOCIATION_CONFIDENCE_LEVEL_NO_MATCH else "-"


# ---------------------------------------------------------------- the plan


def plan(
    essays: Sequence[Essay],
    roster: Sequence[common_pb2.Student],
    *,
    confirm: Sequence[str] = (),
    reject: Sequence[str] = (),
    override: Sequence[str] = (),
    confirm_all: bool = False,
    min_level: str = "high",
    reject_unmatched: bool = False,
) -> Plan:
    """The decisions one validate sends. Raises :class:`Unresolved` for a name that fits no
    essay or student (or several), an essay named twice, a confirm without a suggestion."""
    result = Plan()
    named: dict[str, str] = {}

    def claim(essay: Essay, flag: str) -> None:
        if essay.essay_id in named:
            raise Unresolved(
                f"essay {essay.file_name or essay.essay_id} is named by {named[essay.essay_id]} and {flag}: decide once"
            )
        named[essay.essay_id] = flag

    for pair in override:
        essay_ref, sep, student_ref = pair.partition("=")
        if not sep or not essay_ref.strip() or not student_ref.strip():
            raise Unresolved(f"--override {pair!r}: write ESSAY=STUDENT (a file name or id, then an e-mail or name)")
        essay = find_essay(essay_ref.strip(), essays)
        claim(essay, "--override")
        student = find_student(student_ref.strip(), roster)
        result.decisions.append(Planned(essay, Action.OVERRIDE, student, "--override"))
    for ref in confirm:
        essay = find_essay(ref, essays)
        claim(essay, "--confirm")
        if not essay.has_suggestion:
            raise Unresolved(
                f"essay {essay.file_name or essay.essay_id} has no suggested student to confirm: "
                "--override it with the right student or --reject it"
            )
        result.decisions.append(Planned(essay, Action.CONFIRM, essay.association.suggested_student, "--confirm"))
    for ref in reject:
        essay = find_essay(ref, essays)
        claim(essay, "--reject")
        result.decisions.append(Planned(essay, Action.REJECT, None, "--reject"))

    threshold = _RANK[LEVELS[min_level]]
    for essay in essays:
        if not essay.pending or essay.essay_id in named:
            continue
        level = essay.association.confidence_level
        if not essay.has_suggestion:
            if reject_unmatched:
                result.decisions.append(Planned(essay, Action.REJECT, None, "--reject-unmatched"))
            else:
                result.left_pending.append((essay, "no suggestion (--reject-unmatched, --reject or --override)"))
        elif confirm_all and _RANK.get(level, 0) >= threshold:
            result.decisions.append(
                Planned(essay, Action.CONFIRM, essay.association.suggested_student, f"--confirm-all ({min_level}+)")
            )
        else:
            why = f"{level_name(level)}, below {min_level}" if confirm_all else "not decided"
            result.left_pending.append((essay, why))
    return result


def plan_rows(p: Plan) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "essay_id": d.essay.essay_id,
            "file_name": d.essay.file_name,
            "action": d.action.value,
            "student": full_name(d.student) if d.student else "",
            "student_email": d.student.email if d.student else "",
            "student_id": d.student.student_id if d.student else "",
            "level": level_name(d.essay.association.confidence_level),
            "by": d.why,
        }
        for d in p.decisions
    ]
    rows += [
        {
            "essay_id": e.essay_id,
            "file_name": e.file_name,
            "action": "stays pending",
            "student": full_name(e.association.suggested_student) if e.has_suggestion else "",
            "student_email": e.association.suggested_student.email if e.has_suggestion else "",
            "student_id": e.association.suggested_student.student_id if e.has_suggestion else "",
            "level": level_name(e.association.confidence_level),
            "by": why,
        }
        for e, why in p.left_pending
    ]
    return rows
