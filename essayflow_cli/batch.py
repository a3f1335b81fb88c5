"""``essayflow batch``: register, upload, follow, list, cancel (BOS and ELS)."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import grpc
import typer
from google.protobuf import duration_pb2
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from essayflow.bos.v1 import bos_pb2
from essayflow.common.v1 import common_pb2
from essayflow.els.v1 import els_pb2
from essayflow_cli import documents
from essayflow_cli import stalled as stalled_module
from essayflow_cli.calls import RoleOpt, TokenOpt, UserOpt, course, course_name, enum_name, run
from essayflow_cli.client import Clients
from essayflow_cli.durations import parse_duration
from essayflow_cli.output import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    UNREACHABLE_CODES,
    OutputFormat,
    OutputOpt,
    console,
    describe_rpc_error,
    emit,
    err_console,
    fail_usage,
    message_dict,
)

app = typer.Typer(help="Batches (BOS) and uploads (ELS).", no_args_is_help=True)


def batch_dict(batch: bos_pb2.Batch) -> dict[str, Any]:
    data = message_dict(batch)
    data["status"] = enum_name(common_pb2.BatchStatus, batch.status)
    return data


@app.command("register")
def batch_register(
    count: Annotated[int, typer.Option(help="Number of essays expected")],
    course_code: Annotated[str, typer.Option("--course", help="ENG5, ENG6, ENG7, SV1, SV2 or SV3")],
    class_id: Annotated[str, typer.Option("--class", help="Class id (REGULAR batch); omit for GUEST")] = "",
    title: str = "",
    allow_other_course: Annotated[
        bool,
        typer.Option("--allow-other-course", help="Register against a class of another course on purpose"),
    ] = False,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Register a batch; prints its id (the batch with --output json)."""
    code = course(course_code)

    async def work(c: Clients) -> bos_pb2.Batch:
        return await c.register_batch(
            count, code, class_id=class_id, title=title, allow_other_course=allow_other_course
        )

    batch = run(work, token, user, role)
    emit(batch_dict(batch), output, lambda: batch.batch_id)


# ---------------------------------------------------------------- upload


@dataclass
class Uploaded:
    file_name: str
    outcome: str  # bound, duplicate, excess, pending_registration, failed
    detail: str = ""
    # For a failure: whether it took one of the batch's slots (a slot failed for good).
    consumed_slot: bool = False
    read_as: str = ""
    essay_id: str = ""


_OUTCOME_NAMES = {
    els_pb2.PROVISION_OUTCOME_BOUND: "bound",
    els_pb2.PROVISION_OUTCOME_DUPLICATE: "duplicate",
    els_pb2.PROVISION_OUTCOME_EXCESS: "excess",
    els_pb2.PROVISION_OUTCOME_PENDING_REGISTRATION: "pending_registration",
}


def _failure(name: str, error: grpc.aio.AioRpcError, read_as: str) -> Uploaded:
    described = describe_rpc_error(error)
    meta = described.get("metadata", {})
    violations = "; ".join(v["description"] for v in described.get("field_violations", []))
    detail = f"{described['code']}: {violations or described['message']}"
    # ELS says what the failed upload did: "failed" took a free slot (it stays failed).
    consumed = meta.get("outcome") == "failed"
    return Uploaded(name, "failed", detail, consumed_slot=consumed, read_as=read_as, essay_id=meta.get("essay_id", ""))


def _refuses_the_batch(error: grpc.aio.AioRpcError) -> bool:
    """A refusal of the batch or the caller rather than of this one file."""
    if error.code() in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        return True
    return describe_rpc_error(error).get("reason") == "BATCH_NOT_REGISTERED"


@app.command("upload")
def batch_upload(
    batch_id: str,
    folder: Annotated[Path, typer.Argument(help="Folder of essays: .txt, .docx, .pdf", exists=True, file_okay=False)],
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Upload every essay of a folder to a batch, then say what happened to each.

    .txt files in UTF-8 (with or without BOM), UTF-16 or Windows-1252 are sent as UTF-8;
    .docx and .pdf are sent as their text. Any other file, an empty one, or one whose text
    is too short is refused here, before anything is sent, and takes no slot. Exit 0 when
    every file was bound (or was already), 1 when any failed or found every slot taken, 3 when
    ELS cannot be reached."""
    results: list[Uploaded] = []
    ready: list[documents.Document] = []
    found = documents.essay_files(folder)
    if not found:
        fail_usage(f"{folder} has no files to upload (.txt, .docx, .pdf)")
    for path in found:
        try:
            ready.append(documents.read_document(path))
        except documents.Unreadable as why:
            results.append(Uploaded(path.name, "failed", f"not sent: {why}"))
        except OSError as error:
            results.append(Uploaded(path.name, "failed", f"not sent: {error.strerror or error}"))

    async def work(c: Clients) -> tuple[list[Uploaded], els_pb2.GetBatchSlotsResponse | None, bool]:
        sent: list[Uploaded] = []
        unreachable = False
        with Progress(console=err_console, transient=True, disable=output is OutputFormat.JSON) as progress:
            task = progress.add_task("uploading", total=len(ready))
            for document in ready:
                request = els_pb2.ProvisionEssayRequest(
                    batch_id=batch_id, file_name=document.path.name, content=document.content
                )
                try:
                    response = await c.els.ProvisionEssay(request, metadata=c.metadata)
                    outcome = _OUTCOME_NAMES.get(response.outcome, "unknown")
                    sent.append(
                        Uploaded(document.path.name, outcome, read_as=document.source, essay_id=response.essay_id)
                    )
                except grpc.aio.AioRpcError as error:
                    if error.code() in UNREACHABLE_CODES:
                        unreachable = True
                        sent.append(Uploaded(document.path.name, "failed", f"not sent: {error.code().name}"))
                        break
                    if _refuses_the_batch(error):
                        raise  # no file can go to this batch: say why once, not per file
                    sent.append(_failure(document.path.name, error, document.source))
                progress.advance(task)
        slots = None
        if not unreachable:
            with contextlib.suppress(grpc.aio.AioRpcError):
                slots = await c.els.GetBatchSlots(els_pb2.GetBatchSlotsRequest(batch_id=batch_id), metadata=c.metadata)
        return sent, slots, unreachable

    sent, slots, unreachable = run(work, token, user, role)
    results = sorted(results + sent, key=lambda r: r.file_name.casefold())
    counts = Counter(r.outcome for r in results)
    failed = [r for r in results if r.outcome == "failed"]
    consumed = sum(1 for r in failed if r.consumed_slot)
    warnings: list[str] = []
    slot_state: dict[str, Any] = {}
    if slots is not None and slots.expected_essay_count:
        by_status = Counter(s.status for s in slots.slots)
        failed_slots = by_status[common_pb2.ESSAY_STATUS_VALIDATION_FAILED]
        open_slots = by_status[common_pb2.ESSAY_STATUS_AWAITING_CONTENT]
        usable = slots.expected_essay_count - failed_slots - open_slots
        slot_state = {
            "expected": slots.expected_essay_count,
            "with_text": usable,
            "failed": failed_slots,
            "open": open_slots,
            "excess": slots.excess_count,
            "completed": slots.completed,
        }
        if failed_slots:
            warnings.append(
                f"{failed_slots} of the batch's {slots.expected_essay_count} slots failed for good: the batch will go "
                f"on with {slots.expected_essay_count - failed_slots} essays, not {slots.expected_essay_count}"
            )
        if open_slots:
            warnings.append(
                f"{open_slots} slots still wait for an essay: upload the missing ones (the batch waits until then)"
            )
    if counts["excess"]:
        warnings.append(f"{counts['excess']} files found every slot taken: they are not in the batch")
    summary = {
        "batch_id": batch_id,
        "files": [dict(vars(r)) for r in results],
        "bound": counts["bound"],
        "duplicate": counts["duplicate"],
        "excess": counts["excess"],
        "pending_registration": counts["pending_registration"],
        "failed": len(failed),
        "failed_slots_consumed": consumed,
        "slots": slot_state,
        "warnings": warnings,
    }

    def table() -> None:
        listing = Table(title=f"upload to batch {batch_id}")
        for column in ("file", "outcome", "read as", "detail"):
            listing.add_column(column, overflow="fold")
        for r in results:
            style = "red" if r.outcome == "failed" else "yellow" if r.outcome == "excess" else ""
            outcome = f"[{style}]{r.outcome}[/{style}]" if style else r.outcome
            listing.add_row(escape(r.file_name), outcome, r.read_as or "-", escape(r.detail) or "-")
        console.print(listing)
        line = (
            f"{counts['bound']} bound, {counts['duplicate']} duplicate, {counts['excess']} excess, "
            f"{len(failed)} failed ({consumed} of them took a slot)"
        )
        if counts["pending_registration"]:
            line += f", {counts['pending_registration']} waiting for the registration"
        console.print(line)
        for warning in warnings:
            console.print(f"[yellow]warning[/yellow]: {warning}")

    emit(summary, output, table)
    if unreachable:
        raise typer.Exit(EXIT_UNREACHABLE)
    raise typer.Exit(EXIT_REFUSED if failed or counts["excess"] else EXIT_OK)


# ---------------------------------------------------------------- reading


@app.command("show")
def batch_show(
    batch_id: str,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """A batch: status, class, course, what it waits for, its essays (all of it with --output json)."""

    async def work(c: Clients) -> bos_pb2.GetBatchResponse:
        response: bos_pb2.GetBatchResponse = await c.bos.GetBatch(
            bos_pb2.GetBatchRequest(batch_id=batch_id), metadata=c.metadata
        )
        return response

    batch = run(work, token, user, role).batch

    def table() -> Table:
        view = Table(title=f"batch {batch.batch_id}", show_header=False)
        view.add_column("field", style="bold")
        view.add_column("value", overflow="fold")
        view.add_row("status", f"{enum_name(common_pb2.BatchStatus, batch.status)} (v{batch.version})")
        view.add_row("type", enum_name(common_pb2.BatchType, batch.batch_type))
        view.add_row("course", course_name(batch.course_code))
        view.add_row("class", batch.class_id or "-")
        view.add_row("title", batch.title or "-")
        view.add_row("expected essays", str(batch.expected_essay_count))
        view.add_row("essays with text", str(len(batch.essays)))
        view.add_row("waiting for", batch.waiting_for.description or "-")
        return view

    emit(batch_dict(batch), output, table)


def history_table(transitions: Any) -> Table:
    table = Table(title="transition history")
    for column in ("v", "from", "to", "cause", "actor", "at"):
        table.add_column(column, no_wrap=True)
    for t in transitions:
        table.add_row(
            str(t.version),
            enum_name(common_pb2.BatchStatus, t.from_status),
            enum_name(common_pb2.BatchStatus, t.to_status),
            t.cause if len(t.cause) <= 24 else t.cause[:23] + "…",
            t.actor,
            t.occurred_at.ToJsonString()[:23],
        )
    return table


@app.command("history")
def batch_history(
    batch_id: str,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Print a batch's status history."""

    async def work(c: Clients) -> Any:
        return await c.bos.ListBatchTransitions(
            bos_pb2.ListBatchTransitionsRequest(batch_id=batch_id), metadata=c.metadata
        )

    transitions = run(work, token, user, role).transitions
    data = [
        {
            **message_dict(t),
            "from_status": enum_name(common_pb2.BatchStatus, t.from_status),
            "to_status": enum_name(common_pb2.BatchStatus, t.to_status),
        }
        for t in transitions
    ]
    emit(data, output, lambda: history_table(transitions))


@app.command("watch")
def batch_watch(
    batch_id: str,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Follow a batch's status live (Ctrl-C to stop); --output json prints one object a line."""

    async def work(c: Clients) -> None:
        async for update in c.bos.WatchBatch(bos_pb2.WatchBatchRequest(batch_id=batch_id), metadata=c.metadata):
            status = enum_name(common_pb2.BatchStatus, update.batch.status)
            if output is OutputFormat.JSON:
                import json

                print(json.dumps({"version": update.batch.version, "status": status}), flush=True)
            else:
                console.print(f"v{update.batch.version} {status}")

    with contextlib.suppress(KeyboardInterrupt):
        run(work, token, user, role)


@app.command("list")
def batch_list(
    stalled: Annotated[
        str | None, typer.Option(help="Only batches in their status longer than this: 30s, 15m, 2h, 1h30m")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Only this status, e.g. awaiting_content_validation (repeatable)")
    ] = None,
    class_id: Annotated[str, typer.Option("--class", help="Only the batches of this class (id or id prefix)")] = "",
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """List batches (yours; every batch for an admin or service) with how long each has waited
    in its status and what it waits for. With --stalled, only those waiting longer (never the
    finished ones unless --status names them)."""
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
    wanted_class = class_id.strip().lower()

    async def work(c: Clients) -> list[dict[str, Any]]:
        batches = await stalled_module.list_all(c, request)
        if wanted_class:
            batches = [b for b in batches if b.class_id and b.class_id.lower().startswith(wanted_class)]
        listed = stalled_module.rows(batches, await stalled_module.upload_progress(c, batches))
        for row, batch in zip(listed, batches, strict=True):
            row["class_id"] = batch.class_id
        return listed

    listed = run(work, token, user, role)
    title = f"batches waiting longer than {stalled}" if stalled is not None else "batches"
    emit(listed, output, lambda: stalled_module.table(listed, title))


# ---------------------------------------------------------------- changing


@app.command("cancel")
def batch_cancel(
    batch_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the history)")] = "",
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Cancel a batch that is not finished yet (its owner)."""

    async def work(c: Clients) -> bos_pb2.CancelBatchResponse:
        response: bos_pb2.CancelBatchResponse = await c.bos.CancelBatch(
            bos_pb2.CancelBatchRequest(batch_id=batch_id, reason=reason), metadata=c.metadata
        )
        return response

    batch = run(work, token, user, role).batch
    emit(
        batch_dict(batch), output, lambda: f"batch {batch.batch_id}: {enum_name(common_pb2.BatchStatus, batch.status)}"
    )


@app.command("reconcile")
def batch_reconcile(
    batch_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the logs)")] = "",
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "admin-cli",
    role: RoleOpt = "admin",
) -> None:
    """Make the services re-emit, from their own state, what a stuck batch waits for (admin).
    Safe to repeat, and a healthy batch is left as it is."""

    async def work(c: Clients) -> Any:
        request = bos_pb2.ReconcileBatchRequest(batch_id=batch_id, reason=reason)
        return await c.bos.ReconcileBatch(request, metadata=c.metadata)

    answer = stalled_module.reconciled(run(work, token, user, role))

    def said() -> str:
        if not answer["requested"]:
            return f"{answer['status']} v{answer['version']}: nothing to re-emit (waiting for {answer['waiting_for']})"
        reissued = f"; BOS re-issued {', '.join(answer['reissued'])}" if answer["reissued"] else ""
        return (
            f"{answer['status']} v{answer['version']}: reconcile {answer['reconcile_id']} requested{reissued}; "
            f"waiting for {answer['waiting_for']}"
        )

    emit(answer, output, said)


@app.command("pipeline")
def batch_pipeline(
    batch_id: str,
    output: OutputOpt = OutputFormat.TABLE,
    token: TokenOpt = None,
    user: UserOpt = "teacher-demo",
    role: RoleOpt = "teacher",
) -> None:
    """Request the assessment pipelines of a READY batch."""

    async def work(c: Clients) -> Any:
        request = bos_pb2.RequestPipelineRequest(batch_id=batch_id, idempotency_key=str(uuid.uuid4()))
        return await c.bos.RequestPipeline(request, metadata=c.metadata)

    batch = run(work, token, user, role).batch
    emit(batch_dict(batch), output, lambda: enum_name(common_pb2.BatchStatus, batch.status))


@app.command("purge")
def batch_purge(
    batch_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the texts and personal data cannot be restored")] = False,
    reason: Annotated[str, typer.Option(help="Why (kept with the purge record)")] = "",
    output: Annotated[str, typer.Option("--output", "-o", help="table (or text) or json")] = "table",
    token: TokenOpt = None,
    user: UserOpt = "admin-demo",
    role: RoleOpt = "admin",
) -> None:
    """Delete a batch's essay texts and personal data in every service (admin only).

    Its status history stays; a batch that is not yet finished is cancelled first."""
    if output not in ("table", "text", "json"):
        raise typer.BadParameter("--output must be table or json", param_hint="--output")
    if not yes:
        err_console.print(
            f"Refusing to purge batch {batch_id} without --yes: its essay texts, file names and "
            "student links are deleted in every service and cannot be restored."
        )
        raise typer.Exit(2)

    async def work(c: Clients) -> Any:
        return await c.bos.PurgeBatch(bos_pb2.PurgeBatchRequest(batch_id=batch_id, reason=reason), metadata=c.metadata)

    response = run(work, token, user, role)

    def said() -> str:
        status = enum_name(common_pb2.BatchStatus, response.batch.status)
        again = " (already purged before)" if response.already_purged else ""
        return (
            f"purged batch {batch_id}{again}: {len(response.event.text_storage_ids)} texts, status {status}, "
            f"at {response.purged_at.ToJsonString()}"
        )

    emit(message_dict(response), OutputFormat(output if output == "json" else "table"), said)
