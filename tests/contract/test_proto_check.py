"""`make proto-check` fails on drift and on breaking changes, and passes on the tree as committed.

Each case runs the real check (buf and protoc) on a copy of the contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COPIED = (
    "proto",
    "gen",
    "tools",
    "docs",
    "proto-baseline",
    "buf.yaml",
    "pyproject.toml",
    "essayflow_cli",
    "essayflow_runtime",
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def proto_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(root / "tools" / "proto_check.sh")],
        env={"PY": sys.executable, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        cwd=root,
        capture_output=True,
        text=True,
        timeout=240,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_committed_tree_passes(checkout: Path) -> None:
    result = proto_check(checkout)
    assert result.returncode == 0, result.stdout + result.stderr


def test_editing_a_proto_without_regenerating_fails(checkout: Path) -> None:
    edit(
        checkout / "proto/essayflow/bos/v1/bos.proto",
        "  google.protobuf.Duration waited = 16;\n}",
        "  google.protobuf.Duration waited = 16;\n  // Added without regenerating.\n  string note = 17;\n}",
    )
    result = proto_check(checkout)
    assert result.returncode != 0
    assert "gen/ is stale" in result.stderr


def test_deleting_a_field_is_breaking(checkout: Path) -> None:
    title = "  string title = 13 [(buf.validate.field).string.max_len = 200];\n"
    edit(checkout / "proto/essayflow/bos/v1/bos.proto", title, "")
    result = proto_check(checkout)
    assert result.returncode != 0
    assert "title" in result.stdout + result.stderr


def test_renaming_an_enum_value_is_breaking(checkout: Path) -> None:
    edit(
        checkout / "proto/essayflow/common/v1/common.proto",
        "BATCH_STATUS_CANCELLED = 10;",
        "BATCH_STATUS_ABANDONED = 10;",
    )
    result = proto_check(checkout)
    assert result.returncode != 0
    assert "BATCH_STATUS_CANCELLED" in result.stdout + result.stderr
