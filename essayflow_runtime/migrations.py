"""Alembic, driven from code: each database-owning service keeps its migrations in
``services/<service>/migrations`` and its tables (and Alembic's version table) in a
schema named after the service.

``python -m essayflow_runtime.migrations upgrade bos`` (or ``downgrade cms base``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from essayflow_runtime.db import sqlalchemy_url

SERVICES_WITH_DATABASE = ("bos", "cms")
_SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SERVICES_WITH_DATABASE:
        raise ValueError(f"{service} has no database")
    config = Config()
    config.set_main_option("script_location", str(_SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    config.attributes["schema"] = service
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: str, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service, database_url), revision)


def upgrade_all(database_url: str) -> None:
    for service in SERVICES_WITH_DATABASE:
        upgrade(service, database_url)


def run_env(target_metadata: MetaData | None = None) -> None:
    """The body of every service's ``migrations/env.py`` (online mode, asyncpg)."""
    from alembic import context

    config = context.config
    schema = config.attributes.get("schema") or os.environ["ESSAYFLOW_MIGRATION_SCHEMA"]

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET search_path TO "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m essayflow_runtime.migrations")
    parser.add_argument("action", choices=["upgrade", "downgrade"])
    parser.add_argument("service", choices=[*SERVICES_WITH_DATABASE, "all"])
    parser.add_argument("revision", nargs="?")
    args = parser.parse_args(argv)
    url = os.environ.get("ESSAYFLOW_DATABASE_URL")
    if not url:
        parser.error("ESSAYFLOW_DATABASE_URL is not set")
    services = SERVICES_WITH_DATABASE if args.service == "all" else (args.service,)
    for service in services:
        if args.action == "upgrade":
            upgrade(service, url, args.revision or "head")
        else:
            downgrade(service, url, args.revision or "base")
    return 0


if __name__ == "__main__":
    sys.exit(main())
