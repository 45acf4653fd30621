"""Schema migrations: upgrade, and tell whether a database is up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaOutOfDate(Exception):
    """The database schema is not at the latest migration."""


def alembic_config(*, database_url: str | None = None) -> Config:
    """An Alembic config that needs no alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest migration."""
    async with engine.connect() as connection:
        await connection.run_sync(_upgrade_sync)
        await connection.commit()


def _upgrade_sync(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def ensure_current(engine: AsyncEngine) -> None:
    """Refuse to run on a schema older (or newer) than this code."""
    current = await current_revision(engine)
    head = head_revision()
    if current != head:
        found = f"is at revision {current}" if current else "has no tables yet"
        raise SchemaOutOfDate(
            f"The database {found}, but this version of asa needs revision {head}: "
            "run `python -m bot migrate` (or `make run`, which does it) first."
        )
