"""The teacher's CLI against the real stack, each command a process of its own
(``python -m essayflow_cli.main``): rosters in the formats teachers have, an upload of a
mixed folder with its summary and exit code, the review flow, ``--output json`` read back,
and the server's reasons printed on error."""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import pty
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from essayflow_runtime.auth import Role, mint_token
from tests.e2e.conftest import E2EStack
from tests.unit.cli.files import write_docx, write_pdf, write_xlsx

pytestmark = pytest.mark.e2e

BODY = (
    "Det här är min text om hösten. Löven faller och dagarna blir kortare, men jag tycker ändå "
    "att hösten är den vackraste årstiden eftersom allt får nya färger."
)
ROSTER = [
    ("Ingrid", "Halvorsen"),
    ("Tobias", "Lindqvist"),
    ("Maja", "Ek-Sandberg"),
    ("Maja", "Berg"),
    ("Omar", "Haddad"),
]
SECRET = "a-development-secret-that-must-never-be-printed-0123456789"


def email(first: str, last: str) -> str:
    return f"{first}.{last}@skola.example".lower()


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def text(self) -> str:
        return self.out + self.err


def _run(stack: E2EStack, args: tuple[str, ...], token: str, extra_env: dict[str, str]) -> Ran:
    env = {**os.environ, **stack.env, "ESSAYFLOW_TOKEN": token, "ESSAYFLOW_JWT_SECRET": SECRET, **extra_env}
    env.pop("COLUMNS", None)
    done = subprocess.run(
        [sys.executable, "-m", "essayflow_cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    ran = Ran(done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in ran.text, ran.text
    assert SECRET not in ran.text
    return ran


def _run_at_a_terminal(stack: E2EStack, args: tuple[str, ...], token: str, answer: str) -> Ran:
    """As a person at a terminal who types ``answer`` (stdin is a pseudo-terminal)."""
    env = {**os.environ, **stack.env, "ESSAYFLOW_TOKEN": token}
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "essayflow_cli.main", *args],
            env=env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(master, answer.encode())  # typed ahead: the terminal keeps it until it is read
        out, err = process.communicate(timeout=120)
    finally:
        os.close(slave)
        os.close(master)
    return Ran(process.returncode, out, err)


async def essayflow(stack: E2EStack, *args: str, token: str, env: dict[str, str] | None = None) -> Ran:
    return await asyncio.to_thread(_run, stack, args, token, env or {})


async def ok_json(stack: E2EStack, *args: str, token: str) -> Any:
    ran = await essayflow(stack, *args, "--output", "json", token=token)
    assert ran.code == 0, ran.text
    return ran.json


@pytest.fixture
def teacher_token(stack_ready: E2EStack, request: pytest.FixtureRequest) -> str:
    # The stack's services check tokens with their development secret; sign with that one.
    return mint_token(stack_ready.settings, f"teacher-{request.node.name[-24:]}", Role.TEACHER)


async def new_class(stack: E2EStack, token: str, roster_file: Path) -> str:
    created = await ok_json(stack, "class", "create", "9B", "--course", "SV1", token=token)
    imported = await ok_json(stack, "class", "import-roster", created["class_id"], str(roster_file), token=token)
    assert imported["created_count"] == len(ROSTER), imported
    return str(created["class_id"])


def semicolon_roster(path: Path) -> Path:
    lines = ["Förnamn;Efternamn;E-post", *(f"{f};{last};{email(f, last)}" for f, last in ROSTER)]
    path.write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode("utf-8"))
    return path


async def wait_associations(stack: E2EStack, batch_id: str, count: int, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        ran = await essayflow(stack, "associations", "list", batch_id, "--output", "json", token=token)
        if ran.code == 0 and len(ran.json["associations"]) == count:
            return dict(ran.json)
        assert time.monotonic() < deadline, f"no associations for {batch_id}: {ran.text}"
        await asyncio.sleep(0.5)


def essay_folder(folder: Path) -> Path:
    folder.mkdir()
    for first, last in (("Ingrid", "Halvorsen"), ("Tobias", "Lindqvist"), ("Omar", "Haddad")):
        (folder / f"{first.lower()}.txt").write_text(f"Namn: {first} {last}\nKlass: 9B\n\n{BODY}\n", encoding="utf-8")
    # Only a first name that two students share: a weak suggestion at best.
    (folder / "weak.txt").write_text(f"{BODY}\n\nHälsningar,\nMaja\n", encoding="utf-8")
    (folder / "nobody.txt").write_text(f"{BODY} Ingen har skrivit sitt namn här.\n", encoding="utf-8")
    return folder


async def register(stack: E2EStack, token: str, count: int, *extra: str) -> str:
    batch = await ok_json(stack, "batch", "register", "--count", str(count), "--course", "SV1", *extra, token=token)
    return str(batch["batch_id"])


def by_file(listed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["file_name"]: a for a in listed["associations"]}


async def test_rosters_in_the_formats_teachers_have(stack_ready: E2EStack, teacher_token: str, tmp_path: Path) -> None:
    students = [("Åsa", "Öberg"), ("Bo", "Lind")]
    files = {
        "comma-bom.csv": codecs.BOM_UTF8
        + b"first_name,last_name,email\r\n"
        + "".join(f"{f},{last},{email(f, last)}\r\n" for f, last in students).encode(),
        "semicolon-1252.csv": (
            "Förnamn;Efternamn;E-post\r\n" + "".join(f"{f};{last};{email(f, last)}\r\n" for f, last in students)
        ).encode("cp1252"),
        "tab.txt": (
            "efternamn\tförnamn\te-post\n" + "".join(f"{last}\t{f}\t{email(f, last)}\n" for f, last in students)
        ).encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    write_xlsx(
        tmp_path / "klass.xlsx",
        [["Förnamn", "Efternamn", "E-post"], *[[f, last, email(f, last)] for f, last in students]],
    )

    for name in [*files, "klass.xlsx"]:
        klass = await ok_json(stack_ready, "class", "create", f"7A {name}", "--course", "SV1", token=teacher_token)
        imported = await ok_json(
            stack_ready, "class", "import-roster", klass["class_id"], str(tmp_path / name), token=teacher_token
        )
        assert (imported["created_count"], imported["existing_count"]) == (2, 0), (name, imported)
        listed = await ok_json(stack_ready, "students", "list", klass["class_id"], token=teacher_token)
        assert sorted((s["first_name"], s["last_name"], s["email"]) for s in listed) == sorted(
            (f, last, email(f, last)) for f, last in students
        ), name
        assert all(len(s["student_id"]) == 36 for s in listed)

    bad = tmp_path / "bad.csv"
    bad.write_text("förnamn;efternamn;e-post\nAnna;Berg;anna@skola.se\nAnna;Lind;ANNA@skola.se\nCia;;cia@skola.se\n")
    klass = await ok_json(stack_ready, "class", "create", "7B", "--course", "SV1", token=teacher_token)
    refused = await essayflow(stack_ready, "class", "import-roster", klass["class_id"], str(bad), token=teacher_token)
    assert refused.code == 2, refused.text
    assert "line 3: Anna Lind has the e-mail anna@skola.se of Anna Berg on line 2" in refused.err
    assert "line 4: the last name is missing" in refused.err
    assert await ok_json(stack_ready, "students", "list", klass["class_id"], token=teacher_token) == []

    classes = await ok_json(stack_ready, "class", "list", token=teacher_token)
    assert {k["name"] for k in classes} >= {"7A klass.xlsx", "7B"}
    assert next(k for k in classes if k["name"] == "7A klass.xlsx")["student_count"] == 2


async def test_a_mixed_folder_uploads_with_a_summary_and_exit_code(
    stack_ready: E2EStack, teacher_token: str, tmp_path: Path
) -> None:
    folder = tmp_path / "essays"
    folder.mkdir()
    text = f"Name: Anna Berg\n\n{BODY} Åsa, Örjan och Ülle läste den också.\n"
    (folder / "bom.txt").write_bytes(codecs.BOM_UTF8 + text.replace("Anna", "Bea").encode("utf-8"))
    (folder / "windows.txt").write_bytes(text.replace("Anna", "Cia").encode("cp1252"))
    (folder / "utf16.txt").write_bytes(text.replace("Anna", "Dan").encode("utf-16"))
    write_docx(folder / "word.docx", ["Name: Eva Berg", BODY])
    write_pdf(folder / "scan.pdf", ["Name: Finn Berg", "My essay about the autumn, which is the finest season of all."])
    (folder / "empty.txt").write_bytes(b"")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (folder / "bell.txt").write_text(f"{text}\x07", encoding="utf-8")  # ELS refuses it: it takes its slot

    batch_id = await register(stack_ready, teacher_token, 8)
    ran = await essayflow(
        stack_ready, "batch", "upload", batch_id, str(folder), "--output", "json", token=teacher_token
    )
    assert ran.code == 1, ran.text  # some file failed
    summary = ran.json
    outcomes = {f["file_name"]: f["outcome"] for f in summary["files"]}
    assert outcomes == {
        "bell.txt": "failed",
        "bom.txt": "bound",
        "empty.txt": "failed",
        "picture.png": "failed",
        "scan.pdf": "bound",
        "utf16.txt": "bound",
        "windows.txt": "bound",
        "word.docx": "bound",
    }
    read_as = {f["file_name"]: f["read_as"] for f in summary["files"]}
    assert (read_as["bom.txt"], read_as["windows.txt"], read_as["utf16.txt"]) == (
        "utf-8 (BOM)",
        "windows-1252",
        "utf-16",
    )
    assert (summary["bound"], summary["failed"], summary["failed_slots_consumed"]) == (5, 3, 1)
    assert summary["slots"] == {"expected": 8, "with_text": 5, "failed": 1, "open": 2, "excess": 0, "completed": False}
    assert any("go on with 7 essays, not 8" in w for w in summary["warnings"])

    # The same folder again, as a person reads it: duplicates, the refusals, the warnings.
    again = await essayflow(stack_ready, "batch", "upload", batch_id, str(folder), token=teacher_token)
    assert again.code == 1
    assert "5 duplicate" in again.out and "3 failed" in again.out
    assert "the file is empty" in again.out and ".png is not supported" in again.out
    assert "warning" in again.out and "2 slots still wait for an essay" in again.out


async def test_the_review_flow(stack_ready: E2EStack, teacher_token: str, tmp_path: Path) -> None:
    class_id = await new_class(stack_ready, teacher_token, semicolon_roster(tmp_path / "roster.csv"))
    students = {s["email"]: s for s in await ok_json(stack_ready, "students", "list", class_id, token=teacher_token)}
    folder = essay_folder(tmp_path / "essays")

    batch_id = await register(stack_ready, teacher_token, 5, "--class", class_id)
    uploaded = await essayflow(stack_ready, "batch", "upload", batch_id, str(folder), token=teacher_token)
    assert uploaded.code == 0 and "5 bound" in uploaded.out, uploaded.text
    listed = await wait_associations(stack_ready, batch_id, 5, teacher_token)
    files = by_file(listed)
    levels = {name: a["level"] for name, a in files.items()}
    assert levels["ingrid.txt"] == levels["tobias.txt"] == levels["omar.txt"] == "high", listed
    assert levels["weak.txt"] != "high" and levels["nobody.txt"] == "no_match", listed
    assert (
        files["ingrid.txt"]["suggested"] == "Ingrid Halvorsen" and "Ingrid Halvorsen" in files["ingrid.txt"]["reasons"]
    )
    assert all(a["status"] == "pending_validation" for a in files.values())

    table = await essayflow(stack_ready, "associations", "list", batch_id, token=teacher_token)
    assert table.code == 0 and "ingrid.txt" in table.out and "no student's name or e-mail was found" in table.out

    # A dry run says what would happen and changes nothing.
    dry = await ok_json(
        stack_ready,
        "associations",
        "validate",
        batch_id,
        "--confirm-all",
        "--reject-unmatched",
        "--dry-run",
        token=teacher_token,
    )
    assert (dry["dry_run"], dry["confirm_count"], dry["reject_count"]) == (True, 3, 1)
    after_dry = await wait_associations(stack_ready, batch_id, 5, teacher_token)
    assert all(a["status"] == "pending_validation" for a in after_dry["associations"])

    # Bulk confirmation takes the HIGH ones only; the weak and the unmatched essay stay pending.
    bulk = await essayflow(stack_ready, "associations", "validate", batch_id, "--confirm-all", token=teacher_token)
    assert bulk.code == 0, bulk.text
    assert "3 to confirm" in bulk.out and "2 will stay pending" in bulk.out and "2 still pending" in bulk.out
    files = by_file(await wait_associations(stack_ready, batch_id, 5, teacher_token))
    assert {n: a["status"] for n, a in files.items()} == {
        "ingrid.txt": "confirmed",
        "tobias.txt": "confirmed",
        "omar.txt": "confirmed",
        "weak.txt": "pending_validation",
        "nobody.txt": "pending_validation",
    }
    assert files["ingrid.txt"]["decided_by"].startswith("teacher-")

    # A name two students share is not guessed.
    ambiguous = await essayflow(
        stack_ready, "associations", "validate", batch_id, "--override", "weak.txt=Maja", token=teacher_token
    )
    assert ambiguous.code == 2
    assert "fits 2 students" in ambiguous.err
    assert email("Maja", "Berg") in ambiguous.err and email("Maja", "Ek-Sandberg") in ambiguous.err

    # At a terminal, a change that finalises the batch is asked about first; "no" sends nothing.
    final = ("associations", "validate", batch_id, "--override", f"weak={email('Maja', 'Berg')}", "--reject", "nobody")
    declined = await asyncio.to_thread(_run_at_a_terminal, stack_ready, final, teacher_token, "n\n")
    assert declined.code == 0 and "finalises the batch" in declined.err and "nothing sent" in declined.err
    assert by_file(await wait_associations(stack_ready, batch_id, 5, teacher_token))["weak.txt"]["status"] == (
        "pending_validation"
    )

    finished = await ok_json(
        stack_ready,
        "associations",
        "validate",
        batch_id,
        "--override",
        f"weak={email('Maja', 'Berg')}",
        "--reject",
        "nobody.txt",
        token=teacher_token,
    )
    assert (finished["finalises"], finished["batch_confirmed"], finished["pending_count"]) == (True, True, 0)
    files = by_file(await wait_associations(stack_ready, batch_id, 5, teacher_token))
    assert files["weak.txt"]["student_id"] == students[email("Maja", "Berg")]["student_id"]
    assert files["nobody.txt"]["status"] == "rejected"

    # Override by e-mail and confirm the rest, in one command and one request.
    second = await register(stack_ready, teacher_token, 5, "--class", class_id)
    assert (await essayflow(stack_ready, "batch", "upload", second, str(folder), token=teacher_token)).code == 0
    await wait_associations(stack_ready, second, 5, teacher_token)
    omar = email("Omar", "Haddad")
    one = await ok_json(
        stack_ready,
        "associations",
        "validate",
        second,
        "--override",
        f"ingrid.txt={omar}",
        "--confirm-all",
        "--min-level",
        "low",
        "--reject-unmatched",
        token=teacher_token,
    )
    assert (one["override_count"], one["confirm_count"], one["reject_count"]) == (1, 3, 1)
    assert one["batch_confirmed"] is True
    files = by_file(await wait_associations(stack_ready, second, 5, teacher_token))
    assert files["ingrid.txt"]["student_id"] == students[omar]["student_id"]
    assert files["ingrid.txt"]["status"] == "confirmed" and files["tobias.txt"]["status"] == "confirmed"

    deadline = time.monotonic() + 30
    while (await ok_json(stack_ready, "batch", "show", second, token=teacher_token))["status"] != (
        "ready_for_pipeline_execution"
    ):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.3)
    ready = await ok_json(stack_ready, "batch", "list", "--class", class_id, token=teacher_token)
    assert {b["batch_id"] for b in ready} == {batch_id, second}


async def test_errors_say_what_the_server_said(stack_ready: E2EStack, teacher_token: str, tmp_path: Path) -> None:
    invalid = await essayflow(stack_ready, "batch", "register", "--count", "0", "--course", "SV1", token=teacher_token)
    assert invalid.code == 1
    assert "INVALID_ARGUMENT" in invalid.err, invalid.text
    # The bounds, in the words of the proto field rule that refuses it first.
    assert "expected_essay_count: must be greater than or equal to 1 and less than or equal to 500" in invalid.err

    klass = await ok_json(stack_ready, "class", "create", "8C", "--course", "SV1", token=teacher_token)
    other = await essayflow(
        stack_ready,
        "batch",
        "register",
        "--count",
        "2",
        "--course",
        "SV2",
        "--class",
        klass["class_id"],
        token=teacher_token,
    )
    assert other.code == 1 and "FAILED_PRECONDITION (CLASS_COURSE_MISMATCH)" in other.err, other.text
    allowed = await register(stack_ready, teacher_token, 2, "--class", klass["class_id"], "--allow-other-course")

    cancelled = await ok_json(stack_ready, "batch", "cancel", allowed, "--reason", "wrong class", token=teacher_token)
    assert cancelled["status"] == "cancelled"
    again = await essayflow(stack_ready, "batch", "cancel", allowed, token=teacher_token)
    assert again.code == 0 and "cancelled" in again.out  # cancelling twice is harmless
    too_late = await essayflow(stack_ready, "batch", "pipeline", allowed, token=teacher_token)
    assert too_late.code == 1 and "FAILED_PRECONDITION" in too_late.err, too_late.text
    listed = await ok_json(stack_ready, "batch", "list", "--status", "cancelled", token=teacher_token)
    assert allowed in {b["batch_id"] for b in listed}

    missing = await essayflow(stack_ready, "associations", "list", allowed, token=teacher_token)
    assert missing.code == 1 and "NOT_FOUND" in missing.err and "matcher has suggested" in missing.err

    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(f"{BODY} {name}", encoding="utf-8")
    unknown = await essayflow(stack_ready, "batch", "upload", str(uuid.uuid4()), str(folder), token=teacher_token)
    assert unknown.code == 1 and unknown.err.count("BATCH_NOT_REGISTERED") == 1, unknown.text

    usage = await essayflow(stack_ready, "batch", "list", "--output", "xml", token=teacher_token)
    assert usage.code == 2 and "choose table or json" in usage.err
    unreachable = await essayflow(stack_ready, "class", "list", token=teacher_token, env={"ESSAYFLOW_CMS_PORT": "1"})
    assert unreachable.code == 3 and "cannot reach" in unreachable.err
    malformed = await essayflow(stack_ready, "class", "list", token=teacher_token, env={"ESSAYFLOW_CMS_PORT": SECRET})
    assert malformed.code == 2 and "malformed" in malformed.err
