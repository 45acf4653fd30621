"""One leader among replicas: PostgreSQL's advisory lock decides, and a dead leader is replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.leader import WEBHOOK_LOCK, Leadership, taking_turns
from storage.database import create_engine
from tests.database import create_pg_scratch_database, drop_pg_scratch

FAST = 0.1  # seconds between a follower's attempts in these tests


class Replica:
    """A Leadership with its own engine, recording what it announced."""

    def __init__(self, url: str) -> None:
        self.engine: AsyncEngine = create_engine(url, pool_size=2)
        self.log: list[str] = []
        self._changed = asyncio.Event()
        self.leadership = Leadership(
            self.engine, on_gain=self._gain, on_loss=self._lose, check_seconds=FAST
        )

    async def _gain(self) -> None:
        self.log.append("gain")
        self._changed.set()

    async def _lose(self) -> None:
        self.log.append("lose")
        self._changed.set()

    async def becomes(self, leader: bool, seconds: float = 20) -> None:
        """Wait for this replica to announce that it leads (or no longer does)."""
        async with asyncio.timeout(seconds):
            while True:
                self._changed.clear()
                if self.leadership.is_leader is leader:
                    return
                await self._changed.wait()

    async def close(self) -> None:
        await self.leadership.stop()
        await self.engine.dispose()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own (leader locks are per database)."""
    url = await create_pg_scratch_database()
    try:
        yield url
    finally:
        await drop_pg_scratch(url)


# Advisory locks held in this test's own database (other tests and benches on the same server
# hold theirs in their own databases, and must be neither counted nor killed).
OUR_LOCK_HOLDERS = """
    SELECT pid FROM pg_locks
    WHERE locktype = 'advisory' AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


async def test_one_replica_leads_and_another_takes_over_when_it_dies(pg_url: str) -> None:
    first, second = Replica(pg_url), Replica(pg_url)
    try:
        await first.leadership.start()
        await first.becomes(True)
        await second.leadership.start()
        # The second keeps trying and keeps failing while the first holds the lock.
        async with first.engine.connect() as probe:
            holders = await probe.execute(
                text(f"SELECT count(*) FROM ({OUR_LOCK_HOLDERS}) AS holders")  # noqa: S608
            )
            assert holders.scalar() == 1
        assert second.leadership.is_leader is False
        # The first "dies": the server cuts its connections, as when its machine is lost.
        async with second.engine.connect() as killer:
            await killer.execute(
                text(
                    f"SELECT pg_terminate_backend(pid) FROM ({OUR_LOCK_HOLDERS}) AS holders"  # noqa: S608
                )
            )
            await killer.commit()
        await second.becomes(True)
        await first.becomes(False)
        assert first.log == ["gain", "lose"]
        assert second.log == ["gain"]
    finally:
        await first.close()
        await second.close()


async def test_a_leader_that_stops_hands_over(pg_url: str) -> None:
    first, second = Replica(pg_url), Replica(pg_url)
    try:
        await first.leadership.start()
        await first.becomes(True)
        await second.leadership.start()
        await first.close()
        await second.becomes(True)
        assert first.log == ["gain", "lose"]
    finally:
        await second.close()


async def test_sqlite_has_one_process_which_always_leads(tmp_path: Path) -> None:
    replica = Replica(f"sqlite+aiosqlite:///{tmp_path / 'asa.db'}")
    try:
        await replica.leadership.start()
        await replica.becomes(True)
    finally:
        await replica.close()
    assert replica.log == ["gain", "lose"]


async def test_replicas_take_turns_at_work_that_is_not_a_transaction(pg_url: str) -> None:
    """Two replicas setting the webhook at once: the second waits for the first to finish."""
    first, second = create_engine(pg_url, pool_size=2), create_engine(pg_url, pool_size=2)
    inside: list[str] = []
    first_inside, let_first_go = asyncio.Event(), asyncio.Event()

    async def hold(name: str, engine: AsyncEngine, entered: asyncio.Event | None) -> None:
        async with taking_turns(engine, WEBHOOK_LOCK):
            inside.append(f"{name} in")
            if entered is not None:
                entered.set()
                await let_first_go.wait()
            inside.append(f"{name} out")

    try:
        holder = asyncio.create_task(hold("first", first, first_inside))
        await first_inside.wait()
        waiter = asyncio.create_task(hold("second", second, None))
        # The second is blocked on the lock: PostgreSQL shows its connection waiting for it.
        async with first.connect() as probe:
            async with asyncio.timeout(20):
                while True:
                    if (await probe.execute(text(WAITING_FOR_ADVISORY))).scalar():
                        break
                    await asyncio.sleep(0.05)
        assert inside == ["first in"]
        let_first_go.set()
        await asyncio.gather(holder, waiter)
        assert inside == ["first in", "first out", "second in", "second out"]
    finally:
        await first.dispose()
        await second.dispose()


WAITING_FOR_ADVISORY = """
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND NOT granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
