"""The connection pool is fixed: bursts wait for the pool's own connections, never open more.

A connection opened beyond the pool for a burst is closed again when it comes back to a full
pool, so every burst paid for new ones (a server process, a handshake, statements prepared
again): with an overflow as large as the pool, this test opened 60 connections on PostgreSQL.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import event, text
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import Database
from storage.driver import Statements

BURSTS = 5
BURST = 40  # several times the pool (10 on PostgreSQL, 1 on SQLite)


async def test_bursts_of_statements_open_no_connection_beyond_the_pool(db: Database) -> None:
    opened = 0

    def count(*_args: object) -> None:
        nonlocal opened
        opened += 1

    event.listen(db.engine.sync_engine, "connect", count)

    async def read(connection: Statements) -> int:
        return int((await connection.execute(text("SELECT 1"), {})).scalar())

    async def write(session: AsyncSession) -> int:
        return int((await session.exec(text("SELECT 2"))).scalar_one())  # type: ignore[call-overload]

    for _ in range(BURSTS):
        answers = await asyncio.gather(
            *(db.read(read) for _ in range(BURST)), *(db.run(write) for _ in range(BURST))
        )
        assert answers == [1] * BURST + [2] * BURST

    pool_size = db.engine.pool.size()  # type: ignore[attr-defined]
    assert 1 <= opened <= pool_size, f"{opened} connections opened for a pool of {pool_size}"
