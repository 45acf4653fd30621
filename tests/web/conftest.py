"""The bot with its web side, served on a loopback port, and helpers to reach it."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from bot.config import Settings
from bot.web.auth import sign_init_data
from bot.web.server import WebServer
from storage.models import CheckIn, CoordinatorZone, Event, Person, Registration, Role, RoleGrant
from tests import harness
from tests.factories import make_event
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


# ---------------------------------------------------------------------------------------------
# People and events, straight into the database


async def someone(
    bot: BotHarness,
    *,
    telegram_id: int | None,
    name: str,
    roles: tuple[Role, ...] = (),
    zones: tuple[int, ...] = (),
    district: str | None = None,
    phone: str | None = None,
    participant_type: str = "volunteer",
) -> Person:
    """A registered person, with roles (and a coordinator's zones)."""
    async with bot.sessions() as session:
        person = Person(
            telegram_id=telegram_id,
            full_name=name,
            phone=phone,
            district_code=district,
            participant_type=participant_type,
            volunteer_role="volunteer" if participant_type == "volunteer" else None,
        )
        session.add(person)
        await session.flush()
        for role in roles:
            session.add(RoleGrant(person_id=person.id or 0, role=role))
        for zone in zones:
            session.add(CoordinatorZone(person_id=person.id or 0, zone=zone))
        await session.commit()
        return person


async def an_event(bot: BotHarness, **extra: object) -> Event:
    """An event starting in half an hour (check-in open), with capacity 50."""
    async with bot.sessions() as session:
        return await make_event(session, now=bot.clock.now(), capacity=50, **extra)  # type: ignore[arg-type]


async def register(bot: BotHarness, event: Event, *people: Person) -> None:
    """RSVPs for these people."""
    async with bot.sessions() as session:
        for person in people:
            session.add(
                Registration(event_id=event.id or 0, person_id=person.id or 0, status="registered")
            )
        await session.commit()


async def arrived(
    bot: BotHarness, event: Event, person: Person, *, late: bool = False, method: str = "code"
) -> None:
    """A check-in row, as the bot would have written it."""
    async with bot.sessions() as session:
        session.add(
            CheckIn(
                event_id=event.id or 0,
                person_id=person.id or 0,
                checked_in_at=bot.clock.now(),
                method=method,
                late=late,
            )
        )
        await session.commit()


def init_data(telegram_id: int, *, token: str, age: timedelta = timedelta(0), **extra: str) -> str:
    """Mini App initData for a person, signed with the bot token as Telegram signs it."""
    signed_at = int((datetime.now(UTC) - age).timestamp())
    fields = {
        "auth_date": str(signed_at),
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": telegram_id, "first_name": "Test", "language_code": "th"}),
        **extra,
    }
    return sign_init_data(fields, token)


# ---------------------------------------------------------------------------------------------
# A real browser: Debian's Chromium, driven by Playwright

CHROMIUM = os.environ.get("ASA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("ASA_TEST_ARTIFACTS", "test-artifacts")) / "web"
PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1920, "height": 1080}


@pytest.fixture
def chromium_path() -> str:
    """Debian's Chromium, which `make test` installs (nothing is downloaded at run time)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    return CHROMIUM


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Headless Chromium, driven by Playwright."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def overflowing(page: Page) -> list[str]:
    """Elements wider than the viewport, or sticking out of it on the right."""
    found: list[str] = await page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            const wide = [];
            if (document.documentElement.scrollWidth > width) { wide.push("document"); }
            for (const element of document.querySelectorAll("body *")) {
                const box = element.getBoundingClientRect();
                if (box.width > 0 && (box.right > width + 1 || box.left < -1)) {
                    wide.push(element.tagName + "." + element.className);
                }
            }
            return wide;
        }"""
    )
    return found


async def screenshot(page: Page, name: str) -> bytes:
    """A full-page screenshot, kept as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = await page.screenshot(full_page=True)
    (ARTIFACTS / f"{name}.png").write_bytes(png)
    return png


def qr_texts(png: bytes) -> list[str]:
    """What the QR codes in a screenshot say."""
    import zxingcpp
    from PIL import Image

    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]
