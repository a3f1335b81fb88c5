"""The database URL in its two spellings: asyncpg's (as configured) and SQLAlchemy's (Alembic)."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect
from sqlalchemy.engine import make_url

from essayflow_runtime.db import plain_dsn, sqlalchemy_url


def connect_args(url: str) -> dict[str, object]:
    """What SQLAlchemy's asyncpg dialect would pass to ``asyncpg.connect``."""
    _, kwargs = dialect().create_connect_args(make_url(url))  # type: ignore[no-untyped-call]
    return dict(kwargs)


def test_one_host_keeps_its_form() -> None:
    assert sqlalchemy_url("postgresql://postgres@127.0.0.1:5432/essay") == "postgresql+asyncpg://postgres@127.0.0.1:5432/essay"
    assert sqlalchemy_url("postgres://u@h:1/db") == "postgresql+asyncpg://u@h:1/db"
    assert plain_dsn("postgresql+asyncpg://u@h:1/db") == "postgresql://u@h:1/db"


def test_a_multi_host_url_reaches_asyncpg_with_every_host_and_the_target() -> None:
    url = "postgresql://postgres@127.0.0.1:5001,127.0.0.1:5002/essay?target_session_attrs=read-write"
    converted = sqlalchemy_url(url)
    assert converted == (
        "postgresql+asyncpg://postgres@/essay?host=127.0.0.1:5001&host=127.0.0.1:5002&target_session_attrs=read-write"
    )
    assert connect_args(converted) == {
        "database": "essay",
        "user": "postgres",
        "host": ["127.0.0.1", "127.0.0.1"],
        "port": [5001, 5002],
        "target_session_attrs": "read-write",
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p%40ss@db1:5432,db2:5433/essay", {"user": "u", "password": "p@ss", "port": [5432, 5433]}),
        ("postgresql+asyncpg://u@db1:1,db2:2,db3:3/x?target_session_attrs=primary", {"port": [1, 2, 3]}),
    ],
)
def test_multi_host_password_and_more_hosts(url: str, expected: dict[str, object]) -> None:
    args = connect_args(sqlalchemy_url(url))
    for key, value in expected.items():
        assert args[key] == value
