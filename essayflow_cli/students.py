"""``essayflow students``: who is in a class, with the ids other commands take."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from essayflow.cms.v1 import cms_pb2
from essayflow_cli.calls import RoleOpt, TokenOpt, UserOpt, run
from essayflow_cli.client import Clients
from essayflow_cli.output import OutputFormat, OutputOpt, emit

app = typer.Typer(help="Students of a class (CMS).", no_args_is_help=True)


@app.command("list")
def students_list(
    class_id: str,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """The class roster: id, name, e-mail."""

    async def work(c: Clients) -> list[dict[str, Any]]:
        response = await c.cms.ListClassStudents(
            cms_pb2.ListClassStudentsRequest(class_id=class_id), metadata=c.metadata
        )
        return [
            {"student_id": s.student_id, "first_name": s.first_name, "last_name": s.last_name, "email": s.email}
            for s in response.students
        ]

    students = sorted(run(work, token, user, role), key=lambda s: (s["last_name"].casefold(), s["first_name"]))

    def table() -> Table:
        listing = Table(title=f"students of class {class_id}")
        for column in ("student id", "name", "e-mail"):
            listing.add_column(column, no_wrap=True)
        for s in students:
            listing.add_row(s["student_id"], f"{s['first_name']} {s['last_name']}", s["email"])
        return listing

    emit(students, output, table)
