"""On PostgreSQL the checkin table tells the live screens itself: every INSERT notifies
`asa_live` with the event's id, once per event, at commit, whichever process or route wrote it.

These tests use a PostgreSQL database of their own whatever ASA_TEST_DB says (NOTIFY is
PostgreSQL's); the SQLite side of the same promise (told in-process after the commit) is in
tests/web/test_screen_links.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from storage.database import create_engine, session_factory
from storage.models import LIVE_CHANNEL
from tests import database
from tests.factories import make_event, make_person

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
INSERT = (
    "INSERT INTO checkin (event_id, person_id, checked_in_at, method, late) "
    "SELECT $1, person, $2, 'staff', false FROM unnest($3::int[]) AS person "
    "ON CONFLICT (event_id, person_id) DO NOTHING"
)


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    """A migrated PostgreSQL database of this test's own, as asyncpg's DSN."""
    async with database.migrated_pg_scratch() as url:
        yield url.replace("postgresql+asyncpg", "postgresql")


async def _people_and_events(dsn: str, *, people: int, events: int) -> tuple[list[int], list[int]]:
    engine = create_engine(dsn.replace("postgresql", "postgresql+asyncpg", 1))
    try:
        async with session_factory(engine)() as session:
            person_ids = [(await make_person(session)).id or 0 for _ in range(people)]
            event_ids = [(await make_event(session, now=NOW)).id or 0 for _ in range(events)]
    finally:
        await engine.dispose()
    return person_ids, event_ids


class Heard:
    """The payloads a listening connection receives on the live channel."""

    def __init__(self) -> None:
        self.payloads: asyncio.Queue[str] = asyncio.Queue()

    def __call__(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self.payloads.put_nowait(payload)


@pytest.fixture
async def listening(dsn: str) -> AsyncIterator[Heard]:
    heard = Heard()
    connection = await asyncpg.connect(dsn)
    await connection.add_listener(LIVE_CHANNEL, heard)
    try:
        yield heard
    finally:
        await connection.close()


async def test_an_insert_notifies_its_event_at_commit_once_per_event(
    dsn: str, listening: Heard
) -> None:
    (first, second, third), (event_a, event_b) = await _people_and_events(dsn, people=3, events=2)
    writer = await asyncpg.connect(dsn)
    try:
        async with writer.transaction():
            await writer.execute(INSERT, event_a, NOW, [first, second, third])
            await writer.execute(INSERT, event_b, NOW, [first])
            # Not before the commit: a notification from a transaction that may still roll
            # back would move a screen for a check-in that never happened.
            await writer.execute(f"NOTIFY {LIVE_CHANNEL}, 'inside'")
        async with asyncio.timeout(10):
            heard = [await listening.payloads.get() for _ in range(3)]
    finally:
        await writer.close()
    # Three rows for A and one for B: one notice per event, delivered with the commit.
    assert heard == [str(event_a), str(event_b), "inside"]


async def test_an_insert_that_conflicted_or_rolled_back_tells_nobody(
    dsn: str, listening: Heard
) -> None:
    (person,), (event_id,) = await _people_and_events(dsn, people=1, events=1)
    writer = await asyncpg.connect(dsn)
    try:
        await writer.execute(INSERT, event_id, NOW, [person])
        async with asyncio.timeout(10):
            assert await listening.payloads.get() == str(event_id)
        await writer.execute(INSERT, event_id, NOW, [person])  # already in: no row inserted
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute("DELETE FROM checkin")
        await writer.execute(INSERT, event_id, NOW, [person])
        await transaction.rollback()
        await writer.execute(f"NOTIFY {LIVE_CHANNEL}, 'after'")
        async with asyncio.timeout(10):
            assert await listening.payloads.get() == "after"
    finally:
        await writer.close()
