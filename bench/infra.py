"""Infrastructure for benchmarks: the configured servers, or embedded ones in a temp dir."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from essayflow_runtime.embedded import Infrastructure, infrastructure


@contextlib.contextmanager
def bench_infrastructure() -> Iterator[Infrastructure]:
    with tempfile.TemporaryDirectory(prefix="essayflow-bench-") as root, infrastructure(Path(root)) as infra:
        yield infra
