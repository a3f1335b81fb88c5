"""Calling the services from a command: the identity options every command takes, and
:func:`run`, which turns every expected failure into a message and an exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar

import click
import grpc
import typer

from essayflow.common.v1 import common_pb2
from essayflow_cli.client import Clients, resolve_token
from essayflow_cli.output import EXIT_USAGE, err_console, fail_rpc, fail_usage
from essayflow_runtime import enums, tracing
from essayflow_runtime.auth import USER_ROLES
from essayflow_runtime.config import Settings, load_settings
from essayflow_runtime.exposure import UnsafeExposure

T = TypeVar("T")

TokenOpt = Annotated[str | None, typer.Option(help="Bearer token (default: $ESSAYFLOW_TOKEN or a dev token)")]
UserOpt = Annotated[str, typer.Option(help="User for the development token")]
RoleOpt = Annotated[str, typer.Option(help="Role for the development token: teacher or admin")]

COURSES = "ENG5, ENG6, ENG7, SV1, SV2, SV3"
# What a shell reports for a command stopped with Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def settings() -> Settings:
    """The settings, or exit 2 naming the problem but never the value (it may be a secret)."""
    try:
        return load_settings()
    except (ValueError, TypeError):
        err_console.print(
            "[red]error[/red]: an ESSAYFLOW_* setting is malformed (a number or list that does not parse)"
        )
        raise typer.Exit(EXIT_USAGE) from None


def run(
    work: Callable[[Clients], Awaitable[T]],
    token: str | None,
    user: str,
    role: str,
    hints: Mapping[grpc.StatusCode, str] | None = None,
) -> T:
    """``work`` with clients for the stack; a refused call exits 1, an unreachable one 3.
    ``hints``: a line for the person per status code (what it usually means here)."""
    loaded = settings()
    if not token and role not in USER_ROLES:
        raise typer.BadParameter(f"{role!r}: a development token is for a teacher or an admin", param_hint="--role")

    # With OTEL_EXPORTER_OTLP_ENDPOINT set, the command is one trace: a span of its own (its
    # name, never its arguments) around every call it makes.
    tracing.configure("cli")
    command = click.get_current_context(silent=True)
    name = command.command_path if command is not None else "essayflow"

    async def main() -> T:
        clients = Clients(loaded, resolve_token(loaded, token, user, role))
        try:
            with tracing.span(name):
                return await work(clients)
        finally:
            await clients.close()

    try:
        return asyncio.run(main())
    except grpc.aio.AioRpcError as error:
        fail_rpc(error, hints)
    except UnsafeExposure as refused:
        fail_usage(f"refused: {refused}")
    except OSError as error:  # a TLS CA file that cannot be read, and the like
        fail_usage(f"{type(error).__name__}: {error.strerror or error}")
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        tracing.shutdown()


def enum_name(enum: Any, value: int) -> str:
    return enums.to_db(enum, value) if value else "-"


def course(code: str) -> common_pb2.CourseCode:
    try:
        parsed: common_pb2.CourseCode = common_pb2.CourseCode.Value(
            f"COURSE_CODE_{code.upper().removeprefix('COURSE_CODE_')}"
        )
    except ValueError:
        raise typer.BadParameter(f"{code!r} is not a course code ({COURSES})", param_hint="--course") from None
    return parsed


def course_name(value: int) -> str:
    return common_pb2.CourseCode.Name(value).removeprefix("COURSE_CODE_") if value else "-"
