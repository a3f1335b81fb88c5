"""Durations as an operator types them, and as the stalled-batch table shows them."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from essayflow.common.v1 import common_pb2
from essayflow_cli.durations import format_duration, parse_duration
from essayflow_cli.stalled import status_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(minutes=90)),
        (" 1s ", timedelta(seconds=1)),
        ("0s", timedelta(0)),
        ("2d", timedelta(days=2)),
    ],
)
def test_parses_what_people_type(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "-5m", "15 fortnights", "m15"])
def test_refuses_anything_else_saying_what_it_expects(text: str) -> None:
    with pytest.raises(ValueError, match="like 30s, 15m, 2h"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("span", "shown"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=12, seconds=5), "12m05s"),
        (timedelta(hours=3, minutes=7, seconds=59), "3h07m"),
        (timedelta(days=2, hours=4), "2d04h"),
        (timedelta(seconds=-3), "0s"),
    ],
)
def test_formats_two_units_at_most(span: timedelta, shown: str) -> None:
    assert format_duration(span) == shown


def test_statuses_by_their_stored_or_proto_name() -> None:
    expected = common_pb2.BATCH_STATUS_AWAITING_CONTENT_VALIDATION
    assert status_of("awaiting_content_validation") == expected
    assert status_of("BATCH_STATUS_AWAITING_CONTENT_VALIDATION") == expected
    with pytest.raises(ValueError):
        status_of("stuck")


def test_the_cli_refuses_a_bad_duration_or_status_before_calling_anyone() -> None:
    def essayflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "essayflow_cli.main", *args], capture_output=True, text=True, timeout=60
        )

    bad_wait = essayflow("batch", "list", "--stalled", "soon")
    assert bad_wait.returncode == 2 and "like 30s, 15m, 2h" in bad_wait.stderr
    bad_status = essayflow("batch", "list", "--stalled", "15m", "--status", "stuck")
    assert bad_status.returncode == 2 and "stuck" in bad_status.stderr
    bad_output = essayflow("batch", "list", "--output", "xml")
    assert bad_output.returncode == 2 and "table or json" in bad_output.stderr
