"""``essayflow``: the everyday jobs from a terminal. Every command has ``--help``.

One module per noun (``batch``, ``class``, ``students``, ``associations``, ``token``); this
one assembles them, and holds the stack and events commands. Exit codes and the output
formats every command shares are in ``output.py``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import nats
import nats.errors
import typer

from essayflow_cli import associations as associations_module
from essayflow_cli import batch as batch_module
from essayflow_cli import classes as classes_module
from essayflow_cli import redrive as redrive_module
from essayflow_cli import stack as stack_module
from essayflow_cli import students as students_module
from essayflow_cli import tail as tail_module
from essayflow_cli import tokens as tokens_module
from essayflow_cli.associations import associations_table
from essayflow_cli.batch import history_table
from essayflow_cli.output import EXIT_UNREACHABLE, console, err_console
from essayflow_runtime.config import load_settings, nats_servers

# Never print a crash's local variables: they hold settings, and settings hold secrets.
app = typer.Typer(
    help="essayflow: Phase 1 intake of essay batches.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
stack_app = typer.Typer(help="Run the whole stack locally.", no_args_is_help=True)
events_app = typer.Typer(help="Watch the event bus and re-drive dead letters.", no_args_is_help=True)
for sub, name in (
    (stack_app, "stack"),
    (tokens_module.app, "token"),
    (events_app, "events"),
    (classes_module.app, "class"),
    (students_module.app, "students"),
    (batch_module.app, "batch"),
    (associations_module.app, "associations"),
):
    app.add_typer(sub, name=name)

__all__ = ["app", "associations_table", "console", "history_table"]


DataOpt = Annotated[
    Path | None, typer.Option("--data", help="Data directory (default: $ESSAYFLOW_DATA_DIR or .data)")
]


def _data_dir(data: Path | None) -> Path:
    return data if data is not None else Path(load_settings(discover=False).data_dir)


@stack_app.command("up")
def stack_up(
    data: DataOpt = None,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="NATS as a three-node JetStream cluster on 127.0.0.1 (client ports $ESSAYFLOW_NATS_PORT to +2), "
            "every stream, bucket and store with three replicas",
        ),
    ] = False,
) -> None:
    """Start PostgreSQL, NATS and the four services; Ctrl-C stops everything (services first).

    One stack per data directory: a second one refuses (exit 1) and names the running one."""
    raise typer.Exit(stack_module.run_stack_forever(_data_dir(data), cluster=cluster))


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
            nats_servers(settings.nats_url),
            connect_timeout=5,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            error_cb=quiet,
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


@app.command("demo")
def demo() -> None:
    """Drive a REGULAR and a GUEST batch to READY and on to PROCESSING_PIPELINES."""
    from essayflow_cli import demo as demo_module

    raise typer.Exit(demo_module.main())


if __name__ == "__main__":
    sys.exit(app())
