"""``essayflow``: the everyday jobs from a terminal. Every command has ``--help``."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import grpc
import nats
import nats.errors
import typer
from google.protobuf import duration_pb2
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from essayflow.bos.v1 import bos_pb2
from essayflow.cms.v1 import cms_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli import redrive as redrive_module
from essayflow_cli import stack as stack_module
from essayflow_cli import stalled as stalled_module
from essayflow_cli import tail as tail_module
from essayflow_cli.client import Clients, resolve_token
from essayflow_cli.durations import parse_duration
from essayflow_cli.output import EXIT_UNREACHABLE
from essayflow_runtime import enums
from essayflow_runtime.auth import USER_ROLES, Role, mint_service_token, mint_token
from essayflow_runtime.config import load_settings
from essayflow_runtime.exposure import UnsafeExposure

app = typer.Typer(help="essayflow: Phase 1 intake of essay batches.", no_args_is_help=True)
stack_app = typer.Typer(help="Run the whole stack locally.", no_args_is_help=True)
token_app = typer.Typer(help="Development tokens.", no_args_is_help=True)
events_app = typer.Typer(help="Watch the event bus and re-drive dead letters.", no_args_is_help=True)
class_app = typer.Typer(help="Classes and rosters (CMS).", no_args_is_help=True)
batch_app = typer.Typer(help="Batches (BOS) and uploads (ELS).", no_args_is_help=True)
assoc_app = typer.Typer(help="Review who wrote each essay (CMS).", no_args_is_help=True)
for sub, name in (
    (stack_app, "stack"),
    (token_app, "token"),
    (events_app, "events"),
    (class_app, "class"),
    (batch_app, "batch"),
    (assoc_app, "associations"),
):
    app.add_typer(sub, name=name)

# Tables stay readable when the output is a file or a pipe (no terminal width to go by).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)
T = TypeVar("T")

TokenOpt = Annotated[str | None, typer.Option(help="Bearer token (default: $ESSAYFLOW_TOKEN or a dev token)")]
UserOpt = Annotated[str, typer.Option(help="User for the development token")]
RoleOpt = Annotated[str, typer.Option(help="Role for the development token: teacher or admin")]


def _run(work: Callable[[Clients], Awaitable[T]], token: str | None, user: str, role: str) -> T:
    settings = load_settings()
    if not token and role not in USER_ROLES:
        raise typer.BadParameter(f"{role!r}: a development token is for a teacher or an admin", param_hint="--role")

    async def main() -> T:
        clients = Clients(settings, resolve_token(settings, token, user, role))
        try:
            return await work(clients)
        finally:
            await clients.close()

    try:
        return asyncio.run(main())
    except grpc.aio.AioRpcError as error:
        console.print(f"[red]{error.code().name}[/red]: {error.details()}")
        raise typer.Exit(1) from error
    except UnsafeExposure as refused:
        console.print(f"[red]refused[/red]: {refused}")
        raise typer.Exit(2) from refused


def _enum_name(enum: Any, value: int) -> str:
    return enums.to_db(enum, value) if value else "-"


def _course(code: str) -> common_pb2.CourseCode:
    try:
        course: common_pb2.CourseCode = common_pb2.CourseCode.Value(f"COURSE_CODE_{code.upper()}")
    except ValueError:
        raise typer.BadParameter(f"{code!r} is not a course code (ENG5, ENG6, ENG7, SV1, SV2, SV3)") from None
    return course


DataOpt = Annotated[
    Path | None, typer.Option("--data", help="Data directory (default: $ESSAYFLOW_DATA_DIR or .data)")
]


def _data_dir(data: Path | None) -> Path:
    return data if data is not None else Path(load_settings(discover=False).data_dir)


@stack_app.command("up")
def stack_up(data: DataOpt = None) -> None:
    """Start PostgreSQL, NATS and the four services; Ctrl-C stops everything (services first).

    One stack per data directory: a second one refuses (exit 1) and names the running one."""
    raise typer.Exit(stack_module.run_stack_forever(_data_dir(data)))


@stack_app.command("status")
def stack_status(
    data: DataOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Where the running stack is (its stack.json); exit 3 when none runs on the data directory."""
    raise typer.Exit(stack_module.status(_data_dir(data), as_json=output == "json"))


@stack_app.command("reset")
def stack_reset(
    data: DataOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every batch, class and event is deleted")] = False,
) -> None:
    """Delete the local stack's data (PostgreSQL, NATS, logs). Refuses while a stack runs on it
    (exit 1); without --yes only says what would be deleted (exit 2)."""
    raise typer.Exit(stack_module.reset(_data_dir(data), yes=yes))


@token_app.command("mint")
def token_mint(
    user: Annotated[str, typer.Argument(help="User or service id (the token's subject)")],
    role: Annotated[str, typer.Option(help="teacher, admin or service")] = "teacher",
    hours: Annotated[float, typer.Option(help="Lifetime in hours (teacher, admin)")] = 12,
    audience: Annotated[
        str | None, typer.Option(help="The service a service token is for (bos, els, cms, nlp); --role service only")
    ] = None,
) -> None:
    """Mint a development token: a teacher's or admin's (signed with the user-token key,
    ESSAYFLOW_JWT_SECRET), or USER's service token for one callee (signed with USER's own
    service key, which lives minutes)."""
    settings = load_settings()
    try:
        parsed = Role(role)
    except ValueError:
        raise typer.BadParameter(f"{role!r} is not teacher, admin or service", param_hint="--role") from None
    if parsed is Role.SERVICE:
        if not audience:
            raise typer.BadParameter("a service token is for one service: name it", param_hint="--audience")
        print(mint_service_token(settings, user, audience))
        return
    if audience:
        raise typer.BadParameter("only service tokens have an audience", param_hint="--audience")
    print(mint_token(settings, user, parsed, ttl_s=hours * 3600))


@events_app.command("tail")
def events_tail(
    subject: Annotated[str, typer.Argument(help="Subject filter, e.g. 'essayflow.bos.>'")] = ">",
    dlq: Annotated[bool, typer.Option("--dlq", help="Tail the dead letters instead")] = False,
    from_start: Annotated[bool, typer.Option("--from-start", help="Replay what the stream holds first")] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many messages")] = None,
) -> None:
    """Print every event on the bus as one JSON line, decoded through the proto descriptors.

    What it is doing (waiting, NATS lost and retried) goes to stderr, one line each. Exit 0
    (--limit reached or Ctrl-C), 3 when no NATS is configured and no stack runs here."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                tail_module.tail(load_settings(), subject, dead_letters=dlq, from_start=from_start, limit=limit)
            )
    except tail_module.NoNats as missing:
        err_console.print(f"[red]{missing}[/red]")
        raise typer.Exit(EXIT_UNREACHABLE) from None


@events_app.command("redrive")
def events_redrive(
    service: Annotated[str, typer.Option(help="Only this service's dead letters (bos, els, cms, nlp)")] = "",
    subject: Annotated[str, typer.Option(help="Original subject (NATS wildcards * and > allowed)")] = "",
    reason: Annotated[str, typer.Option(help="Dead-letter reason, e.g. MAX_DELIVERIES_EXCEEDED")] = "",
    event_id: Annotated[list[str] | None, typer.Option("--event-id", help="Event id (repeatable)")] = None,
    since: Annotated[str, typer.Option(help="Dead-lettered at or after: 15m, 2h, 7d ago or an ISO time")] = "",
    until: Annotated[str, typer.Option(help="Dead-lettered at or before: 15m, 2h, 7d ago or an ISO time")] = "",
    execute: Annotated[
        bool, typer.Option("--yes", "--execute", help="Re-drive them (without it: a dry run that only lists)")
    ] = False,
    output: Annotated[str, typer.Option(help="table or json")] = "table",
) -> None:
    """Re-drive dead letters to the consumer that dead-lettered them (dry run unless --yes).

    Each chosen dead letter is published to its consumer's re-drive subject and, once
    JetStream acknowledged it, deleted from the dead letters, so running the same command
    twice re-drives nothing the second time. The consumer processes a re-driven event at
    most once. Exit codes: 0 done (also when nothing matched), 1 a re-drive failed or NATS
    could not be reached, 2 usage error.
    """
    if output not in ("table", "json"):
        raise typer.BadParameter("--output must be table or json")
    now = datetime.now(UTC)
    try:
        selection = redrive_module.Selection(
            service=service,
            subject=subject,
            reason=reason,
            event_ids=frozenset(event_id or ()),
            since=redrive_module.parse_moment(since, now) if since else None,
            until=redrive_module.parse_moment(until, now) if until else None,
        )
    except ValueError as error:
        raise typer.BadParameter(f"--since/--until: {error}") from None
    settings = load_settings()

    async def work() -> list[redrive_module.Outcome]:
        async def quiet(_: Exception) -> None:  # the failure is reported once, below, without a traceback
            return None

        client = await nats.connect(
            settings.nats_url, connect_timeout=5, allow_reconnect=False, max_reconnect_attempts=1, error_cb=quiet
        )
        try:
            js = client.jetstream()
            letters = await redrive_module.list_dead_letters(settings, js, selection)
            return await redrive_module.redrive(settings, js, letters, execute=execute)
        finally:
            await client.close()

    try:
        outcomes = asyncio.run(work())
    except (OSError, nats.errors.Error) as error:
        explanation = str(error) or type(error).__name__
        err_console.print(f"[red]cannot read the dead letters at {settings.nats_url}[/red]: {explanation}")
        raise typer.Exit(1) from None
    failed = [o for o in outcomes if o.error]
    if output == "json":
        print(json.dumps(redrive_module.report(outcomes, execute=execute), ensure_ascii=False))
    else:
        console.print(redrive_module.table(outcomes, execute=execute))
        if not outcomes:
            console.print("no dead letters match")
        elif not execute:
            console.print(f"dry run: {len(outcomes)} dead letters would be re-driven; add --yes to re-drive them")
        else:
            console.print(f"{len(outcomes) - len(failed)} re-driven, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


@class_app.command("create")
def class_create(
    name: str,
    course: Annotated[str, typer.Option(help="ENG5, ENG6, ENG7, SV1, SV2 or SV3")],
    auto_confirm: Annotated[bool, typer.Option(help="Confirm HIGH-confidence matches on arrival")] = False,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Create a class you own."""

    async def work(c: Clients) -> Any:
        request = cms_pb2.CreateClassRequest(
            name=name, course_code=_course(course), auto_confirm_high_confidence=auto_confirm
        )
        return await c.cms.CreateClass(request, metadata=c.metadata)

    console.print_json(data=MessageToDict(_run(work, token, user, role), preserving_proto_field_name=True))


@class_app.command("import-roster")
def class_import_roster(
    class_id: str,
    csv_file: Annotated[Path, typer.Argument(help="CSV with columns first_name,last_name,email")],
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Add the students of a CSV file to a class (idempotent by e-mail)."""
    with csv_file.open(newline="", encoding="utf-8") as handle:
        students = [
            cms_pb2.NewStudent(first_name=r["first_name"], last_name=r["last_name"], email=r["email"])
            for r in csv.DictReader(handle)
        ]

    async def work(c: Clients) -> Any:
        return await c.cms.AddStudents(
            cms_pb2.AddStudentsRequest(class_id=class_id, students=students), metadata=c.metadata
        )

    response = _run(work, token, user, role)
    console.print(f"{response.created_count} added, {response.existing_count} already there")


@batch_app.command("register")
def batch_register(
    count: Annotated[int, typer.Option(help="Number of essays expected")],
    course: Annotated[str, typer.Option(help="ENG5, ENG6, ENG7, SV1, SV2 or SV3")],
    class_id: Annotated[str, typer.Option("--class", help="Class id (REGULAR batch); omit for GUEST")] = "",
    title: str = "",
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Register a batch; prints its id."""

    async def work(c: Clients) -> Any:
        return await c.register_batch(count, _course(course), class_id=class_id, title=title)

    print(_run(work, token, user, role).batch_id)


@batch_app.command("upload")
def batch_upload(
    batch_id: str,
    folder: Annotated[Path, typer.Argument(help="Folder of .txt (and .docx) essays")],
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Upload every essay of a folder to a batch, with progress."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".txt", ".docx"})

    async def work(c: Clients) -> list[tuple[str, str]]:
        outcomes = []
        with Progress(console=console) as progress:
            task = progress.add_task("uploading", total=len(files))
            for path in files:
                request = els_pb2.ProvisionEssayRequest(batch_id=batch_id, file_name=path.name, content=_read(path))
                try:
                    response = await c.els.ProvisionEssay(request, metadata=c.metadata)
                    outcomes.append((path.name, els_pb2.ProvisionOutcome.Name(response.outcome)))
                except grpc.aio.AioRpcError as error:
                    outcomes.append((path.name, f"{error.code().name}: {error.details()}"))
                progress.advance(task)
        return outcomes

    for name, outcome in _run(work, token, user, role):
        console.print(f"{name}: {outcome}")


def _read(path: Path) -> bytes:
    if path.suffix.lower() == ".docx":
        try:
            import docx
        except ImportError:
            console.print("[yellow].docx needs python-docx installed; skipping[/yellow]")
            return b""
        return "\n".join(p.text for p in docx.Document(str(path)).paragraphs).encode()
    return path.read_bytes()


@batch_app.command("show")
def batch_show(
    batch_id: str, token: TokenOpt = None, user: UserOpt = "teacher-demo", role: RoleOpt = "teacher"
) -> None:
    """Print a batch as JSON."""

    async def work(c: Clients) -> Any:
        return await c.bos.GetBatch(bos_pb2.GetBatchRequest(batch_id=batch_id), metadata=c.metadata)

    console.print_json(data=MessageToDict(_run(work, token, user, role).batch, preserving_proto_field_name=True))


def history_table(transitions: Any) -> Table:
    table = Table(title="transition history")
    for column in ("v", "from", "to", "cause", "actor", "at"):
        table.add_column(column, no_wrap=True)
    for t in transitions:
        table.add_row(
            str(t.version),
            _enum_name(common_pb2.BatchStatus, t.from_status),
            _enum_name(common_pb2.BatchStatus, t.to_status),
            t.cause if len(t.cause) <= 24 else t.cause[:23] + "…",
            t.actor,
            t.occurred_at.ToJsonString()[:23],
        )
    return table


@batch_app.command("history")
def batch_history(
    batch_id: str, token: TokenOpt = None, user: UserOpt = "teacher-demo", role: RoleOpt = "teacher"
) -> None:
    """Print a batch's status history."""

    async def work(c: Clients) -> Any:
        return await c.bos.ListBatchTransitions(
            bos_pb2.ListBatchTransitionsRequest(batch_id=batch_id), metadata=c.metadata
        )

    console.print(history_table(_run(work, token, user, role).transitions))


@batch_app.command("watch")
def batch_watch(
    batch_id: str, token: TokenOpt = None, user: UserOpt = "teacher-demo", role: RoleOpt = "teacher"
) -> None:
    """Follow a batch's status live (Ctrl-C to stop)."""

    async def work(c: Clients) -> None:
        async for update in c.bos.WatchBatch(bos_pb2.WatchBatchRequest(batch_id=batch_id), metadata=c.metadata):
            status = _enum_name(common_pb2.BatchStatus, update.batch.status)
            console.print(f"v{update.batch.version} {status}")

    with contextlib.suppress(KeyboardInterrupt):
        _run(work, token, user, role)


OutputOpt = Annotated[str, typer.Option("--output", "-o", help="table or json")]


def _print_json(data: Any) -> None:
    # Plain, unwrapped JSON for machines (rich would fold long lines to the terminal width).
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _output(value: str) -> str:
    if value not in ("table", "json"):
        raise typer.BadParameter(f"{value!r}: choose table or json", param_hint="--output")
    return value


@batch_app.command("list")
def batch_list(
    stalled: Annotated[
        str | None, typer.Option(help="Only batches in their status longer than this: 30s, 15m, 2h, 1h30m")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Only this status, e.g. awaiting_content_validation (repeatable)")
    ] = None,
    output: OutputOpt = "table",
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """List batches (yours; every batch for an admin or service) with how long each has waited
    in its status and what it waits for. With --stalled, only those waiting longer (never the
    finished ones unless --status names them)."""
    _output(output)
    request = bos_pb2.ListBatchesRequest()
    try:
        request.statuses.extend(stalled_module.status_of(s) for s in status or [])
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--status") from None
    if stalled is not None:
        try:
            span = parse_duration(stalled)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--stalled") from None
        request.waited_longer_than.CopyFrom(duration_pb2.Duration(seconds=int(span.total_seconds())))

    async def work(c: Clients) -> list[dict[str, Any]]:
        batches = await stalled_module.list_all(c, request)
        return stalled_module.rows(batches, await stalled_module.upload_progress(c, batches))

    listed = _run(work, token, user, role)
    if output == "json":
        _print_json(listed)
        return
    title = f"batches waiting longer than {stalled}" if stalled is not None else "batches"
    console.print(stalled_module.table(listed, title))


@batch_app.command("reconcile")
def batch_reconcile(
    batch_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the logs)")] = "",
    output: OutputOpt = "table",
    token: TokenOpt = None,
    user: UserOpt = "admin-cli",
    role: RoleOpt = "admin",
) -> None:
    """Make the services re-emit, from their own state, what a stuck batch waits for (admin).
    Safe to repeat, and a healthy batch is left as it is."""
    _output(output)

    async def work(c: Clients) -> Any:
        request = bos_pb2.ReconcileBatchRequest(batch_id=batch_id, reason=reason)
        return await c.bos.ReconcileBatch(request, metadata=c.metadata)

    answer = stalled_module.reconciled(_run(work, token, user, role))
    if output == "json":
        _print_json(answer)
        return
    if not answer["requested"]:
        console.print(
            f"{answer['status']} v{answer['version']}: nothing to re-emit (waiting for {answer['waiting_for']})"
        )
        return
    reissued = f"; BOS re-issued {', '.join(answer['reissued'])}" if answer["reissued"] else ""
    console.print(
        f"{answer['status']} v{answer['version']}: reconcile {answer['reconcile_id']} requested{reissued}; "
        f"waiting for {answer['waiting_for']}"
    )


@batch_app.command("pipeline")
def batch_pipeline(
    batch_id: str, token: TokenOpt = None, user: UserOpt = "teacher-demo", role: RoleOpt = "teacher"
) -> None:
    """Request the assessment pipelines of a READY batch."""

    async def work(c: Clients) -> Any:
        request = bos_pb2.RequestPipelineRequest(batch_id=batch_id, idempotency_key=str(uuid.uuid4()))
        return await c.bos.RequestPipeline(request, metadata=c.metadata)

    console.print(_enum_name(common_pb2.BatchStatus, _run(work, token, user, role).batch.status))


@batch_app.command("purge")
def batch_purge(
    batch_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the texts and personal data cannot be restored")] = False,
    reason: Annotated[str, typer.Option(help="Why (kept with the purge record)")] = "",
    output: Annotated[str, typer.Option(help="text or json")] = "text",
    token: TokenOpt = None,
    user: UserOpt = "admin-demo",
    role: RoleOpt = "admin",
) -> None:
    """Delete a batch's essay texts and personal data in every service (admin only).

    Its status history stays; a batch that is not yet finished is cancelled first."""
    if output not in ("text", "json"):
        raise typer.BadParameter("--output must be text or json")
    if not yes:
        Console(stderr=True).print(
            f"Refusing to purge batch {batch_id} without --yes: its essay texts, file names and "
            "student links are deleted in every service and cannot be restored."
        )
        raise typer.Exit(2)

    async def work(c: Clients) -> Any:
        return await c.bos.PurgeBatch(bos_pb2.PurgeBatchRequest(batch_id=batch_id, reason=reason), metadata=c.metadata)

    response = _run(work, token, user, role)
    if output == "json":
        console.print_json(data=MessageToDict(response, preserving_proto_field_name=True))
        return
    status = _enum_name(common_pb2.BatchStatus, response.batch.status)
    again = " (already purged before)" if response.already_purged else ""
    console.print(
        f"purged batch {batch_id}{again}: {len(response.event.text_storage_ids)} texts, status {status}, "
        f"at {response.purged_at.ToJsonString()}"
    )


def associations_table(associations: Any) -> Table:
    table = Table(title="associations")
    for column in ("essay", "suggested", "score", "level", "status", "student", "method", "by"):
        table.add_column(column, no_wrap=True)
    for a in associations:
        suggested = f"{a.suggested_student.first_name} {a.suggested_student.last_name}".strip() or "-"
        student = f"{a.student.first_name} {a.student.last_name}".strip() or "-"
        table.add_row(
            a.essay_id[:8],
            suggested,
            f"{a.confidence_score:.2f}",
            _enum_name(common_pb2.AssociationConfidenceLevel, a.confidence_level),
            _enum_name(common_pb2.StudentAssociationStatus, a.status),
            student,
            _enum_name(common_pb2.AssociationValidationMethod, a.validation_method),
            a.validated_by or "-",
        )
    return table


@assoc_app.command("list")
def associations_list(
    batch_id: str, token: TokenOpt = None, user: UserOpt = "teacher-demo", role: RoleOpt = "teacher"
) -> None:
    """Show each essay's suggested and confirmed author."""

    async def work(c: Clients) -> Any:
        return await c.cms.ListBatchAssociations(
            cms_pb2.ListBatchAssociationsRequest(batch_id=batch_id), metadata=c.metadata
        )

    response = _run(work, token, user, role)
    console.print(associations_table(response.associations))
    console.print(f"deadline: {response.validation_deadline.ToJsonString()}")


@assoc_app.command("validate")
def associations_validate(
    batch_id: str,
    confirm: Annotated[list[str] | None, typer.Option(help="Essay id to confirm (repeatable)")] = None,
    reject: Annotated[list[str] | None, typer.Option(help="Essay id to reject (repeatable)")] = None,
    override: Annotated[list[str] | None, typer.Option(help="ESSAY_ID=STUDENT_ID (repeatable)")] = None,
    confirm_all: Annotated[bool, typer.Option("--confirm-all", help="Confirm every pending suggestion")] = False,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Confirm, reject or override associations."""

    async def work(c: Clients) -> Any:
        decisions = [cms_pb2.AssociationDecision(essay_id=e, confirm=cms_pb2.ConfirmDecision()) for e in confirm or []]
        decisions += [cms_pb2.AssociationDecision(essay_id=e, reject=cms_pb2.RejectDecision()) for e in reject or []]
        for pair in override or []:
            essay_id, _, student_id = pair.partition("=")
            decisions.append(
                cms_pb2.AssociationDecision(essay_id=essay_id, override=cms_pb2.OverrideDecision(student_id=student_id))
            )
        if confirm_all:
            listed = await c.cms.ListBatchAssociations(
                cms_pb2.ListBatchAssociationsRequest(batch_id=batch_id), metadata=c.metadata
            )
            pending = common_pb2.STUDENT_ASSOCIATION_STATUS_PENDING_VALIDATION
            decisions += [
                cms_pb2.AssociationDecision(essay_id=a.essay_id, confirm=cms_pb2.ConfirmDecision())
                if a.suggested_student.student_id
                else cms_pb2.AssociationDecision(essay_id=a.essay_id, reject=cms_pb2.RejectDecision())
                for a in listed.associations
                if a.status == pending
            ]
        return await c.cms.ValidateAssociations(
            cms_pb2.ValidateAssociationsRequest(batch_id=batch_id, decisions=decisions), metadata=c.metadata
        )

    response = _run(work, token, user, role)
    console.print(f"batch confirmed: {response.batch_confirmed}; still pending: {response.pending_count}")


@app.command("demo")
def demo() -> None:
    """Drive a REGULAR and a GUEST batch to READY and on to PROCESSING_PIPELINES."""
    from essayflow_cli import demo as demo_module

    raise typer.Exit(demo_module.main())


if __name__ == "__main__":
    sys.exit(app())
