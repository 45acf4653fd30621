"""Test databases: a migrated SQLite template copied per test, or a private PostgreSQL database.

`ASA_TEST_DB=postgresql` runs the suite on PostgreSQL (127.0.0.1:5432, trust auth); the run
creates its own database next to `test` and drops it at the end, so parallel runs never meet.
If PostgreSQL cannot be reached, every test fails loudly: it is never silently skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)
from storage.database import create_engine
from storage.migrate import alembic_config, upgrade

PG_ADMIN_DSN = os.environ.get("ASA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOST_URL = os.environ.get("ASA_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")


def backend() -> str:
    """Which database this run uses: sqlite (default) or postgresql."""
    name = os.environ.get("ASA_TEST_DB", "sqlite").lower()
    if name not in ("sqlite", "postgresql"):
        raise RuntimeError(f"ASA_TEST_DB must be sqlite or postgresql, not {name!r}")
    return name


def sqlite_url(path: Path) -> str:
    """The async URL of an SQLite file."""
    return f"sqlite+aiosqlite:///{path}"


async def migrate(url: str) -> None:
    """Run every migration against a database."""
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def create_schema(url: str) -> None:
    """Tables straight from the models, stamped as current.

    Tests build from the models so a model change is testable at once; test_migrations
    proves separately that the migrations produce exactly the same schema.
    """
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
            await connection.run_sync(_stamp_head)
    finally:
        await engine.dispose()


def _stamp_head(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.stamp(config, "head")


def make_sqlite_template(directory: Path) -> Path:
    """A migrated SQLite file that each test copies (much faster than migrating each time)."""
    template = directory / "template.db"
    asyncio.run(create_schema(sqlite_url(template)))
    return template


def copy_sqlite(template: Path, target: Path) -> str:
    """A fresh migrated database for one test."""
    shutil.copyfile(template, target)
    return sqlite_url(target)


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_pg_database() -> str:
    """A new, migrated PostgreSQL database for this run; its URL."""
    name = f"asa_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({error}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
        ) from error
    url = f"{PG_HOST_URL}/{name}"
    asyncio.run(create_schema(url))
    return url


async def create_pg_scratch_database() -> str:
    """An empty PostgreSQL database (for migration tests); drop it with drop_pg_scratch."""
    name = f"asa_scratch_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return f"{PG_HOST_URL}/{name}"


async def drop_pg_scratch(url: str) -> None:
    """Remove a scratch database."""
    name = url.rsplit("/", 1)[1]
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def migrated_pg_scratch() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of the caller's own, whatever ASA_TEST_DB says (for what
    only PostgreSQL has), dropped afterwards."""
    url = await create_pg_scratch_database()
    await migrate(url)
    try:
        yield url
    finally:
        await drop_pg_scratch(url)


def drop_pg_database(url: str) -> None:
    """Remove this run's database."""
    name = url.rsplit("/", 1)[1]
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    """Empty every table except Alembic's, so each test starts clean."""
    engine = create_engine(url)
    try:
        names = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
