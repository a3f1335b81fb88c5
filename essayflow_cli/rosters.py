"""Reading a class roster as teachers have it: CSV from Excel (UTF-8 with a byte-order
mark, or Windows-1252; ``,`` ``;`` or tab, detected) or an ``.xlsx`` workbook, with
Swedish or English headers. Every problem is reported with its line, duplicates within
the file included; nothing is dropped quietly. Pure apart from reading the file."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from essayflow_cli.documents import Unreadable, decode_text

# Header spellings (compared case-folded, without spaces, dashes, dots and underscores).
_HEADERS = {
    "first_name": {"firstname", "first", "givenname", "given", "forename", "förnamn", "fornamn", "tilltalsnamn"},
    "last_name": {"lastname", "last", "surname", "familyname", "family", "efternamn"},
    "email": {"email", "mail", "emailaddress", "mailaddress", "epost", "epostadress", "mejl", "mejladress"},
    "name": {"name", "fullname", "studentname", "namn", "fulltnamn", "fullständigtnamn", "elev", "elevnamn"},
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
MAX_NAME = 100


@dataclass(frozen=True)
class RosterRow:
    line: int
    first_name: str
    last_name: str
    email: str  # stripped, lower-cased


@dataclass
class Roster:
    rows: list[RosterRow] = field(default_factory=list)
    # "line 4: ..." — the file is not imported while there is one.
    problems: list[str] = field(default_factory=list)
    # How the file was read: "csv ';' utf-8 (BOM)", "xlsx sheet 'Elever'".
    read_as: str = ""


def _key(header: object) -> str:
    return re.sub(r"[\s\-_.]", "", str(header or "")).casefold()


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _key(name)
        for column, spellings in _HEADERS.items():
            if key in spellings and column not in found:
                found[column] = index
    return found


def _split_name(full: str) -> tuple[str, str]:
    """'Efternamn, Förnamn' or 'Förnamn Efternamn'."""
    if "," in full:
        last, _, first = full.partition(",")
        return first.strip(), last.strip()
    first, _, last = full.strip().rpartition(" ")
    return (first.strip(), last.strip()) if first else (last.strip(), "")


def _cell(cells: list[str], columns: dict[str, int], column: str) -> str:
    index = columns.get(column)
    return cells[index] if index is not None and index < len(cells) else ""


def parse_rows(table: Iterable[tuple[int, list[str]]]) -> Roster:
    """(line number, cells) rows, the first non-empty one the header."""
    roster = Roster()
    columns: dict[str, int] | None = None
    seen: dict[str, RosterRow] = {}
    for line, raw in table:
        cells = [("" if c is None else str(c)).strip() for c in raw]
        if not any(cells):
            continue
        if columns is None:
            columns = _columns(cells)
            has_names = ("first_name" in columns and "last_name" in columns) or "name" in columns
            if "email" not in columns or not has_names:
                roster.problems.append(
                    f"line {line}: the header names no {'e-mail' if 'email' not in columns else 'name'} column "
                    f"(found: {', '.join(repr(c) for c in cells if c)}); expected first_name, last_name, email "
                    "or förnamn, efternamn, e-post"
                )
                return roster
            continue

        if "first_name" in columns and "last_name" in columns:
            first, last = _cell(cells, columns, "first_name"), _cell(cells, columns, "last_name")
        else:
            first, last = _split_name(_cell(cells, columns, "name"))
        email = _cell(cells, columns, "email").lower()
        wrong = []
        if not first:
            wrong.append("the first name is missing")
        if not last:
            wrong.append("the last name is missing")
        if len(first) > MAX_NAME or len(last) > MAX_NAME:
            wrong.append(f"a name is longer than {MAX_NAME} characters")
        if not email:
            wrong.append("the e-mail is missing")
        elif not _EMAIL.match(email) or len(email) > 254:
            wrong.append(f"{email!r} is not an e-mail address")
        if wrong:
            roster.problems.append(f"line {line}: {'; '.join(wrong)}")
            continue
        row = RosterRow(line, first, last, email)
        earlier = seen.get(email)
        if earlier is not None:
            same = (earlier.first_name.casefold(), earlier.last_name.casefold()) == (first.casefold(), last.casefold())
            if same:
                roster.problems.append(f"line {line}: {first} {last} <{email}> again (first on line {earlier.line})")
            else:
                roster.problems.append(
                    f"line {line}: {first} {last} has the e-mail {email} of "
                    f"{earlier.first_name} {earlier.last_name} on line {earlier.line}"
                )
            continue
        seen[email] = row
        roster.rows.append(row)
    if columns is None:
        roster.problems.append("the file has no header and no students")
    elif not roster.rows and not roster.problems:
        roster.problems.append("the file has a header but no students")
    return roster


def _sniff(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(",;\t", key=first.count)


def read_csv(data: bytes) -> Roster:
    try:
        text, encoding = decode_text(data)
    except (Unreadable, UnicodeDecodeError) as error:
        return Roster(problems=[f"the file cannot be read as text: {error}"])
    delimiter = _sniff("\n".join(text.splitlines()[:20]))
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    roster = parse_rows((reader.line_num, row) for row in reader)
    roster.read_as = f"csv {delimiter!r} {encoding}"
    return roster


def read_xlsx(path: Path) -> Roster:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        return Roster(problems=[f"the file is not an .xlsx workbook openpyxl can read ({type(error).__name__})"])
    try:
        sheet = workbook.worksheets[0]
        rows = (
            (number, ["" if v is None else str(v) for v in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        roster = parse_rows(rows)
        roster.read_as = f"xlsx sheet {sheet.title!r}"
        return roster
    finally:
        workbook.close()


def read_roster(path: Path) -> Roster:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path)
    if suffix == ".xls":
        return Roster(problems=["an .xls workbook (Excel 97-2003) cannot be read: save it as .xlsx or CSV"])
    return read_csv(path.read_bytes())
