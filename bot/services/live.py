""" "Something changed for event N", told to every process that shows it live.

Call `changed(session, event_id=...)` inside the transaction that changed the event (a
check-in, a code rotated, check-in opened or closed). Nobody hears it unless that transaction
commits:
- on PostgreSQL it is `NOTIFY asa_live, '<event id>'`, which PostgreSQL delivers at commit to
  every connection listening (each process's web side listens: bot/web/live.py), so a
  check-in on one replica reaches the screens served by another;
- on SQLite (one process) it is an in-process broadcast run after the commit.

A check-in needs no call: on PostgreSQL the checkin table's trigger notifies for every row
inserted (storage/models.py), so use `checked_in`, which on SQLite tells this process.

Listeners in this process register with `subscribe(callback)`; the callback gets the event id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import after_commit
from storage.models import LIVE_CHANNEL

_log = logging.getLogger(__name__)

CHANNEL = LIVE_CHANNEL

Listener = Callable[[int], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Hear about every changed event in this process; returns the way to stop."""
    _listeners.append(listener)

    def unsubscribe() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return unsubscribe


def deliver(event_id: int) -> None:
    """Tell this process's listeners (the PostgreSQL listener calls this for each NOTIFY)."""
    for listener in list(_listeners):
        try:
            listener(event_id)
        except Exception:  # a broken listener must not stop the others
            _log.exception("live listener failed for event %s", event_id)


async def changed(session: AsyncSession, *, event_id: int) -> None:
    """Event `event_id` changed in this transaction: tell every process once it commits."""
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(  # type: ignore[call-overload]
            text("SELECT pg_notify(:channel, :payload)"),
            params={"channel": CHANNEL, "payload": str(event_id)},
        )
        return
    after_commit(session, lambda: deliver(event_id))


def checked_in(session: AsyncSession, *, event_id: int) -> None:
    """A check-in to `event_id` was inserted in this transaction. On PostgreSQL the checkin
    table's trigger has told every process already (delivered at commit); on SQLite, tell this
    process once the transaction commits."""
    if session.get_bind().dialect.name != "postgresql":
        after_commit(session, lambda: deliver(event_id))


def checked_in_alone(dialect: str, *, event_id: int) -> None:
    """A check-in to `event_id` was committed on its own (`Database.write_alone`): on
    PostgreSQL the trigger told every process as it committed; on SQLite, tell this one now."""
    if dialect != "postgresql":
        deliver(event_id)


def parse_payload(payload: str) -> int | None:
    """The event id a notification carries, or None for anything else."""
    if not payload.isascii() or not payload.isdigit() or len(payload) > 9:
        return None
    return int(payload)
