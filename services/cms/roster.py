"""Rules for classes and rosters as teachers type them, free of I/O: names, e-mails,
ids, and the page token of ListClasses."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from essayflow.common.v1 import common_pb2
from essayflow_runtime.errors import FieldErrors, InvalidArgument
from essayflow_runtime.ids import canonical_uuid

MAX_CLASS_NAME = 100
MAX_PERSON_NAME = 100
MAX_EMAIL = 254
MAX_STUDENTS_PER_CALL = 1000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# Deliberately loose: one @, no spaces, a dot in the domain. Deliverability is not ours to judge.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


@dataclass(frozen=True)
class NewStudent:
    first_name: str
    last_name: str
    email: str  # normalised: stripped, lower-cased


def check_class(errors: FieldErrors, name: str, course_code: int) -> None:
    stripped = name.strip()
    errors.check(
        1 <= len(stripped) <= MAX_CLASS_NAME, "name", f"must be 1..{MAX_CLASS_NAME} characters (not only spaces)"
    )
    errors.check(
        course_code != common_pb2.COURSE_CODE_UNSPECIFIED and course_code in common_pb2.CourseCode.values(),
        "course_code",
        "must be a known course code",
    )


def normalize_email(email: str) -> str:
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= MAX_EMAIL and _EMAIL.match(email) is not None


def new_students(errors: FieldErrors, raw: list[tuple[str, str, str]], path: str = "students") -> list[NewStudent]:
    """Check and normalise (first name, last name, e-mail) triples."""
    errors.check(1 <= len(raw) <= MAX_STUDENTS_PER_CALL, path, f"must hold 1..{MAX_STUDENTS_PER_CALL} students")
    students: list[NewStudent] = []
    # The first index of each e-mail: one e-mail is one student, so a second, different
    # person under it is refused naming both (a repeat of the same person is harmless).
    first_with: dict[str, int] = {}
    for i, (first, last, email) in enumerate(raw[:MAX_STUDENTS_PER_CALL]):
        first, last, email = first.strip(), last.strip(), normalize_email(email)
        errors.check(1 <= len(first) <= MAX_PERSON_NAME, f"{path}[{i}].first_name", "must be 1..100 characters")
        errors.check(1 <= len(last) <= MAX_PERSON_NAME, f"{path}[{i}].last_name", "must be 1..100 characters")
        errors.check(is_valid_email(email), f"{path}[{i}].email", "must be an e-mail address")
        student = NewStudent(first, last, email)
        earlier = first_with.setdefault(email, i)
        if earlier != i and not same_person(students[earlier], student):
            other = students[earlier]
            errors.add(
                f"{path}[{i}].email",
                f"{email} is already {path}[{earlier}] ({other.first_name} {other.last_name}) in this request, "
                f"not {first} {last}: one e-mail is one student",
            )
        students.append(student)
    return students


def same_person(a: NewStudent, b: NewStudent) -> bool:
    return (a.first_name.casefold(), a.last_name.casefold()) == (b.first_name.casefold(), b.last_name.casefold())


def parse_uuid(errors: FieldErrors, value: str, path: str) -> str:
    """The canonical form of an id this service issued; an error naming the field otherwise."""
    canonical = canonical_uuid(value)
    if canonical is None:
        errors.add(path, "must be a UUID")
        return value
    return canonical




def page_size(requested: int) -> int:
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= requested <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            "page_size is out of range",
            reason="INVALID_ARGUMENT",
            field_violations=[("page_size", f"must be 1..{MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}")],
        )
    return requested


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
