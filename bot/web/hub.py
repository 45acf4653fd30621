"""Live pages: one watch per event with screens open, shared by all of them.

A watch computes the event's screen state (bot/usecases/screen.py) and hands every change to
the screens and dashboards following it. It looks again:
- at once when the event changes in any process (bot/services/live.py: PostgreSQL
  NOTIFY, which this hub LISTENs to on its own connection, or the in-process broadcast);
- when the clock alone changes the screen (an automatic code rotation, the window opening or
  closing, arrivals ageing out of "the last 15 minutes");
- on a short tick shared by all screens of the event, reading only the event's row, for changes
  made by code that does not announce them (a code rotated or check-in closed from /events).
Crowds are coalesced: a burst of check-ins costs one recount per `MIN_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from bot import metrics
from bot.runtime import Runtime
from bot.services import live
from bot.usecases import screen
from bot.usecases.screen import ScreenState
from storage import notifications

_log = logging.getLogger(__name__)

# At most one recount per this many seconds per event, however many check-ins arrive.
MIN_INTERVAL = 0.3


class Watch:
    """One event's live state, and the wake-up of everyone following it."""

    def __init__(self, hub: Hub, event_id: int) -> None:
        self.hub = hub
        self.event_id = event_id
        self.state: ScreenState | None = None
        self.version = 0
        self.followers = 0
        self._changed = asyncio.Event()
        self._poked = asyncio.Event()
        self._ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """The event changed somewhere: look again soon."""
        self._poked.set()

    async def wait_changed(self, seconds: float) -> bool:
        """Wait for the next state (True) or `seconds` (False)."""
        event = self._changed
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True

    async def ready(self) -> None:
        """Wait for the first state."""
        await self._ready.wait()

    def _publish(self, state: ScreenState) -> None:
        if state.same_as(self.state):
            self.state = state
            return
        self.state = state
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()
        self._ready.set()

    async def run(self) -> None:
        """Recount, wait for a reason to look again, repeat (until nobody follows)."""
        runtime = self.hub.runtime
        tick = runtime.settings.web.screen_tick_seconds
        while True:
            self._poked.clear()
            try:
                state = await screen.state(
                    runtime.db, event_id=self.event_id, now=runtime.clock.now()
                )
            except Exception:
                _log.exception("screen state of event %s failed; trying again", self.event_id)
                await asyncio.sleep(tick)
                continue
            self._publish(state)
            await self._wait_for_reason(state, tick)
            await asyncio.sleep(MIN_INTERVAL)

    async def _wait_for_reason(self, state: ScreenState, tick: float) -> None:
        """Return when the event changed, the clock changes the screen, or its row did."""
        runtime = self.hub.runtime
        mark = screen.EventMark(code=state.code, status=state.status)
        while True:
            now = runtime.clock.now()
            until = state.refresh_at - now if state.refresh_at else timedelta(seconds=tick)
            wait = max(0.05, min(tick, until.total_seconds()))
            try:
                async with asyncio.timeout(wait):
                    await self._poked.wait()
                return
            except TimeoutError:
                pass
            if state.refresh_at is not None and runtime.clock.now() >= state.refresh_at:
                return
            try:
                seen = await screen.mark(
                    runtime.db, event_id=self.event_id, now=runtime.clock.now()
                )
            except Exception:
                _log.warning("event %s could not be read; trying again", self.event_id)
                continue
            if seen != mark:
                return


class Hub:
    """Every watch of this process, and the PostgreSQL listener that pokes them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.watches: dict[int, Watch] = {}
        self.closing = asyncio.Event()
        self.listening = False
        self._unsubscribe = live.subscribe(self._changed)
        self._listener: asyncio.Task[None] | None = None

    def _changed(self, event_id: int) -> None:
        watch = self.watches.get(event_id)
        if watch is not None:
            watch.poke()

    def start(self) -> None:
        """Listen to PostgreSQL's notifications (SQLite needs nothing: one process)."""
        if self.runtime.engine.dialect.name == "postgresql" and self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="asa-live-listener")

    async def close(self) -> None:
        """End every stream and stop listening."""
        self.closing.set()
        self._unsubscribe()
        tasks = [watch.task for watch in self.watches.values() if watch.task is not None]
        if self._listener is not None:
            tasks.append(self._listener)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.watches.clear()

    @contextlib.asynccontextmanager
    async def follow(self, event_id: int) -> AsyncIterator[Watch]:
        """Follow an event's live state for as long as the block runs."""
        watch = self.watches.get(event_id)
        if watch is None:
            watch = self.watches[event_id] = Watch(self, event_id)
            watch.task = asyncio.create_task(watch.run(), name=f"asa-screen-{event_id}")
        watch.followers += 1
        metrics.SCREENS_OPEN.inc()
        try:
            yield watch
        finally:
            metrics.SCREENS_OPEN.dec()
            watch.followers -= 1
            if watch.followers == 0 and self.watches.get(event_id) is watch:
                del self.watches[event_id]
                if watch.task is not None:
                    watch.task.cancel()

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; after each (re)connection every watch looks again."""
        await notifications.listen(
            self.runtime.engine.url,
            live.CHANNEL,
            self._notified,
            on_connected=self._look_again,
            on_state=self._listening,
        )

    def _listening(self, listening: bool) -> None:
        self.listening = listening

    def _look_again(self) -> None:
        """Anything missed while not listening: every watch looks again."""
        for watch in list(self.watches.values()):
            watch.poke()

    def _notified(self, payload: str) -> None:
        event_id = live.parse_payload(payload)
        if event_id is not None:
            live.deliver(event_id)
