"""What every command shares about its output: the exit codes, the ``--output`` option,
tables or JSON, and the one printer for a refused or failed call.

Exit codes: 0 done, 1 refused by the server (or, for an upload, a file that failed),
2 usage (a bad flag, an ambiguous name, a malformed setting), 3 the server could not be
reached. An expected error is one line (plus the server's reasons), never a traceback, and
never a setting's value."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, NoReturn

import grpc
import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from rich.console import Console, RenderableType
from rich.markup import escape

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# Codes that mean "nobody answered" rather than "the server said no".
UNREACHABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

# Tables stay readable when the output is a file or a pipe (no terminal width to go by).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def parse_output(value: str | OutputFormat) -> OutputFormat:
    try:
        return OutputFormat(str(value).strip().lower())
    except ValueError:
        raise typer.BadParameter(f"{value!r}: choose table or json", param_hint="--output") from None


OutputOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--output", "-o", parser=parse_output, metavar="table|json", help="table (for people) or json (for programs)"
    ),
]


def print_json(data: Any) -> None:
    """Plain, unwrapped JSON on stdout (rich would fold long lines to the terminal width)."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def message_dict(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return data


def emit(data: Any, fmt: OutputFormat, table_fn: Callable[[], RenderableType | str | None]) -> None:
    """``data`` as JSON, or what ``table_fn`` renders for a person."""
    if fmt is OutputFormat.JSON:
        print_json(data)
        return
    rendered = table_fn()
    if rendered is not None:
        console.print(rendered)


# ---------------------------------------------------------------- errors


def rpc_details(error: grpc.aio.AioRpcError | grpc.RpcError) -> Iterator[Message]:
    """The google.rpc details the server attached (ErrorInfo, BadRequest, PreconditionFailure)."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value if isinstance(value, bytes) else value.encode())
        except Exception:  # a detail we cannot read is left out, not a crash
            return
        for packed in status.details:
            for kind in (
                error_details_pb2.ErrorInfo,
                error_details_pb2.BadRequest,
                error_details_pb2.PreconditionFailure,
                error_details_pb2.ResourceInfo,
            ):
                if packed.Is(kind.DESCRIPTOR):
                    detail = kind()
                    packed.Unpack(detail)
                    yield detail


def describe_rpc_error(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """The status, the server's message, its reason and each field or precondition it names."""
    described: dict[str, Any] = {"code": error.code().name, "message": error.details() or ""}
    fields: list[dict[str, str]] = []
    preconditions: list[dict[str, str]] = []
    for detail in rpc_details(error):
        if isinstance(detail, error_details_pb2.ErrorInfo):
            described["reason"] = detail.reason
            if detail.metadata:
                described["metadata"] = dict(detail.metadata)
        elif isinstance(detail, error_details_pb2.BadRequest):
            fields += [{"field": v.field, "description": v.description} for v in detail.field_violations]
        elif isinstance(detail, error_details_pb2.PreconditionFailure):
            preconditions += [
                {"type": v.type, "subject": v.subject, "description": v.description} for v in detail.violations
            ]
    if fields:
        described["field_violations"] = fields
    if preconditions:
        described["precondition_failures"] = preconditions
    return described


def print_rpc_error(error: grpc.aio.AioRpcError) -> None:
    described = describe_rpc_error(error)
    reason = f" ({described['reason']})" if described.get("reason") not in (None, "", described["code"]) else ""
    err_console.print(f"[red]{described['code']}[/red]{escape(reason)}: {escape(described['message'])}")
    for violation in described.get("field_violations", []):
        line = f"{violation['field']}: {violation['description']}"
        if line not in described["message"]:  # the server's message may already say it
            err_console.print(f"  {escape(line)}")
    for failure in described.get("precondition_failures", []):
        err_console.print(f"  {escape(failure['subject'])}: {escape(failure['description'])}")


def exit_code_of(error: grpc.aio.AioRpcError) -> int:
    return EXIT_UNREACHABLE if error.code() in UNREACHABLE_CODES else EXIT_REFUSED


def fail_rpc(error: grpc.aio.AioRpcError, hints: Mapping[grpc.StatusCode, str] | None = None) -> NoReturn:
    """Print a failed call (and the command's hint for its code) and exit 1 (refused) or 3
    (unreachable)."""
    if error.code() in UNREACHABLE_CODES:
        err_console.print(f"[red]cannot reach the service[/red]: {error.code().name}: {escape(error.details() or '')}")
        err_console.print("  is the stack running? (make run), or set ESSAYFLOW_HOST / ESSAYFLOW_*_PORT")
    else:
        print_rpc_error(error)
    hint = (hints or {}).get(error.code())
    if hint:
        err_console.print(f"  [dim]{escape(hint)}[/dim]")
    raise typer.Exit(exit_code_of(error))


def fail_usage(message: str, lines: list[str] | None = None) -> NoReturn:
    """A usage error of ours (not Typer's): one line, the candidates under it, exit 2."""
    err_console.print(f"[red]error[/red]: {escape(message)}")
    for line in lines or []:
        err_console.print(f"  {escape(line)}")
    raise typer.Exit(EXIT_USAGE)
