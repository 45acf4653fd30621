"""Run the real bot against the fake Telegram, and restart it, as a test needs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bot.app import build_application, running, webhooking
from bot.clock import FakeClock, ShiftedClock
from bot.config import Settings
from bot.context import AsaApplication
from bot.runtime import Activity
from bot.web.server import serving

if TYPE_CHECKING:
    from tests.fake_telegram import FakeTelegram

# Long polls end quickly in tests so that stopping the bot never waits for them.
TEST_POLL_TIMEOUT = 1
# Generous: a loaded machine (or ASA_DB_LATENCY_MS) makes a burst take seconds.
SETTLE_TIMEOUT = 30.0


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    """Return when the first of these finishes; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_settings(
    *,
    telegram: FakeTelegram,
    database_url: str,
    telegram_section: dict[str, Any] | None = None,  # noqa: PT028  (not a test)
    **sections: dict[str, Any],
) -> Settings:
    """Settings for the fake server and a test database; `sections` override any key
    (`telegram_section` the [telegram] ones, whose name the fake server's argument takes)."""
    raw: dict[str, Any] = {
        "telegram": {
            "token": telegram.token,
            "base_url": telegram.base_url,
            "base_file_url": telegram.base_file_url,
            "poll_timeout": TEST_POLL_TIMEOUT,
            "rate_limit": 1000,
        },
        "database": {"url": database_url},
        "bot": {},
    }
    raw["telegram"].update(telegram_section or {})
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return Settings.model_validate(raw)


# Modules that import it by name must not have pytest collect it as a test.
test_settings.__test__ = False  # type: ignore[attr-defined]


class BotHarness:
    """The bot as a test sees it: start, stop, restart, and the clock it runs on."""

    def __init__(
        self,
        *,
        settings: Settings,
        telegram: FakeTelegram,
        clock: FakeClock | ShiftedClock | None = None,
    ) -> None:
        self.settings = settings
        self.telegram = telegram
        self.clock = clock or ShiftedClock()
        self.application: AsaApplication | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self) -> AsaApplication:
        """Build a fresh application (as a new process would) and start polling."""
        assert self._stack is None, "already running"
        self.application = build_application(self.settings, clock=self.clock)
        self._stack = contextlib.AsyncExitStack()
        if self.settings.telegram.mode == "webhook":
            # As `python -m bot run` does it: the web side (which receives the updates) first.
            await self._stack.enter_async_context(serving(self.application))
            await self._stack.enter_async_context(webhooking(self.application))
        else:
            await self._stack.enter_async_context(running(self.application))
        return self.application

    async def stop(self) -> None:
        """Stop polling and shut down cleanly."""
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    async def restart(self) -> AsaApplication:
        """Stop, then start a brand-new application on the same database."""
        await self.stop()
        return await self.start()

    def settled(self) -> bool:
        """Nothing left to do, on either side: no update pending at the fake server or in
        flight in the bot (queued or in a handler), no HTTP request in flight, the outbox
        dispatcher and every background writer idle."""
        application = self.application
        return (
            self.telegram.quiescent()
            and application is not None
            and application.runtime.activity.settled
        )

    async def settle(self, timeout: float = SETTLE_TIMEOUT) -> None:  # noqa: ASYNC109
        """Wait until settled() holds; fail with what is still going on after `timeout`.

        Both sides signal every change, so this wakes on each one and re-checks the whole
        condition at once (the fake and the bot share the test's event loop).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.settled():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"not settled after {timeout}s: {self._busy_report()}")
            await _first_of(
                self.telegram.changed.wait(remaining),
                self._activity().wait_changed(remaining),
            )

    def _activity(self) -> Activity:
        assert self.application is not None, "the bot is not running"
        return self.application.runtime.activity

    def _busy_report(self) -> str:
        """What is still going on, for a failure message."""
        activity = self._activity()
        busy = [type(worker).__name__ for worker in activity.workers if not worker.idle]
        return (
            f"fake quiescent={self.telegram.quiescent()} ({self.telegram.pending_report()}), "
            f"updates in flight={activity.updates_in_flight}, busy workers={busy}"
        )

    @property
    def sessions(self) -> Any:
        """The running application's session factory, for assertions on the database."""
        assert self.application is not None
        return self.application.runtime.sessions
