"""Who gets a screen link, and live updates from another process (PostgreSQL NOTIFY)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest

from bot.web.server import WebServer
from storage.models import Role
from tests import database, harness
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness
from tests.web.conftest import an_event, free_port, register, someone


async def next_screen(lines: AsyncIterator[str]) -> str:
    """The next "screen" event of a screen's stream, whole."""
    text = ""
    async for line in lines:
        text += line + "\n"
        if line == "" and "event: screen" in text:
            return text
    raise AssertionError("the stream ended")


async def say(chat: object, text: str) -> str:
    await chat.send(text)  # type: ignore[attr-defined]
    return (await chat.next_reply()).text or ""  # type: ignore[attr-defined]


async def test_screen_links_for_organisers_and_coordinators_of_their_zones_only(
    bot: BotHarness, telegram: FakeTelegram, web: WebServer
) -> None:
    event = await an_event(bot, title="งานโซนสาม")
    volunteer, coordinator, organiser = (telegram.person() for _ in range(3))
    await someone(bot, telegram_id=volunteer.user_id, name="อาสา")
    await someone(
        bot, telegram_id=coordinator.user_id, name="ผู้ประสาน", roles=(Role.COORDINATOR,), zones=(3,)
    )
    await someone(bot, telegram_id=organiser.user_id, name="ผู้จัด", roles=(Role.ORGANISER,))

    assert await say(volunteer, "/screen") == "ท่านไม่มีสิทธิ์ทำรายการนี้"
    assert await say(coordinator, f"/screen {event.id}") == "ท่านไม่มีสิทธิ์ทำรายการนี้"
    assert "ไม่พบกิจกรรมนี้" in await say(organiser, "/screen 999999")
    # Once people of zone 3 are registered, it is an event of the coordinator's zones.
    await register(bot, event, await someone(bot, telegram_id=None, name="ก", district="1033"))
    reply = await say(coordinator, f"/screen {event.code}")
    assert reply.startswith("หน้าจอเช็กอินของ «งานโซนสาม»")
    # The organiser gets the same link: /screen shows the working one, it makes no new one.
    assert re.findall(r"/screen/\S+", await say(organiser, "/screen")) == re.findall(
        r"/screen/\S+", reply
    )


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own (whatever ASA_TEST_DB says): NOTIFY needs it."""
    async with database.migrated_pg_scratch() as url:
        yield url


async def test_a_check_in_committed_by_another_process_reaches_the_screen(
    telegram: FakeTelegram, postgres_url: str
) -> None:
    settings = harness.test_settings(
        telegram=telegram,
        database_url=postgres_url,
        web={"listen": "127.0.0.1", "port": free_port(), "screen_tick_seconds": 60},
    )
    bot = BotHarness(settings=settings, telegram=telegram)
    await bot.start()
    assert bot.application is not None
    server = WebServer(bot.application)
    await server.start()
    try:
        event = await an_event(bot)
        organiser = telegram.person()
        await someone(bot, telegram_id=organiser.user_id, name="ผู้จัด", roles=(Role.ORGANISER,))
        link = re.search(r"http://\S+/screen/\S+", await say(organiser, "/screen"))
        assert link is not None
        guest = await someone(bot, telegram_id=None, name="แขก")
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream("GET", link.group(0) + "/stream") as stream,
        ):
            lines = stream.aiter_lines()
            assert 'count-arrived\\" data-count=\\"0' in await next_screen(lines)
            # Another replica writes the check-in on its own connection, a plain INSERT with
            # no NOTIFY of its own: the checkin table's trigger tells every listener at commit.
            # (The tick is a minute here: only the notification can bring the change.)
            dsn = postgres_url.replace("postgresql+asyncpg", "postgresql")
            other = await asyncpg.connect(dsn)
            try:
                await other.execute(
                    "INSERT INTO checkin (event_id, person_id, checked_in_at, method, late) "
                    "VALUES ($1, $2, $3, 'code', false)",
                    event.id,
                    guest.id,
                    bot.clock.now(),
                )
            finally:
                await other.close()
            async with asyncio.timeout(2):
                assert 'count-arrived\\" data-count=\\"1' in await next_screen(lines)
    finally:
        await server.stop()
        await bot.stop()


async def test_an_automatically_rotating_code_moves_the_screen_on_by_itself(
    bot: BotHarness, telegram: FakeTelegram, web: WebServer
) -> None:
    event = await an_event(bot, code_rotate_seconds=300)
    organiser = telegram.person()
    await someone(bot, telegram_id=organiser.user_id, name="ผู้จัด", roles=(Role.ORGANISER,))
    link = re.search(r"http://\S+/screen/\S+", await say(organiser, "/screen"))
    assert link is not None
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", link.group(0) + "/stream") as stream,
    ):
        lines = stream.aiter_lines()

        async def next_code() -> str:
            found = re.search(r'class=\\"code\\"[^>]*>(\w{6})<', await next_screen(lines))
            assert found is not None
            return found.group(1)

        first = await next_code()
        assert first != event.code  # a rotating code is derived, never the stored one
        bot.clock.advance(timedelta(minutes=5))
        async with asyncio.timeout(5):
            second = await next_code()
        assert second != first
        # The code on the screen is the one that works.
        guest = telegram.person()
        await someone(bot, telegram_id=guest.user_id, name="แขก")
        assert "✅" in await say(guest, f"/checkin {second}")
