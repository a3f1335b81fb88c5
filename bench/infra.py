"""Infrastructure for benchmarks: the configured servers, or embedded ones in a temp dir."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from essayflow_runtime.embedded import EmbeddedNats, EmbeddedPostgres, Infrastructure, free_port, infrastructure


@contextlib.contextmanager
def bench_infrastructure(*, sync_always: bool = True) -> Iterator[Infrastructure]:
    """``sync_always=False`` runs the embedded nats-server with its default ``sync_interval``
    (what the fsync on every write costs); it needs the embedded server, not a configured one."""
    with tempfile.TemporaryDirectory(prefix="essayflow-bench-") as root:
        if sync_always:
            with infrastructure(Path(root)) as infra:
                yield infra
            return
        if os.environ.get("ESSAYFLOW_NATS_URL"):
            raise RuntimeError("the default-sync variant needs the embedded nats-server (unset ESSAYFLOW_NATS_URL)")
        nats = EmbeddedNats(Path(root) / "nats", sync_always=False).start()
        postgres = None
        try:
            database_url = os.environ.get("ESSAYFLOW_DATABASE_URL")
            if not database_url:
                postgres = EmbeddedPostgres(Path(root) / "postgres", port=free_port())
                database_url = postgres.start().url
            infra = Infrastructure(database_url, nats.url, postgres, nats)
            try:
                yield infra
            finally:
                infra.stop()
        finally:
            nats.stop()
