"""The bot with its web side, served on a loopback port, and helpers to reach it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.config import Settings
from bot.web.server import WebServer
from tests import harness
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """The bot's settings, with the web side on a free loopback port (links point at it)."""
    port = free_port()
    return harness.test_settings(
        telegram=telegram,
        database_url=database_url,
        bot={"flood_max_updates": 1000},
        web={"listen": "127.0.0.1", "port": port, "screen_tick_seconds": 0.5},
    )


@pytest.fixture
async def web(bot: BotHarness) -> AsyncIterator[WebServer]:
    """The web server of the running bot (as `python -m bot run` serves it)."""
    assert bot.application is not None
    server = WebServer(bot.application)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http(web: WebServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the web server."""
    async with httpx.AsyncClient(base_url=web.url, timeout=10) as client:
        yield client
