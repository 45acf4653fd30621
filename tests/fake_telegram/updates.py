"""The pending-update queue behind getUpdates and webhooks, and a broadcast "changed" signal."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Telegram's default when allowed_updates is [] or was never set.
DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class Signal:
    """Wakes every waiter when fired; firing is synchronous so handlers can call it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.fires = 0  # how many times it fired, for tests of the signal itself

    def fire(self) -> None:
        """Wake everybody currently waiting."""
        self.fires += 1
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


def update_type(update: dict[str, Any]) -> str | None:
    """The kind of an update ("message", "callback_query", ...); None when it has none."""
    return next((key for key in update if key != "update_id"), None)


@dataclass(eq=False)
class QueuedUpdate:
    """A pending update: its body as it goes out, and the number offsets and order use.

    `seq` is the update_id, except for a raw update whose update_id is not an integer (or is
    missing: then the fake adds one, and seq is that).
    """

    seq: int
    body: dict[str, Any]


class UpdateQueue:
    """Updates waiting for getUpdates or the webhook; acknowledged ones are forgotten.

    As on Telegram, an update of a kind the bot did not subscribe to (allowed_updates) is not
    created at all, and a new subscription drops the waiting updates it excludes. A raw update
    with no kind at all is always let through.
    """

    def __init__(self, arrived: Signal, changed: Signal, first_id: int = 100_000) -> None:
        self._arrived = arrived  # wakes long polls and the webhook pusher
        self._changed = changed  # anything that changes `pending`
        self._next_id = first_id
        self._entries: list[QueuedUpdate] = []
        self._allowed: list[str] | None = None  # None: Telegram's default set

    @property
    def pending(self) -> int:
        """How many updates are not confirmed (or acknowledged) yet."""
        return len(self._entries)

    @property
    def allowed(self) -> list[str] | None:
        """The allowed_updates subscription, None while it is Telegram's default."""
        return None if self._allowed is None else list(self._allowed)

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue an update of `kind` and wake long polls; returns the update."""
        return self.push_raw({kind: payload})

    def push_raw(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue any update body as it is, adding an update_id unless it has one."""
        if "update_id" not in body:
            body = {"update_id": self._next_id, **body}
        update_id = body["update_id"]
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            seq = update_id
        else:
            seq = self._next_id
        self._next_id = max(self._next_id, seq + 1)
        if self._allows(body):
            bisect.insort(self._entries, QueuedUpdate(seq, body), key=lambda entry: entry.seq)
            self._arrived.fire()
            self._changed.fire()
        return body

    def clear(self) -> None:
        """Drop everything (drop_pending_updates)."""
        self._drop(lambda entry: True)

    def set_allowed(self, allowed: list[str]) -> None:
        """Subscribe to `allowed` kinds ([] restores the default); drops excluded updates."""
        self._allowed = list(dict.fromkeys(allowed)) if allowed else None
        self._drop(lambda entry: not self._allows(entry.body))

    def confirm(self, offset: int) -> None:
        """Forget updates below `offset`; a negative offset keeps only the last -offset."""
        if offset < 0:
            keep = set(map(id, self._entries[offset:]))
            self._drop(lambda entry: id(entry) not in keep)
        else:
            self._drop(lambda entry: entry.seq < offset)

    def forget(self, entry: QueuedUpdate) -> None:
        """Forget one update (the webhook got a 2xx for it)."""
        self._drop(lambda queued: queued is entry)

    def take(self, limit: int) -> list[dict[str, Any]]:
        """The first `limit` pending updates, oldest first; they stay until confirmed."""
        return [entry.body for entry in self._entries[:limit]]

    def entries(self) -> list[QueuedUpdate]:
        """The pending updates in update_id order (a copy of the list)."""
        return list(self._entries)

    def snapshot(self) -> list[dict[str, Any]]:
        """The bodies of the pending updates, oldest first (the queue's own dicts)."""
        return [entry.body for entry in self._entries]

    def has_deliverable(self) -> bool:
        """Whether a getUpdates call would return something now."""
        return bool(self._entries)

    def _allows(self, update: dict[str, Any]) -> bool:
        """Whether the current allowed_updates setting lets this update exist."""
        kind = update_type(update)
        if kind is None:
            return True
        if self._allowed is None:
            return kind not in DEFAULT_EXCLUDED
        return kind in self._allowed

    def _drop(self, unwanted: Callable[[QueuedUpdate], bool]) -> None:
        """Remove the entries `unwanted` picks; tell waiters when something went."""
        kept = [entry for entry in self._entries if not unwanted(entry)]
        if len(kept) != len(self._entries):
            self._entries = kept
            self._changed.fire()
