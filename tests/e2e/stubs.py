"""Python stubs of another release of the contracts, made at test time into a package of their own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "proto-baseline" / "essayflow.binpb"
OLD_CLIENT = Path(__file__).with_name("old_client.py")


def stubs_from_descriptor_set(descriptor_set: Path, out: Path) -> Path:
    """``_pb2`` and ``_pb2_grpc`` modules of every essayflow file in ``descriptor_set``, under ``out``."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    names = [f.name for f in files.file if f.name.startswith("essayflow/")]
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptor_set}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *names,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    # Regular packages, so these are found before the current gen/ (a namespace package) is.
    for directory in [out / "essayflow", *(p for p in (out / "essayflow").rglob("*") if p.is_dir())]:
        (directory / "__init__.py").touch()
    return out


def scratch_checkout(tmp: Path) -> Path:
    """A copy of what `buf` and `tools/gen_proto.sh` need, to change proto/ without touching the tree."""
    for name in ("proto", "tools", "proto-baseline"):
        shutil.copytree(ROOT / name, tmp / name)
    shutil.copy(ROOT / "buf.yaml", tmp / "buf.yaml")
    return tmp


def buf_breaking(checkout: Path) -> subprocess.CompletedProcess[str]:
    buf = Path(sys.executable).parent / "buf"
    return subprocess.run(
        [str(buf), "breaking", "--against", str(checkout / "proto-baseline" / "essayflow.binpb")],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )


def generate(checkout: Path) -> Path:
    """gen/ of the checkout's proto/, as `make proto` makes it."""
    out = checkout / "gen"
    subprocess.run(
        ["bash", str(checkout / "tools" / "gen_proto.sh"), str(out)],
        env={"PY": sys.executable, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out


def run_old_client(stubs: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(OLD_CLIENT), *args],
        env={**env, "PYTHONPATH": str(stubs), "PATH": "/usr/bin:/bin"},
        cwd=stubs,
        capture_output=True,
        text=True,
        timeout=180,
    )
