"""Rules for classes and rosters as teachers type them, free of I/O: names, e-mails,
ids, and the page token of ListClasses."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from essayflow_runtime.errors import FieldErrors, InvalidArgument

DEFAULT_PAGE_SIZE = 50



@dataclass(frozen=True)
class NewStudent:
    first_name: str
    last_name: str
    email: str  # normalised: stripped, lower-cased


def normalize_email(email: str) -> str:
    return email.strip().lower()


def new_students(raw: list[tuple[str, str, str]]) -> list[NewStudent]:
    """(first name, last name, e-mail) triples as CMS stores them: stripped, the e-mail lower-cased.
    Their field rules (1..1000 students, names not blank, an e-mail address) are in cms.proto;
    the rule across students, one e-mail one student, is :func:`one_student_per_email`."""
    return [NewStudent(first.strip(), last.strip(), normalize_email(email)) for first, last, email in raw]


def one_student_per_email(students: list[NewStudent], path: str = "students") -> None:
    """Refuse a second, different person under an e-mail earlier in the same request,
    naming both (the same person twice is harmless: it is stored once)."""
    errors = FieldErrors()
    first_with: dict[str, int] = {}
    for i, student in enumerate(students):
        earlier = first_with.setdefault(student.email, i)
        other = students[earlier]
        if earlier != i and not same_person(other, student):
            errors.add(
                f"{path}[{i}].email",
                f"{student.email} is already {path}[{earlier}] ({other.first_name} {other.last_name}) in this "
                f"request, not {student.first_name} {student.last_name}: one e-mail is one student",
            )
    errors.raise_if_any()


def same_person(a: NewStudent, b: NewStudent) -> bool:
    return (a.first_name.casefold(), a.last_name.casefold()) == (b.first_name.casefold(), b.last_name.casefold())


def page_size(requested: int) -> int:
    """0 means the default; the range (0..200) is a rule in cms.proto."""
    return requested or DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class PageCursor:
    """Where the next page of classes starts (classes are listed by creation, then id)."""

    created_at: datetime
    class_id: str

    def encode(self) -> str:
        raw = json.dumps({"c": self.created_at.isoformat(), "i": self.class_id}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(token: str) -> PageCursor | None:
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
            return PageCursor(datetime.fromisoformat(data["c"]), str(uuid.UUID(data["i"])))
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(
                "page_token is not one this service issued",
                reason="INVALID_PAGE_TOKEN",
                field_violations=[("page_token", "must be a next_page_token from ListClasses")],
            ) from exc
