"""``essayflow associations``: review who wrote each essay, and decide."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import grpc
import typer
from rich.console import Console
from rich.table import Table

from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli import review
from essayflow_cli.calls import RoleOpt, TokenOpt, UserOpt, enum_name, run
from essayflow_cli.client import Clients
from essayflow_cli.output import EXIT_OK, OutputFormat, OutputOpt, console, emit, err_console, fail_usage

app = typer.Typer(help="Review who wrote each essay (CMS).", no_args_is_help=True)

HINTS = {
    grpc.StatusCode.NOT_FOUND: "CMS knows a batch once the matcher has suggested its authors: a REGULAR batch "
    "whose essays are all uploaded (a GUEST batch has no class and nothing to review)"
}


async def load_review(
    c: Clients, batch_id: str
) -> tuple[cms_pb2.ListBatchAssociationsResponse, list[review.Essay], list[common_pb2.Student]]:
    """The batch's associations with their file names (from ELS) and the class roster."""
    listed = await c.cms.ListBatchAssociations(
        cms_pb2.ListBatchAssociationsRequest(batch_id=batch_id), metadata=c.metadata
    )
    names: dict[str, str] = {}
    try:
        slots = await c.els.GetBatchSlots(els_pb2.GetBatchSlotsRequest(batch_id=batch_id), metadata=c.metadata)
        names = {s.essay_id: s.file_name for s in slots.slots}
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:  # a purged batch has no file names left
            raise
    students = await c.cms.ListClassStudents(
        cms_pb2.ListClassStudentsRequest(class_id=listed.class_id), metadata=c.metadata
    )
    essays = [review.Essay(a, a.file_name or names.get(a.essay_id, "")) for a in listed.associations]
    essays.sort(key=lambda e: (e.file_name.casefold() or "~", e.essay_id))
    return listed, essays, list(students.students)


def essay_rows(essays: list[review.Essay]) -> list[dict[str, Any]]:
    prefixes = review.shortest_prefixes(e.essay_id for e in essays)
    rows = []
    for e in essays:
        a = e.association
        rows.append(
            {
                "essay_id": a.essay_id,
                "essay": prefixes[a.essay_id],
                "file_name": e.file_name,
                "suggested": review.full_name(a.suggested_student) if e.has_suggestion else "",
                "suggested_email": a.suggested_student.email if e.has_suggestion else "",
                "suggested_student_id": a.suggested_student.student_id if e.has_suggestion else "",
                "score": round(a.confidence_score, 3),
                "level": review.level_name(a.confidence_level),
                "reasons": review.reasons_text(a),
                "status": enum_name(common_pb2.StudentAssociationStatus, a.status),
                "student": review.full_name(a.student) if a.student.student_id else "",
                "student_id": a.student.student_id,
                "method": enum_name(common_pb2.AssociationValidationMethod, a.validation_method),
                "decided_by": a.validated_by,
            }
        )
    return rows


def essays_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for column in ("essay", "file", "suggested", "level", "reasons", "status", "student", "decided by"):
        table.add_column(column, no_wrap=column not in ("reasons", "file"), overflow="fold")
    for r in rows:
        table.add_row(
            r["essay"],
            r["file_name"] or "-",
            r["suggested"] or "-",
            f"{r['level']} {r['score']:.2f}" if r["suggested"] else r["level"],
            r["reasons"],
            r["status"],
            r["student"] or "-",
            r["decided_by"] or "-",
        )
    return table


@app.command("list")
def associations_list(
    batch_id: str,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Each essay: file, suggested student, level, the reasons in words, status, who decided."""

    async def work(c: Clients) -> tuple[cms_pb2.ListBatchAssociationsResponse, list[review.Essay]]:
        listed, essays, _ = await load_review(c, batch_id)
        return listed, essays

    listed, essays = run(work, token, user, role, HINTS)
    rows = essay_rows(essays)
    pending = sum(1 for e in essays if e.pending)
    deadline = listed.validation_deadline.ToJsonString()
    data = {
        "batch_id": listed.batch_id,
        "class_id": listed.class_id,
        "state": enum_name(cms_pb2.BatchValidationState, listed.state),
        "validation_deadline": deadline,
        "pending_count": pending,
        "associations": rows,
    }

    def table() -> None:
        console.print(essays_table(rows, f"who wrote each essay of batch {listed.batch_id}"))
        console.print(f"{pending} of {len(rows)} pending; the deadline decides what is still pending at {deadline}")

    emit(data, output, table)


@app.command("validate")
def associations_validate(
    batch_id: str,
    confirm: Annotated[
        list[str] | None, typer.Option(help="Confirm this essay's suggestion: file name or id prefix (repeatable)")
    ] = None,
    reject: Annotated[
        list[str] | None, typer.Option(help="No student of the class wrote this essay (repeatable)")
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option(
            help="ESSAY=STUDENT: the essay (file name or id prefix) is by this student "
            "(e-mail, name or id prefix) (repeatable)"
        ),
    ] = None,
    confirm_all: Annotated[
        bool,
        typer.Option("--confirm-all", help="Also confirm every other pending suggestion at or above --min-level"),
    ] = False,
    min_level: Annotated[
        str, typer.Option(help="high, medium or low: the least confident --confirm-all takes")
    ] = "high",
    reject_unmatched: Annotated[
        bool, typer.Option("--reject-unmatched", help="Also reject every other pending essay that has no suggestion")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be decided; change nothing")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before finalising the batch")] = False,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Apply any mix of decisions in one request: override some, reject some, confirm the rest.

    --confirm-all confirms only suggestions at or above --min-level (default high) and leaves
    the others pending; unmatched essays are rejected only with --reject-unmatched. When no
    essay would be left pending the batch is finalised, and a terminal asks first (--yes
    does not ask). --dry-run prints the plan and sends nothing."""
    level = min_level.strip().lower()
    if level not in review.LEVELS:
        raise typer.BadParameter(f"{min_level!r}: choose high, medium or low", param_hint="--min-level")

    async def load(c: Clients) -> tuple[list[review.Essay], list[common_pb2.Student]]:
        _, essays, students = await load_review(c, batch_id)
        return essays, students

    essays, students = run(load, token, user, role, HINTS)
    try:
        the_plan = review.plan(
            essays,
            students,
            confirm=confirm or [],
            reject=reject or [],
            override=override or [],
            confirm_all=confirm_all,
            min_level=level,
            reject_unmatched=reject_unmatched,
        )
    except review.Unresolved as problem:
        fail_usage(str(problem), problem.candidates)
    rows = review.plan_rows(the_plan)
    counts = {action.value: sum(1 for d in the_plan.decisions if d.action is action) for action in review.Action}
    below = sum(1 for e, _ in the_plan.left_pending if e.has_suggestion)
    unmatched = len(the_plan.left_pending) - below
    summary: dict[str, Any] = {
        "batch_id": batch_id,
        "dry_run": dry_run,
        **{f"{k}_count": v for k, v in counts.items()},
        "left_pending_count": len(the_plan.left_pending),
        "left_pending_suggested": below,
        "left_pending_unmatched": unmatched,
        "finalises": the_plan.finalises,
        "decisions": rows,
    }

    def said() -> str:
        done = ", ".join(f"{n} {'to ' + k if k != 'override' else 'overridden'}" for k, n in counts.items() if n)
        verb = "would" if dry_run else "will"
        text = f"{done or 'nothing to decide'}"
        if the_plan.left_pending:
            parts = [f"{below} {'below ' + level if confirm_all else 'with a suggestion'}"] if below else []
            parts += [f"{unmatched} without a suggestion"] if unmatched else []
            text += f"; {len(the_plan.left_pending)} {verb} stay pending ({', '.join(parts)})"
        if the_plan.finalises:
            text += f"; this {verb} finalise the batch (no essay left pending)"
        return text

    if not the_plan.decisions or dry_run:
        emit(summary, output, lambda: _print_plan(rows, said(), dry_run))
        raise typer.Exit(EXIT_OK)
    if the_plan.finalises and not yes and sys.stdin.isatty():
        # A person at a terminal: show the plan and ask (on stderr, so --output json stays clean).
        _print_plan(rows, said(), False, err_console)
        question = "This finalises the batch: its associations cannot be changed afterwards. Send?"
        if not typer.confirm(question, default=False, err=True):
            err_console.print("nothing sent")
            raise typer.Exit(EXIT_OK)

    async def send(c: Clients) -> cms_pb2.ValidateAssociationsResponse:
        response: cms_pb2.ValidateAssociationsResponse = await c.cms.ValidateAssociations(
            the_plan.request(batch_id), metadata=c.metadata
        )
        return response

    response = run(send, token, user, role)
    summary["batch_confirmed"] = response.batch_confirmed
    summary["pending_count"] = response.pending_count

    def table() -> None:
        _print_plan(rows, said(), False)
        state = "confirmed (final)" if response.batch_confirmed else f"{response.pending_count} still pending"
        console.print(f"batch {batch_id}: {state}")

    emit(summary, output, table)


def _print_plan(rows: list[dict[str, Any]], said: str, dry_run: bool, target: Console = console) -> None:
    table = Table(title="would be decided (dry run)" if dry_run else "decisions")
    for column in ("essay", "file", "decision", "student", "level", "why"):
        table.add_column(column, overflow="fold")
    for r in rows:
        student = f"{r['student']} <{r['student_email']}>" if r["student"] else "-"
        table.add_row(r["essay_id"][:8], r["file_name"] or "-", r["action"], student, r["level"], r["by"])
    if rows:
        target.print(table)
    target.print(said)


def associations_table(associations: Any) -> Table:
    """The table of ``associations list`` for associations read elsewhere (the demo)."""
    essays = [review.Essay(a, a.file_name) for a in associations]
    return essays_table(essay_rows(essays), "associations")
