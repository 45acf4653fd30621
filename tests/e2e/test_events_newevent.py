"""Organisers create events through /newevent and get the code, the link and the QR code."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.config import Settings
from storage.models import Event, Registration, Role
from tests import harness
from tests.factories import VENUE_LAT, VENUE_LON, grant, make_event, make_person
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.people import Person as Chat
from tests.harness import BotHarness

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Before every date typed below, so none of them is "in the past".
JUNE_2020 = datetime(2020, 6, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A patient flood guard: these tests type faster than any person."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


async def organiser(bot: BotHarness, telegram: FakeTelegram, role: Role = Role.ORGANISER) -> Chat:
    """A registered person with the organiser role, chatting with the bot."""
    chat = telegram.person(first_name="Pranee")
    async with bot.sessions() as session:
        person = await make_person(session, telegram_id=chat.user_id, full_name="ปราณี ผู้จัด")
        await grant(session, person, role)
    return chat


async def titled(bot: BotHarness, telegram: FakeTelegram, title: str = "อบรมอาสาสมัคร") -> Chat:
    """An organiser half-way through /newevent: the title typed, the venue asked for."""
    bot.clock.set(JUNE_2020)
    chat = await organiser(bot, telegram)
    await chat.send("/newevent")
    await chat.replies(2)
    assert "สถานที่" in await say(chat, title)
    return chat


async def saved_events(bot: BotHarness) -> list[Event]:
    """Every event in the database."""
    async with bot.sessions() as session:
        return list((await session.exec(select(Event))).all())


async def say(chat: Chat, text: str) -> str:
    """Send text and return the bot's next reply."""
    await chat.send(text)
    return (await chat.next_reply()).text or ""


async def test_organiser_creates_an_event_with_thai_dates_and_gets_code_link_and_qr(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    bot.clock.set(JUNE_2020)
    chat = await organiser(bot, telegram)
    await chat.send("/newevent")
    intro, ask_title = await chat.replies(2)
    assert "/cancel" in (intro.text or "")
    assert ask_title.text == "ชื่อกิจกรรมคืออะไร"

    assert "สถานที่" in await say(chat, "สัมมนาอาสาสมัครแรงงาน โซน 3")
    assert "22/7/2563" in await say(chat, "กระทรวงแรงงาน ดินแดง")
    assert "16.00" in await say(chat, "22/7/2563 12.00")
    ask_location = await say(chat, "16.00")
    assert "ตำแหน่ง" in ask_location
    keyboard = chat.reply_keyboard
    assert keyboard is not None
    assert keyboard[0][0].request_location

    await chat.share_location(VENUE_LAT, VENUE_LON)
    received, ask_radius = await chat.replies(2)
    assert received.text == "ได้รับตำแหน่งแล้ว"
    assert "รัศมี" in (ask_radius.text or "")
    await chat.press("200 เมตร (ค่าเริ่มต้น)")
    ask_capacity = await chat.next_reply()
    assert "กี่คน" in (ask_capacity.text or "")
    await chat.send("350")
    summary_message = await chat.next_reply()
    summary_text = summary_message.text or ""
    assert "สัมมนาอาสาสมัครแรงงาน โซน 3" in summary_text
    assert "วันพุธที่ 22 กรกฎาคม 2563 เวลา 12.00–16.00 น." in summary_text
    assert "รัศมี 200 เมตร" in summary_text
    assert "350 คน" in summary_text
    assert summary_message.button_texts == ["✅ ยืนยัน", "✏️ แก้ไข", "ยกเลิก ไม่บันทึก"]

    assert await saved_events(bot) == []  # nothing before confirming

    await chat.press("✅ ยืนยัน", message=summary_message)
    codes_message = await chat.wait_for(lambda m: "รหัสเช็กอิน" in m.shown_text)
    photo = await chat.wait_for(lambda m: m.kind == "photo")
    assert photo.file_bytes is not None
    assert photo.file_bytes.startswith(PNG_SIGNATURE)

    async with bot.sessions() as session:
        [event] = (await session.exec(select(Event))).all()
    assert event.starts_at == datetime(2020, 7, 22, 5, 0, tzinfo=UTC)
    assert event.ends_at == datetime(2020, 7, 22, 9, 0, tzinfo=UTC)
    assert (event.latitude, event.longitude, event.radius_m, event.capacity) == (
        VENUE_LAT,
        VENUE_LON,
        200,
        350,
    )
    text = codes_message.text or ""
    assert f"รหัสเช็กอิน: {event.code}" in text
    link = f"https://t.me/{telegram.bot_username}?start=ci-{event.token}"
    assert link in text
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{6}", event.code)
    assert len(f"ci-{event.token}") <= 64


async def test_gregorian_and_short_thai_dates_edit_and_bad_input(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    bot.clock.set(JUNE_2020)
    chat = await organiser(bot, telegram, Role.ADMIN)
    await chat.send("/newevent")
    await chat.replies(2)
    # Input a step cannot use: a hint with the way out, then the question again.
    await chat.send_sticker()
    hint, again = await chat.replies(2)
    assert "/cancel" in (hint.text or "")
    assert again.text == "ชื่อกิจกรรมคืออะไร"
    assert "200 ตัวอักษร" in await say(chat, "ก" * 5000)
    assert "สถานที่" in await say(chat, "Training day'); DROP TABLE event; --")
    # /help answers, then the question comes again; the draft stays.
    await chat.send("/help")
    help_text, asked = await chat.replies(2)
    assert "/newevent" in (help_text.text or "")
    assert "สถานที่" in (asked.text or "")
    assert "22/7/2563" in await say(chat, "Ministry of Labour 🏢")
    assert "อ่านวันที่และเวลาไม่ออก" in await say(chat, "next Tuesday")
    assert "ไม่มีวันที่นี้" in await say(chat, "31/2/2563 10.00")
    assert "ผ่านไปแล้ว" in await say(chat, "1/1/2563 10.00")
    assert "เลิกกี่โมง" in await say(chat, "2020-07-22 12:00")
    assert "เวลาเลิกต้องหลังเวลาเริ่ม" in await say(chat, "11.00")
    assert "ตำแหน่ง" in await say(chat, "22/07/2020 15:30")
    assert "กดปุ่ม" in await say(chat, "somewhere near the MRT")
    # A forwarded pin is someone else's: not the venue.
    await chat.share_location(VENUE_LAT, VENUE_LON, forwarded=True)
    hint, again = await chat.replies(2)
    assert "/cancel" in (hint.text or "")
    assert "ตำแหน่ง" in (again.text or "")
    skipped = await say(chat, "ไม่ระบุตำแหน่ง")
    assert "เช็กอินด้วยตำแหน่งไม่ได้" in skipped
    assert "กี่คน" in ((await chat.next_reply()).text or "")
    assert "ตัวเลข" in await say(chat, "many")
    await chat.press("ไม่จำกัดจำนวน")
    summary = await chat.next_reply()
    assert "เวลา 12.00–15.30 น." in (summary.text or "")
    assert "ตำแหน่ง: ไม่ระบุ" in (summary.text or "")
    # Typing at the summary: the hint, then the summary again with live buttons.
    await chat.send("ok")
    hint, summary = await chat.replies(2)
    assert "/cancel" in (hint.text or "")
    assert summary.button_texts == ["✅ ยืนยัน", "✏️ แก้ไข", "ยกเลิก ไม่บันทึก"]

    # Edit the start with the short Thai form; the end is asked again.
    await chat.press("✏️ แก้ไข", message=summary)
    await chat.wait_for_edit(summary)
    await chat.press("วันและเวลาเริ่ม", message=summary)
    assert "เริ่ม" in ((await chat.next_reply()).text or "")
    assert "เลิกกี่โมง" in await say(chat, "23 ก.ค. 63 9.00")
    await chat.send("12.00")
    edited = await chat.next_reply()
    assert "วันพฤหัสบดีที่ 23 กรกฎาคม 2563 เวลา 09.00–12.00 น." in (edited.text or "")
    await chat.press("✅ ยืนยัน", message=edited)
    await chat.wait_for(lambda m: m.kind == "photo")
    async with bot.sessions() as session:
        [event] = (await session.exec(select(Event))).all()
    assert event.title == "Training day'); DROP TABLE event; --"
    assert event.starts_at == datetime(2020, 7, 23, 2, 0, tzinfo=UTC)
    assert event.latitude is None
    assert event.capacity is None


async def test_another_command_leaves_the_draft_and_does_what_it_says(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    chat = await titled(bot, telegram)
    await chat.send("/events")
    left, listed = await chat.replies(2)
    assert "ยกเลิกการสร้างกิจกรรมที่ทำค้างไว้แล้ว" in (left.text or "")
    assert listed.text == "ยังไม่มีกิจกรรมที่กำลังจะจัด"
    # The draft is gone: text is not taken as a venue any more.
    assert "ไม่เข้าใจ" in await say(chat, "ศาลาว่าการ")
    assert await saved_events(bot) == []


async def test_volunteers_cannot_create_events(bot: BotHarness, telegram: FakeTelegram) -> None:
    chat = telegram.person()
    async with bot.sessions() as session:
        await make_person(session, telegram_id=chat.user_id)
    assert "ไม่มีสิทธิ์" in await say(chat, "/newevent")
    assert "ไม่เข้าใจ" in await say(chat, "สัมมนา")  # no conversation was started


async def test_cancel_discards_the_draft_and_a_restart_resumes_it(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    chat = await titled(bot, telegram)
    await bot.restart()
    assert "22/7/2563" in await say(chat, "ศาลาว่าการ")  # the venue step survived the restart
    assert await say(chat, "/cancel") == "ยกเลิกการสร้างกิจกรรมแล้ว ไม่มีข้อมูลใดถูกบันทึก"
    assert await saved_events(bot) == []


async def test_the_draft_survives_a_restart_and_a_double_confirm_saves_once(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    chat = await titled(bot, telegram)
    await say(chat, "ศาลาว่าการ")
    await say(chat, "22 ก.ค. 63 13.30")
    await bot.restart()  # the start (a datetime) is in the row as ISO text
    await say(chat, "17.00")
    await say(chat, "ไม่ระบุตำแหน่ง")
    await chat.next_reply()  # how many people
    await bot.restart()
    await chat.send("80")
    summary = await chat.next_reply()
    assert "วันพุธที่ 22 กรกฎาคม 2563 เวลา 13.30–17.00 น." in summary.shown_text
    await bot.restart()
    # Two quick taps on "confirm": one event, one set of codes, the second tap is stale.
    await chat.press("✅ ยืนยัน", message=summary)
    await chat.press("✅ ยืนยัน", message=summary)
    await chat.wait_for(lambda m: m.kind == "photo")
    await bot.settle()
    async with bot.sessions() as session:
        [event] = (await session.exec(select(Event))).all()
    assert event.starts_at == datetime(2020, 7, 22, 6, 30, tzinfo=UTC)
    assert event.ends_at == datetime(2020, 7, 22, 10, 0, tzinfo=UTC)
    assert event.capacity == 80
    assert len([m for m in chat.messages if m.kind == "photo"]) == 1
    answers = chat.callback_answers
    assert len(answers) == 2
    assert answers[1]["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    assert summary.button_texts == []  # the summary's buttons are gone
    # Nothing Telegram refused (polls cut short by the restarts have no status).
    assert [c.method for c in telegram.failed_calls if c.status is not None] == []


async def test_buttons_of_other_features_work_while_the_draft_waits(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    bot.clock.set(JUNE_2020)
    chat = await organiser(bot, telegram)
    async with bot.sessions() as session:
        existing = await make_event(session, now=bot.clock.now(), title="สัมมนาที่มีอยู่")
    await chat.send("/events")
    card = await chat.wait_for(lambda m: m.shown_text.startswith(existing.title))
    await chat.send("/newevent")
    await chat.wait_for(lambda m: m.text == "ชื่อกิจกรรมคืออะไร")
    await chat.press("ลงชื่อร่วมงาน", message=card)
    assert (await chat.wait_for_answer())["text"] == "ลงชื่อร่วมงานแล้ว"
    await chat.wait_for_edit(card)
    assert "ท่านลงชื่อร่วมงานแล้ว" in card.shown_text
    await chat.press("ปิดเช็กอินตอนนี้", message=card)
    assert (await chat.wait_for_answer())["text"] == "ปิดเช็กอินแล้ว"
    # The draft is where it was: the next text is the title.
    assert "สถานที่" in await say(chat, "งานใหม่")
    async with bot.sessions() as session:
        fresh = await session.get(Event, existing.id)
        assert fresh is not None
        assert fresh.checkin_override == "closed"
        assert [r.status for r in (await session.exec(select(Registration))).all()] == [
            "registered"
        ]
