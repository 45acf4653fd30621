"""The pending-update queue behind getUpdates, and a broadcast "something changed" signal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# Telegram's default when allowed_updates is [] or was never set.
DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class Signal:
    """Wakes every waiter when fired; firing is synchronous so handlers can call it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        """Wake everybody currently waiting."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> bool:
        """Wait for the next fire; False after `seconds` without one."""
        event = self._event
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True

    async def wait_until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until predicate() holds, re-checking on every fire; False after `seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self.wait(remaining):
                return predicate()
        return True


def update_type(update: dict[str, Any]) -> str:
    """The kind of an update ("message", "callback_query", ...)."""
    return next(key for key in update if key != "update_id")


class UpdateQueue:
    """Updates waiting for getUpdates; confirmed ones are forgotten, as on Telegram."""

    def __init__(self, signal: Signal, first_id: int = 100_000) -> None:
        self._signal = signal
        self._next_id = first_id
        self._updates: list[dict[str, Any]] = []
        self._allowed: frozenset[str] | None = None  # None: Telegram's default set

    @property
    def pending(self) -> int:
        """How many updates are not confirmed yet."""
        return len(self._updates)

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update of `kind` and wake long polls."""
        update = {"update_id": self._next_id, kind: payload}
        self._next_id += 1
        self._updates.append(update)
        self._signal.fire()
        return update

    def clear(self) -> None:
        """Drop everything (deleteWebhook with drop_pending_updates)."""
        self._updates.clear()

    def set_allowed(self, allowed: list[str]) -> None:
        """Remember allowed_updates; an empty list restores the default."""
        self._allowed = frozenset(allowed) if allowed else None

    def confirm(self, offset: int) -> None:
        """Forget updates below `offset`; a negative offset keeps only the last -offset."""
        if offset < 0:
            del self._updates[:offset]
        else:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

    def _allows(self, update: dict[str, Any]) -> bool:
        """Whether the current allowed_updates setting lets this update through."""
        kind = update_type(update)
        if self._allowed is None:
            return kind not in DEFAULT_EXCLUDED
        return kind in self._allowed

    def take(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` deliverable updates; unwanted kinds are dropped for good."""
        self._updates = [u for u in self._updates if self._allows(u)]
        return self._updates[:limit]

    def snapshot(self) -> list[dict[str, Any]]:
        """The updates not confirmed yet, oldest first (the queue's own dicts)."""
        return list(self._updates)

    def has_deliverable(self) -> bool:
        """Whether a getUpdates call would return something now."""
        return any(self._allows(u) for u in self._updates)
