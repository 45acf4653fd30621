"""Test helpers around the fake: an offline Bot for parsing, and shared pytest fixtures.

A test module uses the fixtures by importing them (pytest registers imported fixtures under
their `name`)::

    from tests.fake_telegram.testing import bot_fixture, tg_fixture  # noqa: F401 (fixtures)

    async def test_something(tg: FakeTelegram, bot: Bot) -> None: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot
from telegram.request import BaseRequest, RequestData

from .server import DEFAULT_TOKEN, FakeTelegram


class OfflineRequest(BaseRequest):
    """A request backend that fails any network use: parsing must not need a server."""

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    @property
    def read_timeout(self) -> float | None:
        """No network, no timeout."""
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Refuse: an offline bot never talks to anybody."""
        raise AssertionError(f"the offline bot tried to reach {url.split('/')[-1]}")


def offline_bot(token: str = DEFAULT_TOKEN) -> Bot:
    """A Bot for `Update.de_json(payload, bot)` and friends that fails on any API call."""
    return Bot(token, request=OfflineRequest(), get_updates_request=OfflineRequest())


@pytest.fixture(name="tg")
async def tg_fixture() -> AsyncIterator[FakeTelegram]:
    """A running fake with flood control off, so only the tests about it see 429s."""
    async with FakeTelegram(rate_limits=False) as fake:
        yield fake


@pytest.fixture(name="bot")
async def bot_fixture(tg: FakeTelegram) -> AsyncIterator[Bot]:
    """A bare PTB Bot pointed at the fake over HTTP."""
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as client:
        yield client
