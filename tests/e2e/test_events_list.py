"""/events: the list, RSVPs with a waiting list, and organisers' manage buttons."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.config import Settings
from storage.models import AuditEntry, Event, Registration, Role
from tests import harness
from tests.factories import grant, make_event, make_person
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.models import SentMessage
from tests.fake_telegram.people import Person as Chat
from tests.harness import BotHarness


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A patient flood guard: these tests type faster than any person."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


async def member(bot: BotHarness, telegram: FakeTelegram, name: str, *roles: Role) -> Chat:
    """A registered person with roles, and their chat."""
    chat = telegram.person()
    async with bot.sessions() as session:
        person = await make_person(session, telegram_id=chat.user_id, full_name=name)
        for role in roles:
            await grant(session, person, role)
    return chat


async def card_of(chat: Chat, event: Event) -> SentMessage:
    """Ask for /events and return the card of one event."""
    await chat.send("/events")
    return await chat.wait_for(lambda m: m.shown_text.startswith(event.title))


async def test_everyone_sees_the_list_and_only_organisers_manage(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    volunteer = await member(bot, telegram, "อาสา ธรรมดา")
    stranger = telegram.person()
    await volunteer.send("/events")
    assert (await volunteer.next_reply()).text == "ยังไม่มีกิจกรรมที่กำลังจะจัด"
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), capacity=50)
    card = await card_of(volunteer, event)
    assert "ลงทะเบียนแล้ว 0/50 คน" in card.shown_text
    assert card.button_texts == ["ลงทะเบียนเข้าร่วม"]
    stranger_card = await card_of(stranger, event)
    await stranger.press("ลงทะเบียนเข้าร่วม", message=stranger_card)
    assert "ลงทะเบียนก่อน" in (await stranger.wait_for_answer())["text"]

    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    manage = await card_of(organiser, event)
    assert "เปลี่ยนรหัสใหม่" in manage.button_texts
    assert "ยกเลิกกิจกรรม" in manage.button_texts
    # A volunteer forging a manage button changes nothing.
    for action in ("rot", "close", "auto", "out", "code", "cancelyes", "edit"):
        await volunteer.press_data(f"ev:{action}:{event.id}", message=card)
        assert "ไม่มีสิทธิ์" in (await volunteer.wait_for_answer())["text"], action
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
        assert fresh is not None
        assert (fresh.code, fresh.status, fresh.checkin_override) == (event.code, "active", None)
        assert (await session.exec(select(AuditEntry))).all() == []


async def test_waiting_list_moves_up_and_the_person_is_told(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), capacity=1, title="อบรมรุ่นเล็ก")
    first = await member(bot, telegram, "คนแรก")
    second = await member(bot, telegram, "คนที่สอง")

    card = await card_of(first, event)
    await first.press("ลงทะเบียนเข้าร่วม", message=card)
    assert (await first.wait_for_answer())["text"] == "ลงทะเบียนแล้ว"
    await first.wait_for_edit(card)
    assert "ท่านลงทะเบียนแล้ว" in card.shown_text
    assert card.button_texts == ["ยกเลิกการลงทะเบียน"]

    other = await card_of(second, event)
    await second.press("ลงทะเบียนเข้าร่วม", message=other)
    assert "ลำดับที่ 1" in (await second.wait_for_answer())["text"]

    await first.press("ยกเลิกการลงทะเบียน", message=card)
    assert (await first.wait_for_answer())["text"] == "ยกเลิกการลงทะเบียนแล้ว"
    told = await second.wait_for(lambda m: "มีที่ว่างแล้ว" in m.shown_text)
    assert "อบรมรุ่นเล็ก" in told.shown_text
    async with bot.sessions() as session:
        rows = (await session.exec(select(Registration).order_by(Registration.id))).all()
    assert [r.status for r in rows] == ["cancelled", "registered"]


async def test_cancelling_an_event_tells_registrants_even_if_one_blocked_the_bot(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="สัมมนาที่ต้องยกเลิก")
    people = [await member(bot, telegram, f"ผู้ลงทะเบียน {i}") for i in range(3)]
    for chat in people:
        card = await card_of(chat, event)
        await chat.press("ลงทะเบียนเข้าร่วม", message=card)
        await chat.wait_for_answer()
    await people[0].block_bot()

    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    manage = await card_of(organiser, event)
    await organiser.press("ยกเลิกกิจกรรม", message=manage)
    await organiser.wait_for_edit(manage)
    assert manage.button_texts == ["ยืนยันยกเลิกกิจกรรม", "ไม่ยกเลิก"]
    await organiser.press("ยืนยันยกเลิกกิจกรรม", message=manage)
    summary = await organiser.wait_for(lambda m: "แจ้งผู้ลงทะเบียน" in m.shown_text)
    assert "แจ้งผู้ลงทะเบียน 2 คน" in summary.shown_text
    for chat in people[1:]:
        notice = await chat.wait_for(lambda m: m.shown_text.startswith("แจ้งยกเลิก"))
        assert "สัมมนาที่ต้องยกเลิก" in notice.shown_text
    assert "ยกเลิกแล้ว" in manage.shown_text
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
    assert fresh is not None
    assert fresh.status == "cancelled"
    # The cancelled event's code is refused with a reason.
    await people[1].send(f"/checkin {event.code}")
    assert "ถูกยกเลิก" in ((await people[1].next_reply()).text or "")


async def test_organiser_edits_an_event_from_the_list(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="ชื่อเดิม")
    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    card = await card_of(organiser, event)
    await organiser.press("✏️ แก้ไข", message=card)
    summary = await organiser.wait_for(lambda m: "ตรวจสอบรายละเอียด" in m.shown_text)
    await organiser.press("✏️ แก้ไข", message=summary)
    await organiser.wait_for_edit(summary)
    await organiser.press("ชื่อกิจกรรม", message=summary)
    await organiser.wait_for(lambda m: m.shown_text == "ชื่อกิจกรรมคืออะไร")
    await organiser.send("ชื่อใหม่")
    updated = await organiser.wait_for(lambda m: "ตรวจสอบรายละเอียด" in m.shown_text)
    assert "ชื่อ: ชื่อใหม่" in updated.shown_text
    await organiser.press("✅ ยืนยัน", message=updated)
    await organiser.wait_for(lambda m: "บันทึกการแก้ไข" in m.shown_text)
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
    assert fresh is not None
    assert (fresh.title, fresh.code, fresh.token) == ("ชื่อใหม่", event.code, event.token)


def shown_code(message: SentMessage) -> str:
    """The six-character check-in code shown after "รหัสเช็กอิน:" in a message."""
    found = re.search(r"รหัสเช็กอิน: ([A-Z0-9]{6})", message.shown_text)
    assert found is not None, message.shown_text
    return found.group(1)


async def test_auto_rotating_code_for_a_projector(bot: BotHarness, telegram: FakeTelegram) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now())
    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    volunteers = [await member(bot, telegram, f"อาสา {i}") for i in range(3)]
    card = await card_of(organiser, event)
    await organiser.press("เปลี่ยนรหัสทุก 5 นาที", message=card)
    assert (await organiser.wait_for_answer())["text"] == "ตั้งค่าการเปลี่ยนรหัสแล้ว"
    await organiser.wait_for_edit(card)
    assert "หยุดเปลี่ยนรหัสอัตโนมัติ" in card.button_texts
    await organiser.press("รหัสและคิวอาร์", message=card)
    projected = await organiser.wait_for(lambda m: "รหัสเช็กอิน:" in m.shown_text)
    assert "ใช้ได้ถึง" in projected.shown_text
    code = shown_code(projected)
    assert code != event.code

    # The stored seed is never a working code; the projected one is, until its window ends.
    await volunteers[0].send(f"/checkin {event.code}")
    assert "รหัสไม่ถูกต้อง" in ((await volunteers[0].next_reply()).text or "")
    await volunteers[1].send(f"/checkin {code}")
    assert "✅" in ((await volunteers[1].next_reply()).text or "")
    bot.clock.advance(timedelta(minutes=5))
    await volunteers[2].send(f"/checkin {code}")
    assert "รหัสไม่ถูกต้อง" in ((await volunteers[2].next_reply()).text or "")
    await organiser.press("รหัสและคิวอาร์", message=card)
    fresh = await organiser.wait_for(lambda m: "รหัสเช็กอิน:" in m.shown_text)
    await volunteers[2].send(f"/checkin {shown_code(fresh)}")
    assert "✅" in ((await volunteers[2].next_reply()).text or "")
