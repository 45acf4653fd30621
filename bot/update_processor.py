"""Process different people's updates concurrently, each person's own updates in order, fairly.

For each update, in this order:
1. flood control: a person over the limit has the update dropped at once (or, for the update
   that crossed the line, answered "slow down"), before it waits for anything;
2. the person's lock: their earlier updates finish first (python-telegram-bot's handlers, our
   flows and "last answer wins" buttons all assume one update per person at a time);
3. a concurrency slot (`[bot] max_concurrent_updates`), taken only once it is this person's
   turn, so one person's queue of waiting updates can never occupy every slot.

python-telegram-bot's own semaphore wraps `do_process_update`; it is made too large to ever
bind, and the real limit is applied here, after the lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import BaseUpdateProcessor

from bot import metrics
from bot.clock import Clock
from bot.flood import FloodGate, Verdict

_log = logging.getLogger(__name__)

# python-telegram-bot's semaphore must never be the one that waits (see the module docstring).
UNBOUNDED = 1 << 30

FloodWarning = Callable[[Update], Awaitable[None]]


def ordering_key(update: object) -> int | None:
    """Whose update this is: the user, else the chat; None for anything anonymous."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


def _flood_key(update: object) -> int | None:
    """The person a private-chat update counts against (groups are ignored elsewhere)."""
    if not isinstance(update, Update):
        return None
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return None
    return user.id


class PerPersonUpdateProcessor(BaseUpdateProcessor):
    """Flood control first, then the person's lock, then a slot."""

    def __init__(
        self,
        max_concurrent_updates: int,
        *,
        flood: FloodGate | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(UNBOUNDED)
        self.slots = max_concurrent_updates
        self._slots = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._flood = flood
        self._clock = clock
        self.warned: set[int] = set()  # update ids that crossed the flood line
        self.dropped = 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Flood check, wait for this person's earlier updates, take a slot, process."""
        if self._drop_flood(update):
            # Never awaited: close it so Python does not warn about a forgotten coroutine.
            if asyncio.iscoroutine(coroutine):
                coroutine.close()
            return
        key = ordering_key(update)
        if key is None:
            async with self._slots:
                await self._measured(update, coroutine)
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                await self._measured(update, coroutine)
        finally:
            self._release(key)

    async def _measured(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Process the update, counted and timed for /metrics."""
        kind = metrics.update_type(update)
        started = time.monotonic()
        try:
            await coroutine
        finally:
            metrics.HANDLER_SECONDS.labels(kind).observe(time.monotonic() - started)
            metrics.UPDATES_PROCESSED.labels(kind).inc()

    def _drop_flood(self, update: object) -> bool:
        """Count the update against its sender; True when it must be dropped unseen."""
        key = _flood_key(update)
        if key is None or self._flood is None or self._clock is None:
            return False
        verdict = self._flood.check(key, self._clock.now())
        if verdict is Verdict.ALLOW:
            return False
        if verdict is Verdict.WARN and isinstance(update, Update):
            # Processed after all, but only to say "slow down" in the person's own language
            # (the scope guard reads it from the database and stops the update there).
            _log.info("update %s: a person is flooding; muted for a while", update.update_id)
            self.warned.add(update.update_id)
            return False
        self.dropped += 1
        metrics.UPDATES_DROPPED.inc()
        return True

    def take_warning(self, update_id: int) -> bool:
        """Whether this update is the one that crossed the flood line (asked once)."""
        if update_id in self.warned:
            self.warned.discard(update_id)
            return True
        return False

    def _release(self, key: int) -> None:
        """Drop the lock of a person nobody is waiting for, so the table stays small."""
        self._waiting[key] -= 1
        if self._waiting[key] == 0:
            del self._waiting[key]
            del self._locks[key]

    @property
    def people_waiting(self) -> int:
        """How many people have an update in flight or waiting (for metrics and tests)."""
        return len(self._waiting)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
