"""Leader election among replicas: PostgreSQL's advisory lock, held on a connection of its own.

Several replicas serve people at once, but some work must happen once for the bot as a whole:
the outbox (Telegram's 30 messages a second belong to the token, not to a process), reminder
and announcement alarms, the retention sweep. The replica that holds the session-level advisory
lock `LEADER_LOCK` does it. PostgreSQL releases the lock the moment that connection ends, so a
replica that dies (SIGKILL, a lost machine, a cut network) frees it, and another takes over at
its next attempt, a few seconds later. SQLite runs one process: it always leads.

This is PostgreSQL's own engine for the job (pg_try_advisory_lock), not a home-made one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_log = logging.getLogger(__name__)

# An arbitrary 64-bit number no other application on the database uses ("asa" in ASCII, +1).
LEADER_LOCK = 0x617361_0001
# How often a follower tries the lock, and the leader checks its connection still holds it.
CHECK_SECONDS = 2.0

Hook = Callable[[], Awaitable[None]]


class Leadership:
    """Tries for the lock, holds it, and says when this process gains or loses the lead."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        on_gain: Hook,
        on_loss: Hook,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self._engine = engine
        self._on_gain = on_gain
        self._on_loss = on_loss
        self._check_seconds = check_seconds
        self._connection: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.is_leader = False
        self.changes = 0  # how often leadership changed hands here (for metrics and tests)

    @property
    def single_process(self) -> bool:
        """SQLite: there is only one process, which always leads."""
        return self._engine.dialect.name == "sqlite"

    async def start(self) -> None:
        """Try for the lead once now (so a lone process leads from its first moment), then
        keep trying, or keep holding, in the background."""
        if self._task is not None:
            return
        self._stopping.clear()
        if self.single_process:
            await self._gain()
        else:
            try:
                await self._try_lock()
            except Exception as error:
                _log.warning("leadership: first attempt failed (%s)", type(error).__name__)
                await self._release_connection()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="asa:leader")

    async def stop(self) -> None:
        """Give the lead up (if held) and stop trying."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        """Try, hold, check; step down on any doubt."""
        if self.single_process:
            await self._stopping.wait()
            await self._lose()
            return
        while not self._stopping.is_set():
            try:
                if self.is_leader:
                    await self._check_held()
                else:
                    await self._try_lock()
            except Exception as error:  # a dead connection, a server restart...
                _log.warning("leadership check failed (%s)", type(error).__name__)
                await self._release_connection()
                if self.is_leader:
                    await self._lose()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._check_seconds)
        await self._release_connection()
        if self.is_leader:
            await self._lose()

    async def _try_lock(self) -> None:
        """One attempt: a fresh connection, pg_try_advisory_lock, keep it if we won."""
        connection = await self._engine.connect()
        try:
            won = (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
                )
            ).scalar()
            # Leave no transaction open on the held connection (the lock is session-level).
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not won:
            await connection.close()
            return
        self._connection = connection
        await self._gain()

    async def _check_held(self) -> None:
        """The held connection still answers (PostgreSQL keeps the lock while it lives)."""
        if self._connection is None:
            raise RuntimeError("leader without its connection")
        await self._connection.execute(text("SELECT 1"))
        await self._connection.commit()

    async def _release_connection(self) -> None:
        """Close the lock's connection: PostgreSQL frees the lock with it."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()

    async def _gain(self) -> None:
        self.is_leader = True
        self.changes += 1
        _log.info("this replica now leads (outbox, alarms, retention)")
        await self._on_gain()

    async def _lose(self) -> None:
        self.is_leader = False
        self.changes += 1
        _log.warning("this replica no longer leads")
        await self._on_loss()


# Replicas starting together each check the webhook and, seeing it unset, would each call
# setWebhook; Telegram answers the second within a second with 429. They take turns under this
# lock, so the second finds the first's webhook already set and calls nothing.
WEBHOOK_LOCK = 0x617361_0003


@contextlib.asynccontextmanager
async def taking_turns(engine: AsyncEngine, key: int) -> AsyncIterator[None]:
    """One replica at a time inside the block (a session-level advisory lock on a connection
    of its own, for work that is not a database transaction, such as a Telegram call).
    SQLite runs one process: nothing to wait for."""
    if engine.dialect.name == "sqlite":
        yield
        return
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        await connection.commit()
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # closing the connection frees it anyway
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await connection.commit()
