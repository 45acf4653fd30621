"""Process different people's updates concurrently, each person's own updates in order.

python-telegram-bot's ConversationHandler assumes one update per person at a time. With the
default sequential processing a slow person holds up the whole queue at the door; with plain
concurrency one person's two quick taps could race. A lock per person gives both: concurrency
across people, order within one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

AfterUpdate = Callable[[], Awaitable[None]]


def ordering_key(update: object) -> int | None:
    """Whose update this is: the user, else the chat; None for anything anonymous."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


class PerPersonUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across people, sequential per person; saves state after each update."""

    def __init__(self, max_concurrent_updates: int, *, after_update: AfterUpdate | None = None):
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._after_update = after_update

    def set_after_update(self, after_update: AfterUpdate) -> None:
        """A coroutine run after every update, e.g. to write conversation state at once."""
        self._after_update = after_update

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for this person's earlier updates, then process this one."""
        key = ordering_key(update)
        if key is None:
            await coroutine
            await self._after()
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
                # Persist before the person's next update is processed, so a crash between
                # two of their messages never loses the first one's conversation state.
                await self._after()
        finally:
            self._release(key)

    async def _after(self) -> None:
        if self._after_update is not None:
            await self._after_update()

    def _release(self, key: int) -> None:
        """Drop the lock of a person nobody is waiting for, so the table stays small."""
        self._waiting[key] -= 1
        if self._waiting[key] == 0:
            del self._waiting[key]
            del self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
