"""The venue screen in a real browser: its QR is the event's current link, it follows the code
and the count live, and nothing personal ever reaches it."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import timedelta

import httpx
from playwright.async_api import Browser, Page, Request
from sqlmodel import select

from bot.services.codes import deep_link
from bot.web.server import WebServer
from storage.database import LATENCY_ENV
from storage.models import CheckIn, Event, Role
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.people import Person as Chat
from tests.harness import BotHarness
from tests.web.conftest import (
    PHONE,
    PROJECTOR,
    an_event,
    overflowing,
    qr_texts,
    register,
    screenshot,
    someone,
)

NAME, PHONE_NUMBER = "สมหญิง ใจงาม", "+66812345678"


async def say(chat: Chat, text: str) -> str:
    """Send text and return the bot's next reply."""
    await chat.send(text)
    return (await chat.next_reply()).text or ""


async def current(bot: BotHarness, event: Event) -> Event:
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
    assert fresh is not None
    return fresh


async def screen_link(bot: BotHarness, telegram: FakeTelegram) -> tuple[Chat, str]:
    """An organiser asks the bot for the screen; the link it answers with."""
    organiser = telegram.person(first_name="Organiser")
    await someone(bot, telegram_id=organiser.user_id, name="ผู้จัด งาน", roles=(Role.ORGANISER,))
    reply = await say(organiser, "/screen")
    found = re.search(r"http://\S+/screen/\S+", reply)
    assert found is not None, reply
    return organiser, found.group(0)


async def decoded(page: Page, name: str) -> str:
    """The one QR code on the page, read from a screenshot."""
    texts = qr_texts(await screenshot(page, name))
    assert len(texts) == 1, texts
    return texts[0]


def promised(seconds: float) -> float:
    """The screen's promise (README: a check-in shows within 2 s, a new code within 5 s) holds
    for a database answering in milliseconds. With ASA_DB_LATENCY_MS every statement of the
    check-in and of the recount waits on purpose, on SQLite's one connection shared with the
    bot, so the test allows 10 s more: it then proves that the push still comes, not the
    figure."""
    return seconds + (10.0 if os.environ.get(LATENCY_ENV) else 0.0)


async def until(check: object, seconds: float) -> float:
    """Poll a condition of the page (a coroutine function) until it holds; the time it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        if await check():  # type: ignore[operator]
            return loop.time() - started
        if loop.time() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.1)


async def test_the_screen_shows_the_current_link_and_follows_code_and_count(
    bot: BotHarness, telegram: FakeTelegram, web: WebServer, browser: Browser
) -> None:
    event = await an_event(bot, title="สัมมนาเครือข่ายอาสาสมัครแรงงาน")
    guest = telegram.person(first_name="Somying")
    person = await someone(
        bot, telegram_id=guest.user_id, name=NAME, phone=PHONE_NUMBER, district="1033"
    )
    await register(bot, event, person)
    organiser, url = await screen_link(bot, telegram)

    page = await browser.new_page(viewport=PROJECTOR)
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))
    await page.goto(url)
    username = bot.application.bot.username if bot.application else ""
    first = await decoded(page, "screen-projector")
    assert first == deep_link(username, f"{event.token}-{event.code}")
    assert await page.inner_text(".code") == event.code
    assert await page.inner_text(".count-arrived") == "0"
    # "of N signed up": the one person holding a place, not the arrivals who registered.
    assert "จากผู้ลงชื่อร่วมงาน 1 คน" in await page.inner_text(".count-of")
    assert await overflowing(page) == []

    # A person scans the QR: checked in, and the screen's count follows within 2 s.
    payload = first.split("start=", 1)[1]
    assert (await say(guest, f"/start {payload}")).startswith(f"✅ เช็กอิน «{event.title}» แล้ว")

    async def counted() -> bool:
        return await page.inner_text(".count-arrived") == "1"

    assert await until(counted, promised(2.0)) <= promised(2.0)
    assert "มาถึงใน 15 นาทีล่าสุด: 1 คน" in await page.inner_text(".recent")

    # The organiser rotates the code in the bot: within 5 s the QR is the new link.
    await organiser.send("/events")
    card = await organiser.wait_for(lambda m: event.title in m.shown_text)
    await organiser.press("เปลี่ยนรหัสใหม่", message=card)
    await organiser.wait_for_edit(card)  # "a new code: sure?"
    await organiser.press("✅ เปลี่ยนรหัส", message=card)
    await organiser.wait_for(lambda m: "รหัสเช็กอิน:" in m.shown_text)
    fresh = await current(bot, event)
    assert fresh.code != event.code
    new_link = deep_link(username, f"{event.token}-{fresh.code}")

    async def follows() -> bool:
        return qr_texts(await page.screenshot()) == [new_link]

    assert await until(follows, promised(5.0)) <= promised(5.0)
    assert await page.inner_text(".code") == fresh.code

    # The old code and the old screen QR are refused; nobody is checked in twice.
    late = telegram.person(first_name="Late")
    await someone(bot, telegram_id=late.user_id, name="มา ทีหลัง")
    assert "รหัสไม่ถูกต้อง" in await say(late, f"/checkin {event.code}")
    assert "QR นี้เปลี่ยนไปแล้ว" in await say(late, f"/start {payload}")
    async with bot.sessions() as session:
        assert len((await session.exec(select(CheckIn))).all()) == 1

    # Nothing personal, ever: not in the page, not in anything it loaded, not in its stream.
    html = await page.content()
    async with (
        httpx.AsyncClient(timeout=5) as client,
        client.stream("GET", url + "/stream") as stream,
    ):
        first_event = ""
        async for line in stream.aiter_lines():
            first_event += line + "\n"
            if line == "" and "data:" in first_event:
                break
    assert "event: screen" in first_event
    everything = [html, first_event]
    for request in seen:
        assert request.url.startswith(web.url), f"fetched from outside asa: {request.url}"
        response = await request.response()
        if response is not None and "event-stream" not in response.headers.get("content-type", ""):
            everything.append((await response.body()).decode("utf-8", "replace"))
    for text in everything:
        for secret in (NAME, "สมหญิง", PHONE_NUMBER, "0812345678", "081-234-5678", "5678"):
            assert secret not in text

    # Phone size: nothing overflows, the QR still reads.
    phone = await browser.new_page(viewport=PHONE)
    await phone.goto(url + "?lang=en")
    assert await decoded(phone, "screen-phone") == new_link
    assert "Check-in is open" in await phone.inner_text(".status")
    assert await overflowing(phone) == []


async def test_the_screen_says_when_check_in_closes_and_stops_when_revoked(
    bot: BotHarness, telegram: FakeTelegram, web: WebServer, browser: Browser
) -> None:
    event = await an_event(bot)
    organiser, url = await screen_link(bot, telegram)
    page = await browser.new_page(viewport=PROJECTOR)
    await page.goto(url)
    assert len(qr_texts(await page.screenshot())) == 1

    await organiser.send("/events")
    card = await organiser.wait_for(lambda m: event.title in m.shown_text)
    await organiser.press("ปิดเช็กอินตอนนี้", message=card)
    await organiser.wait_for_answer()

    async def closed() -> bool:
        return await page.inner_text(".status") == "ปิดการเช็กอินแล้ว"

    await until(closed, promised(5.0))
    assert qr_texts(await screenshot(page, "screen-closed")) == []

    # "New link": the old one stops working (page and stream), the new one works.
    await organiser.send("/screen")
    reply = await organiser.next_reply()
    await organiser.press("สร้างลิงก์ใหม่", message=reply)
    asked = await organiser.wait_for_edit(reply)
    assert "หยุดทำงานทันที" in asked.shown_text
    await organiser.press("สร้างลิงก์ใหม่", message=asked)
    renewed = await organiser.wait_for_edit(asked)
    found = re.search(r"http://\S+/screen/\S+", renewed.shown_text)
    assert found is not None
    assert found.group(0) != url
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(url)).status_code == 404
        assert (await client.get(url + "/stream")).status_code == 404
        assert (await client.get(found.group(0))).status_code == 200
        # Forged links: a wrong signature, or another row's id.
        link_id, signature = found.group(0).rsplit("/", 1)[1].split(".")
        base = found.group(0).rsplit("/", 1)[0]
        assert (await client.get(f"{base}/{link_id}.{signature[::-1]}")).status_code == 404
        assert (await client.get(f"{base}/{int(link_id) + 1}.{signature}")).status_code == 404
        # When the event is over, the link stops working.
        bot.clock.advance(timedelta(hours=4))
        gone = await client.get(found.group(0))
        assert gone.status_code == 410
        assert "จบแล้ว" in gone.text
