"""How the CLI answers: exit codes and the output format of commands that print data."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from typing import Any

EXIT_OK = 0
EXIT_REFUSED = 1  # the server (or the stack) refused
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def emit(data: Any, fmt: OutputFormat, table_fn: Callable[[Any], None]) -> None:
    """JSON on stdout for machines, else the command's own table."""
    if fmt is OutputFormat.JSON:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        table_fn(data)
