"""The long-lived objects one running bot needs, created once and closed once."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.data.districts import Geography, load_geography
from bot.delivery.notifier import OutboxNotifier
from bot.flood import FloodGate
from bot.leader import Leadership
from bot.services.checkins import WrongCodeLimiter
from bot.services.notify import Notifier
from storage.database import Database, SessionFactory, create_engine, session_factory

if TYPE_CHECKING:
    from bot.context import AsaApplication

Hook = Callable[["AsaApplication"], Awaitable[None]]


class Worker(Protocol):
    """A background worker whose idleness tests and shutdown can wait for."""

    @property
    def idle(self) -> bool:
        """Nothing being done and nothing asked for."""


class Waker(Worker, Protocol):
    """A worker that looks at the database when told to (the outbox dispatcher)."""

    def wake(self) -> None:
        """Look now."""


class Activity:
    """What this process is busy with, so tests and shutdown wait for known conditions.

    `changed` fires whenever a count goes up or down; `settled` is true when no update is in
    flight (from the moment it is queued until every handler finished with it) and every
    registered background worker is idle.
    """

    def __init__(self) -> None:
        self.updates_in_flight = 0
        self.updates_done = 0
        self.workers: list[Worker] = []
        self._changed = asyncio.Event()

    def update_started(self) -> None:
        """One more update is queued or being processed."""
        self.updates_in_flight += 1
        self.fire()

    def update_finished(self) -> None:
        """An update is completely processed."""
        self.updates_in_flight -= 1
        self.updates_done += 1
        self.fire()

    def fire(self) -> None:
        """Wake whoever waits for a change."""
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def settled(self) -> bool:
        """No update in flight and every worker idle."""
        return self.updates_in_flight == 0 and all(worker.idle for worker in self.workers)

    async def wait_changed(self, seconds: float) -> None:
        """Wait for the next change, or `seconds`."""
        event = self._changed
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return


def instance_name() -> str:
    """A name for this process, unique among replicas: host, pid and a random tail."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Runtime:
    """Settings, database, clock and process-wide state, shared by handlers and jobs."""

    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    instance: str = field(default_factory=instance_name)
    activity: Activity = field(default_factory=Activity)
    flood: FloodGate | None = None
    wrong_codes: WrongCodeLimiter = field(default_factory=WrongCodeLimiter)
    # Run once the bot is connected (after the application started) and when it stops.
    on_start: list[Hook] = field(default_factory=list)
    on_stop: list[Hook] = field(default_factory=list)
    # Run when this process becomes the leader of the replicas, and when it stops being it
    # (bot/leader.py): the outbox, the alarms and the daily sweeps are the leader's work.
    on_gain: list[Hook] = field(default_factory=list)
    on_loss: list[Hook] = field(default_factory=list)
    leadership: Leadership | None = None
    # The outbox dispatcher, once installed (delivery/), woken after notices are written.
    outbox: Waker | None = None
    # Where use cases hand notices (bot/services/notify.py): outbox rows, sent by `outbox`.
    notifier: Notifier = field(init=False)
    _geography: Geography | None = None

    def __post_init__(self) -> None:
        self.notifier = OutboxNotifier(self.wake_outbox)

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        """A runtime with a fresh engine (no connection is opened yet)."""
        engine = create_engine(
            settings.database.url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        sessions = session_factory(engine)
        bot = settings.bot
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            db=Database(sessions, retry_seconds=settings.database.retry_seconds),
            clock=clock or SystemClock(),
            flood=FloodGate(
                max_updates=bot.flood_max_updates,
                window=timedelta(seconds=bot.flood_window_seconds),
                mute=timedelta(seconds=bot.flood_mute_seconds),
            ),
        )

    @property
    def geography(self) -> Geography:
        """Districts and zones, loaded once per process (and checked at start-up)."""
        if self._geography is None:
            self._geography = load_geography(zones_file=self.settings.bot.zones_file)
        return self._geography

    @property
    def leads(self) -> bool:
        """Whether this process does the work that must happen once for the whole bot."""
        return self.leadership is None or self.leadership.is_leader

    def wake_outbox(self) -> None:
        """Tell the dispatcher that new deliveries are waiting (no-op before it is installed)."""
        if self.outbox is not None:
            self.outbox.wake()

    async def close(self) -> None:
        """Release the database connections."""
        await self.engine.dispose()
