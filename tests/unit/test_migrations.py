"""Migrations and models agree, on whichever database this run uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.database import create_engine
from storage.migrate import current_revision, ensure_current, head_revision, upgrade
from tests import database


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all."""
    if database.backend() == "sqlite":
        yield database.sqlite_url(tmp_path / "empty.db")
        return
    url = await database.create_pg_scratch_database()
    yield url
    await database.drop_pg_scratch(url)


# Triggers and the functions they run: compare_metadata does not see them.
_PG_TRIGGERS = text(
    "SELECT pg_get_triggerdef(t.oid), pg_get_functiondef(t.tgfoid) FROM pg_trigger t "
    "WHERE NOT t.tgisinternal ORDER BY t.tgname"
)
_SQLITE_TRIGGERS = text("SELECT sql, '' FROM sqlite_master WHERE type = 'trigger' ORDER BY name")


async def _triggers(url: str) -> list[tuple[str, str]]:
    """Every trigger in the database, with the definition of what it runs."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            query = _PG_TRIGGERS if engine.dialect.name == "postgresql" else _SQLITE_TRIGGERS
            return [(row[0], row[1]) for row in await connection.execute(query)]
    finally:
        await engine.dispose()


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrations_build_exactly_the_models(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        await ensure_current(engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_migrations_build_the_triggers_the_models_build(
    empty_database_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL: the checkin table's trigger that tells the live screens (one written out
    in its migration, one declared beside the model), definition for definition. SQLite has
    none either way."""
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    migrated = await _triggers(empty_database_url)
    if database.backend() == "sqlite":
        built_url = database.sqlite_url(tmp_path / "built.db")
        await database.create_schema(built_url)
        assert migrated == [] == await _triggers(built_url)
        return
    built_url = await database.create_pg_scratch_database()
    try:
        await database.create_schema(built_url)
        built = await _triggers(built_url)
    finally:
        await database.drop_pg_scratch(built_url)
    assert [definition for definition, _ in migrated] == [
        "CREATE TRIGGER checkin_tells_live AFTER INSERT ON public.checkin "
        "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
        "EXECUTE FUNCTION asa_checkin_tells_live()"
    ]
    assert migrated == built
