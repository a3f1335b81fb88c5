"""PostgreSQL access: one asyncpg pool per service, each service in its own schema.

Services with a database (BOS, CMS) own a schema named after themselves in the
database of ``ESSAYFLOW_DATABASE_URL``; the pool's ``search_path`` points there, so
SQL in a service never qualifies its own tables. Queries use asyncpg directly: on
the hot transition path SQLAlchemy's session costs ~40 % throughput, and
SQLAlchemy stays where it pays (Alembic migrations).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import asyncpg

from essayflow_runtime.logs import get_logger

log = get_logger(__name__)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool connections carry no session state of ours: no SET, no LISTEN (that has a
    connection of its own), no advisory locks, no cursors outside a transaction. So a
    released connection skips asyncpg's default reset query (``RESET ALL``, ``UNLISTEN
    *``, ...), a round trip on every checkout that every request would wait for.
    asyncpg still rolls back a transaction left open before calling this."""


async def create_pool(
    database_url: str, schema: str, *, min_size: int = 2, max_size: int = 20, **kwargs: Any
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn=plain_dsn(database_url),
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"search_path": schema, "application_name": f"essayflow-{schema}"},
        **kwargs,
    )
    assert pool is not None
    return pool


async def connect(database_url: str, schema: str) -> asyncpg.Connection:
    """A single connection (LISTEN needs one that is not returned to a pool)."""
    conn = await asyncpg.connect(
        dsn=plain_dsn(database_url),
        server_settings={"search_path": schema, "application_name": f"essayflow-{schema}-listen"},
    )
    await _init_connection(conn)
    return conn


def plain_dsn(database_url: str) -> str:
    """asyncpg wants ``postgresql://``; accept SQLAlchemy-style URLs too."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


def sqlalchemy_url(database_url: str) -> str:
    """The URL for SQLAlchemy (Alembic), asyncpg as its driver.

    A multi-host URL (``postgresql://u@h1:p1,h2:p2/db?target_session_attrs=read-write``,
    which asyncpg reads as it is) has no form SQLAlchemy parses: its hosts move into the
    query, one ``host=h:p`` each, which SQLAlchemy's asyncpg dialect hands on as asyncpg's
    host and port lists; the rest of the query (``target_session_attrs``) is passed through."""
    plain = plain_dsn(database_url)
    rest = plain[len("postgresql://") :]
    netloc, slash, tail = rest.partition("/")
    if not slash:
        netloc, question, query = netloc.partition("?")
        tail = question + query
    userinfo, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return "postgresql+asyncpg://" + rest
    path, _, query = tail.partition("?")
    params = [f"host={quote(host, safe=':[]')}" for host in hosts.split(",") if host]
    if query:
        params.append(query)
    return f"postgresql+asyncpg://{userinfo}{at}/{path}?{'&'.join(params)}"


async def listen(
    database_url: str,
    schema: str,
    channel: str,
    *,
    on_notify: Callable[[str], None],
    on_connected: Callable[[], None],
    stopping: asyncio.Event,
) -> None:
    """Hold a ``LISTEN channel`` connection until ``stopping`` is set, reconnecting when
    it drops. ``on_connected`` runs after every (re)connect, so a caller can catch up on
    what was committed while nobody listened; ``on_notify`` gets each payload."""
    while not stopping.is_set():
        try:
            await _listen_once(database_url, schema, channel, on_notify, on_connected, stopping)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused, reset, timed out: never stop listening for good
            log.warning("listen connection failed", channel=channel, error=repr(exc))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=1.0)


async def _listen_once(
    database_url: str,
    schema: str,
    channel: str,
    on_notify: Callable[[str], None],
    on_connected: Callable[[], None],
    stopping: asyncio.Event,
) -> None:
    """One LISTEN connection, until it is lost or ``stopping`` is set."""
    conn = await connect(database_url, schema)
    lost = asyncio.Event()
    try:
        conn.add_termination_listener(lambda _c, lost=lost: lost.set())
        await conn.add_listener(channel, lambda _c, _pid, _ch, payload: on_notify(payload))
        on_connected()
        waits = {asyncio.create_task(stopping.wait()), asyncio.create_task(lost.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
