"""The dashboard in a real browser: as a Telegram Mini App (telegram-web-app.js stubbed, as
Telegram's client would provide it) and on a laptop; live, acting, and fitting the screen."""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Browser, Page, Route
from sqlmodel import select

from bot.config import Settings
from bot.web.server import WebServer
from storage.models import CheckIn, Event, Role
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness
from tests.web.conftest import (
    PHONE,
    PROJECTOR,
    an_event,
    arrived,
    init_data,
    overflowing,
    register,
    screenshot,
    someone,
)

TELEGRAM_JS = "https://telegram.org/js/telegram-web-app.js*"


def telegram_stub(data: str) -> str:
    """What telegram-web-app.js gives a Mini App: initData, and dialogs that say yes."""
    stub = (
        "window.Telegram = {WebApp: {initData: INIT_DATA, initDataUnsafe: {}, ready() {},"
        " expand() {}, showConfirm(text, done) { window.__confirmed = text; done(true); },"
        " downloadFile(options) { window.__downloaded = options; }}};"
    )
    return stub.replace("INIT_DATA", json.dumps(data))


async def mini_app(
    browser: Browser, web: WebServer, event: Event, data: str, size: dict[str, int]
) -> Page:
    """The dashboard opened as Telegram opens a Mini App; nothing else leaves the machine."""
    page = await browser.new_page(viewport=size, locale="th-TH")  # type: ignore[arg-type]
    outside: list[str] = []

    async def fake_telegram_js(route: Route) -> None:
        await route.fulfill(content_type="application/javascript", body=telegram_stub(data))

    async def only_asa(route: Route) -> None:
        if route.request.url.startswith(web.url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_asa)
    await page.route(TELEGRAM_JS, fake_telegram_js)
    page.on("pageerror", lambda error: outside.append(f"script error: {error}"))
    await page.goto(f"{web.url}/dashboard/{event.id}")
    page.outside = outside  # type: ignore[attr-defined]
    return page


async def test_the_mini_app_shows_the_figures_acts_and_stays_live(
    bot: BotHarness, telegram: FakeTelegram, web: WebServer, browser: Browser, settings: Settings
) -> None:
    event = await an_event(bot, title="สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร")
    organiser = 7001
    await someone(bot, telegram_id=organiser, name="ผู้จัด งาน", roles=(Role.ORGANISER,))
    people = [
        await someone(bot, telegram_id=None, name=f"อาสา คนที่{n}", district=district)
        for n, district in enumerate(("1033", "1047", "1043", "1006", "1001"), start=1)
    ]
    await register(bot, event, *people)
    await arrived(bot, event, people[0])
    await arrived(bot, event, people[1], late=True)
    data = init_data(organiser, token=settings.telegram.token)

    page = await mini_app(browser, web, event, data, PHONE)
    await page.wait_for_selector(".figures")
    assert "ยังไม่มา (3 คน)" in await page.inner_text(".people")
    assert await overflowing(page) == []
    await screenshot(page, "dashboard-phone")

    # Checked in from the dashboard (staff rights); the page shows it.
    await page.locator("li", has_text="อาสา คนที่3").get_by_role("button").click()
    await page.wait_for_selector(".notice")
    assert "เช็กอินให้แล้ว" in await page.inner_text(".notice")
    # The list is drawn again from the server after the notice: wait for it, not a moment.
    await page.wait_for_selector(".people:has-text('ยังไม่มา (2 คน)')")

    # A check-in elsewhere (the bot) reaches the open dashboard without a reload.
    guest = telegram.person(first_name="Guest")
    person = await someone(bot, telegram_id=guest.user_id, name="ผู้มา ใหม่", district="1033")
    await register(bot, event, person)
    await guest.send(f"/checkin {event.code}")
    await guest.next_reply()

    async def four() -> bool:
        return "4" in await page.inner_text(".figure:first-child .big")

    deadline = asyncio.get_running_loop().time() + 5
    while not await four():
        assert asyncio.get_running_loop().time() < deadline, "the dashboard did not follow"
        await asyncio.sleep(0.1)
    # The live redraw keeps the organiser's notice (it used to wipe it a moment after).
    assert "เช็กอินให้แล้ว" in await page.inner_text(".notice")

    # Rotating asks first (Telegram's own dialog), then happens once.
    await page.get_by_role("button", name="เปลี่ยนรหัสใหม่").click()
    await page.wait_for_selector(".notice:has-text('รหัสใหม่')")
    warning = await page.evaluate("window.__confirmed")
    assert "รหัสเดิมจะใช้ไม่ได้ทันที" in warning
    assert "คิวอาร์โค้ดที่พิมพ์ไว้และลิงก์เช็กอินยังใช้ได้" in warning  # as /events says
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
        count = len((await session.exec(select(CheckIn))).all())
    assert fresh is not None
    assert fresh.code != event.code
    assert count == 4

    # The export goes through Telegram's downloadFile, to a link that works for a minute.
    await page.get_by_role("button", name="ดาวน์โหลด CSV").click()
    download = None
    while download is None:
        download = await page.evaluate("window.__downloaded")
        await asyncio.sleep(0.05)
    assert download["file_name"].endswith(".csv")
    assert download["url"].startswith(f"{web.url}/download/")
    assert page.outside == []  # type: ignore[attr-defined]

    wide = await mini_app(browser, web, event, data, PROJECTOR)
    await wide.wait_for_selector(".figures")
    assert await overflowing(wide) == []
    await screenshot(wide, "dashboard-desktop")


async def test_the_mini_app_shows_nothing_to_a_volunteer_or_with_forged_data(
    bot: BotHarness, web: WebServer, browser: Browser, settings: Settings
) -> None:
    event = await an_event(bot)
    await someone(bot, telegram_id=7002, name="อาสา ธรรมดา")
    await someone(bot, telegram_id=7003, name="ผู้จัด งาน", roles=(Role.ORGANISER,))
    await arrived(bot, event, await someone(bot, telegram_id=None, name="ลับ เฉพาะ"))
    volunteer = init_data(7002, token=settings.telegram.token)
    forged = init_data(7003, token=settings.telegram.token).replace("7003", "7004")
    for data, text in ((volunteer, "ไม่มีสิทธิ์"), (forged, "ยืนยันตัวตนไม่ได้"), ("", "/dashboard")):
        page = await mini_app(browser, web, event, data, PHONE)
        await page.wait_for_selector(".notice.error")
        assert text in await page.inner_text("#dashboard")
        assert "ลับ เฉพาะ" not in await page.content()
        assert await page.query_selector(".figures") is None
