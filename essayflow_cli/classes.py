"""``essayflow class``: classes and their rosters (CMS)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from essayflow.cms.v1 import cms_pb2
from essayflow_cli import rosters
from essayflow_cli.calls import RoleOpt, TokenOpt, UserOpt, course, course_name, run
from essayflow_cli.client import Clients
from essayflow_cli.output import EXIT_USAGE, OutputFormat, OutputOpt, emit, err_console, message_dict

app = typer.Typer(help="Classes and rosters (CMS).", no_args_is_help=True)

# AddStudents takes at most this many students a call.
CHUNK = 1000


def class_dict(klass: cms_pb2.Class) -> dict[str, Any]:
    data = message_dict(klass)
    data["course_code"] = course_name(klass.course_code)
    data.setdefault("student_count", 0)
    data.setdefault("auto_confirm_high_confidence", False)
    return data


@app.command("create")
def class_create(
    name: str,
    course_code: Annotated[str, typer.Option("--course", help="ENG5, ENG6, ENG7, SV1, SV2 or SV3")],
    auto_confirm: Annotated[bool, typer.Option(help="Confirm HIGH-confidence matches on arrival")] = False,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Create a class you own; prints its id (the class with --output json)."""
    code = course(course_code)

    async def work(c: Clients) -> cms_pb2.Class:
        request = cms_pb2.CreateClassRequest(name=name, course_code=code, auto_confirm_high_confidence=auto_confirm)
        response = await c.cms.CreateClass(request, metadata=c.metadata)
        created: cms_pb2.Class = getattr(response, "class")
        return created

    created = run(work, token, user, role)
    emit(class_dict(created), output, lambda: created.class_id)


@app.command("list")
def class_list(
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Your classes (every class for an admin): id, name, course, students."""

    async def work(c: Clients) -> list[cms_pb2.Class]:
        classes: list[cms_pb2.Class] = []
        request = cms_pb2.ListClassesRequest(page_size=200)
        while True:
            page = await c.cms.ListClasses(request, metadata=c.metadata)
            classes += page.classes
            if not page.next_page_token:
                return classes
            request.page_token = page.next_page_token

    classes = run(work, token, user, role)
    data = [class_dict(k) for k in classes]

    def table() -> Table:
        listing = Table(title="classes")
        for column in ("class id", "name", "course", "students", "auto-confirm", "created"):
            listing.add_column(column, no_wrap=True)
        for k in data:
            listing.add_row(
                k["class_id"],
                k["name"],
                k["course_code"],
                str(k["student_count"]),
                "yes" if k["auto_confirm_high_confidence"] else "no",
                str(k.get("created_at", ""))[:19],
            )
        return listing

    emit(data, output, table)


@app.command("import-roster")
def class_import_roster(
    class_id: str,
    roster_file: Annotated[
        Path,
        typer.Argument(
            help="CSV (',' ';' or tab; UTF-8 with or without BOM, or Windows-1252) or .xlsx, with a header: "
            "first_name,last_name,email or förnamn,efternamn,e-post (or one name column)",
            exists=True,
            dir_okay=False,
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and check the file; send nothing")] = False,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Add the students of a roster file to a class (idempotent by e-mail).

    Every problem of the file is reported with its line number, duplicates included, and
    then nothing is sent (exit 2): fix the file and run it again."""
    roster = rosters.read_roster(roster_file)
    if roster.problems:
        err_console.print(f"[red]{roster_file.name}: {len(roster.problems)} problems, nothing imported[/red]")
        for problem in roster.problems:
            err_console.print(f"  {problem}")
        if output is OutputFormat.JSON:
            emit({"imported": False, "problems": roster.problems}, output, lambda: None)
        raise typer.Exit(EXIT_USAGE)
    if dry_run:
        rows = [vars(r) for r in roster.rows]
        emit(
            {"imported": False, "read_as": roster.read_as, "students": rows},
            output,
            lambda: f"{len(rows)} students read ({roster.read_as}); nothing sent (dry run)",
        )
        return

    async def work(c: Clients) -> tuple[int, int, list[dict[str, Any]]]:
        created = existing = 0
        stored: list[dict[str, Any]] = []
        for start in range(0, len(roster.rows), CHUNK):
            chunk = roster.rows[start : start + CHUNK]
            request = cms_pb2.AddStudentsRequest(
                class_id=class_id,
                students=[
                    cms_pb2.NewStudent(first_name=r.first_name, last_name=r.last_name, email=r.email) for r in chunk
                ],
            )
            response = await c.cms.AddStudents(request, metadata=c.metadata)
            created += response.created_count
            existing += response.existing_count
            stored += [message_dict(s) for s in response.students]
        return created, existing, stored

    created, existing, stored = run(work, token, user, role)
    data = {
        "imported": True,
        "read_as": roster.read_as,
        "created_count": created,
        "existing_count": existing,
        "students": stored,
    }
    emit(data, output, lambda: f"{created} added, {existing} already there ({roster.read_as})")
