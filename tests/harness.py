"""Run the real bot against the fake Telegram, and restart it, as a test needs."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from bot.app import build_application, running
from bot.clock import FakeClock, ShiftedClock
from bot.config import Settings
from bot.context import AsaApplication

if TYPE_CHECKING:
    from tests.fake_telegram import FakeTelegram

# Long polls end quickly in tests so that stopping the bot never waits for them.
TEST_POLL_TIMEOUT = 1


def test_settings(
    *, telegram: FakeTelegram, database_url: str, **sections: dict[str, Any]
) -> Settings:
    """Settings for the fake server and a test database; `sections` override any key."""
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

    @property
    def sessions(self) -> Any:
        """The running application's session factory, for assertions on the database."""
        assert self.application is not None
        return self.application.runtime.sessions
