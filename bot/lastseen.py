"""Last activity, written behind: a check-in at the door costs no extra transaction for it.

The scope notes whose "last active" is stale (older than ten minutes, or marked unreachable);
one background task writes everyone noted so far in a single UPDATE, then whoever was noted
while it wrote, and so on. Losing a few notes in a crash only delays a timestamp.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage.database import DatabaseUnavailable

_log = logging.getLogger(__name__)

Writer = Callable[[list[int]], Awaitable[None]]


class LastSeen:
    """Collects Telegram ids and writes them in batches, one batch at a time."""

    def __init__(self, write: Writer) -> None:
        self._write = write
        self._pending: set[int] = set()
        self._task: asyncio.Task[None] | None = None

    def note(self, telegram_id: int) -> None:
        """Remember that this person was active now; written shortly."""
        self._pending.add(telegram_id)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain(), name="asa:last-seen")

    def forget(self, telegram_id: int) -> None:
        """Drop a pending note (the person was just erased)."""
        self._pending.discard(telegram_id)

    @property
    def idle(self) -> bool:
        """Nothing noted and nothing being written."""
        return not self._pending and (self._task is None or self._task.done())

    async def _drain(self) -> None:
        """Write batches until nothing is pending."""
        while self._pending:
            batch = sorted(self._pending)
            self._pending.clear()
            try:
                await self._write(batch)
            except DatabaseUnavailable:
                _log.warning("could not write last activity of %d people", len(batch))
            except Exception:
                _log.exception("writing last activity failed")

    async def flush(self) -> None:
        """Write everything noted so far (at shutdown, and in tests)."""
        while not self.idle:
            if self._task is not None and not self._task.done():
                await asyncio.wait({self._task})
            elif self._pending:
                await self._drain()
