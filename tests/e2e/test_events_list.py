"""/events: the list, sign-ups with a waiting list, and organisers' manage buttons."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.config import Settings
from bot.services import events
from storage.models import Announcement, AuditEntry, Delivery, Event, Registration, Role
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
    # Signing up for an event has its own word: it is not registering with the bot.
    assert "ลงชื่อร่วมงานแล้ว 0/50 คน รอคิว 0 คน" in card.shown_text
    assert card.button_texts == ["ลงชื่อร่วมงาน"]
    stranger_card = await card_of(stranger, event)
    await stranger.press("ลงชื่อร่วมงาน", message=stranger_card)
    assert "ลงทะเบียนก่อน" in (await stranger.wait_for_answer())["text"]

    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    manage = await card_of(organiser, event)
    assert "เปลี่ยนรหัสใหม่" in manage.button_texts
    assert "ยกเลิกกิจกรรม" in manage.button_texts
    # A volunteer forging a manage button changes nothing.
    version = events.code_version(event)
    forged = [
        f"ev:{action}:{event.id}"
        for action in ("rot", "close", "open", "autoon", "outon", "code", "cancel", "cancelyes")
    ]
    forged += [f"ev:edit:{event.id}", f"ev:keep:{event.id}", f"ev:rotyes:{event.id}:{version}"]
    for data in forged:
        await volunteer.press_data(data, message=card)
        assert "ไม่มีสิทธิ์" in (await volunteer.wait_for_answer())["text"], data
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
    await first.press("ลงชื่อร่วมงาน", message=card)
    assert (await first.wait_for_answer())["text"] == "ลงชื่อร่วมงานแล้ว"
    await first.wait_for_edit(card)
    assert "ท่านลงชื่อร่วมงานแล้ว" in card.shown_text
    assert "ลงชื่อร่วมงานแล้ว 1/1 คน" in card.shown_text
    assert card.button_texts == ["ยกเลิกการลงชื่อ"]

    other = await card_of(second, event)
    await second.press("ลงชื่อร่วมงาน", message=other)
    assert "ลำดับที่ 1" in (await second.wait_for_answer())["text"]
    await second.wait_for_edit(other)
    assert "ท่านอยู่ในรายชื่อรอ ลำดับที่ 1" in other.shown_text

    await first.press("ยกเลิกการลงชื่อ", message=card)
    assert (await first.wait_for_answer())["text"] == "ยกเลิกการลงชื่อร่วมงานแล้ว"
    told = await second.wait_for(lambda m: "มีที่ว่างแล้ว" in m.shown_text)
    assert "อบรมรุ่นเล็ก" in told.shown_text
    assert "ลงชื่อร่วมงาน" in told.shown_text
    await bot.settle()
    async with bot.sessions() as session:
        rows = (await session.exec(select(Registration).order_by(Registration.id))).all()
        # The notice went through the outbox: a notice row, one delivery, sent.
        [notice] = (await session.exec(select(Announcement))).all()
        [delivery] = (await session.exec(select(Delivery))).all()
    assert [r.status for r in rows] == ["cancelled", "registered"]
    assert (notice.kind, notice.template, notice.event_id) == (
        "notice",
        "events.promoted",
        event.id,
    )
    assert (delivery.chat_id, delivery.status) == (second.user_id, "sent")


async def test_cancelling_an_event_tells_registrants_even_if_one_blocked_the_bot(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="สัมมนาที่ต้องยกเลิก")
    people = [await member(bot, telegram, f"ผู้ลงชื่อ {i}") for i in range(3)]
    for chat in people:
        card = await card_of(chat, event)
        await chat.press("ลงชื่อร่วมงาน", message=card)
        await chat.wait_for_answer()
    await people[0].block_bot()

    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    manage = await card_of(organiser, event)
    # Asking twice (a double tap) shows the question once, without an error.
    await organiser.press("ยกเลิกกิจกรรม", message=manage)
    await organiser.press("ยกเลิกกิจกรรม", message=manage)
    await organiser.wait_for_edit(manage)
    await bot.settle()
    assert manage.button_texts == ["ยืนยันยกเลิกกิจกรรม", "ไม่ยกเลิก"]
    assert "ผู้ลงชื่อร่วมงาน 3 คน และผู้อยู่ในรายชื่อรอ 0 คน จะได้รับแจ้ง" in manage.shown_text
    # Confirmed twice: one cancellation, one notice each, a polite answer the second time.
    await organiser.press("ยืนยันยกเลิกกิจกรรม", message=manage)
    await organiser.press("ยืนยันยกเลิกกิจกรรม", message=manage)
    summary = await organiser.wait_for(lambda m: "กำลังแจ้ง" in m.shown_text)
    # Queued for all three; the outbox finds out who blocked the bot.
    assert "ผู้อยู่ในรายชื่อรอ 3 คน" in summary.shown_text
    for chat in people[1:]:
        notice = await chat.wait_for(lambda m: m.shown_text.startswith("แจ้งยกเลิก"))
        assert "สัมมนาที่ต้องยกเลิก" in notice.shown_text
    await bot.settle()
    assert "ยกเลิกแล้ว" in manage.shown_text
    assert manage.button_texts == []
    assert organiser.callback_answers[-1]["text"] == "กิจกรรมนี้ยกเลิกแล้ว"
    # Telegram refused only what is expected: the blocked person's copy, and the second
    # tap's identical edit ("not modified"), which the bot takes as done; nobody got an apology.
    refused = {(c.method, c.status) for c in telegram.failed_calls if c.status is not None}
    assert refused <= {("sendMessage", 403), ("editMessageText", 400)}
    assert all(
        "not modified" in (c.description or "")
        for c in telegram.failed_calls
        if c.method == "editMessageText"
    )
    assert not any("ขออภัย" in m.shown_text for m in organiser.messages)
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
        deliveries = (await session.exec(select(Delivery).order_by(Delivery.chat_id))).all()
        cancels = [
            a for a in (await session.exec(select(AuditEntry))).all() if a.action == "event.cancel"
        ]
    assert fresh is not None
    assert fresh.status == "cancelled"
    assert len(cancels) == 1
    assert {d.chat_id: d.status for d in deliveries} == {
        people[0].user_id: "blocked",
        people[1].user_id: "sent",
        people[2].user_id: "sent",
    }
    assert sum(m.shown_text.startswith("แจ้งยกเลิก") for m in people[1].messages) == 1
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
    assert (await organiser.wait_for_answer())["text"] == "ตั้งให้เปลี่ยนรหัสทุก 5 นาทีแล้ว"
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


async def audit_actions(bot: BotHarness) -> list[str]:
    """Every audit entry's action, in order."""
    async with bot.sessions() as session:
        return [a.action for a in (await session.exec(select(AuditEntry))).all()]


async def test_a_new_code_is_confirmed_first_and_a_second_confirmation_changes_nothing(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now())
    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    early, late = [await member(bot, telegram, f"อาสา {i}") for i in range(2)]
    card = await card_of(organiser, event)
    shown = card.shown_text

    # Asking says what breaks (and what does not), and changes nothing yet.
    await organiser.press("เปลี่ยนรหัสใหม่", message=card)
    await organiser.wait_for_edit(card)
    assert "รหัสเดิมจะใช้ไม่ได้ทันที" in card.shown_text
    assert "คิวอาร์โค้ดและลิงก์เช็กอินเดิมยังใช้ได้" in card.shown_text
    assert card.button_texts == ["✅ เปลี่ยนรหัส", "ไม่เปลี่ยน"]
    await organiser.press("ไม่เปลี่ยน", message=card)
    await organiser.wait_for_edit(card)
    assert card.shown_text == shown
    assert "เปลี่ยนรหัสใหม่" in card.button_texts
    assert await audit_actions(bot) == []

    # Confirmed with two quick taps: one new code, sent once.
    await organiser.press("เปลี่ยนรหัสใหม่", message=card)
    await organiser.wait_for_edit(card)
    await organiser.press("✅ เปลี่ยนรหัส", message=card)
    await organiser.press("✅ เปลี่ยนรหัส", message=card)
    sent = await organiser.wait_for(lambda m: "รหัสเช็กอิน:" in m.shown_text)
    await bot.settle()
    assert await audit_actions(bot) == ["event.rotate_code"]
    answers = [a["text"] for a in organiser.callback_answers]
    assert answers[-2:] == [
        "เปลี่ยนรหัสแล้ว รหัสเดิมใช้ไม่ได้อีก",
        "รหัสนี้เปลี่ยนไปแล้ว ดูรหัสปัจจุบันได้ที่ปุ่ม «รหัสและคิวอาร์»",
    ]
    assert sum("รหัสเช็กอิน:" in m.shown_text for m in organiser.messages) == 1
    assert "เปลี่ยนรหัสใหม่" in card.button_texts
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
    assert fresh is not None
    assert fresh.code != event.code
    assert shown_code(sent) == fresh.code

    # As the warning said: the old code is refused, the printed QR code still works.
    await early.send(f"/checkin {event.code}")
    assert "รหัสไม่ถูกต้อง" in ((await early.next_reply()).text or "")
    await early.send(f"/start ci-{event.token}")
    assert "✅" in ((await early.next_reply()).text or "")
    await late.send(f"/checkin {fresh.code}")
    assert "✅" in ((await late.next_reply()).text or "")


async def test_switches_pressed_twice_change_nothing_more(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now())
    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    card = await card_of(organiser, event)
    for button in ("เปลี่ยนรหัสทุก 5 นาที", "เปิดให้เช็กเอาต์", "ปิดเช็กอินตอนนี้"):
        await organiser.press(button, message=card)
        await organiser.press(button, message=card)
    await bot.settle()
    assert sorted(await audit_actions(bot)) == [
        "event.auto_rotate",
        "event.checkin_closed",
        "event.checkout_on",
    ]
    assert [a["text"] for a in organiser.callback_answers] == [
        "ตั้งให้เปลี่ยนรหัสทุก 5 นาทีแล้ว",
        "ตั้งให้เปลี่ยนรหัสทุก 5 นาทีแล้ว",
        "เปิดให้เช็กเอาต์แล้ว",
        "เปิดให้เช็กเอาต์แล้ว",
        "ปิดเช็กอินแล้ว",
        "ปิดเช็กอินแล้ว",
    ]
    for button in ("หยุดเปลี่ยนรหัสอัตโนมัติ", "ปิดการเช็กเอาต์", "เปิดเช็กอินตอนนี้"):
        assert button in card.button_texts
    assert "เปิดเช็กอินอยู่" not in card.shown_text
    assert not any("ขออภัย" in m.shown_text for m in organiser.messages)
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
    assert fresh is not None
    assert (fresh.code_rotate_seconds, fresh.checkout_enabled, fresh.checkin_override) == (
        300,
        True,
        "closed",
    )


FORGED_IDS = (
    "ev:reg:99999999999999999999",
    "ev:unreg:2147483648",
    "ev:open:-1",
    "ev:code:1e3",
    "ev:reg:１２",
    "ev:reg:",
    "ev:open:1:2",
    "ev:rotyes:1",
    "ev:rotyes:1:99999999999",
    "ev:rotyes:99999999999:1",
    "ev:auto:1",
    "ev:nothing:1",
    "ev:",
)


async def test_forged_and_oversized_ids_are_stale_buttons(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now())
        cancelled = await make_event(session, now=bot.clock.now(), status="cancelled")
    organiser = await member(bot, telegram, "ผู้จัด", Role.ADMIN)
    card = await card_of(organiser, event)
    for data in FORGED_IDS:
        await organiser.press_data(data, message=card)
    # An id that can be one but names nothing, and an event cancelled since the card was sent.
    await organiser.press_data("ev:reg:999999", message=card)
    await organiser.press_data(f"ev:reg:{cancelled.id}", message=card)
    await organiser.press_data(f"ev:open:{cancelled.id}", message=card)
    await bot.settle()
    answers = [a["text"] for a in organiser.callback_answers]
    stale = "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    assert answers == [stale] * len(FORGED_IDS) + [
        "ไม่พบรายการที่ต้องการ",
        "กิจกรรมนี้ยกเลิกแล้ว",
        "กิจกรรมนี้ยกเลิกแล้ว",
    ]
    assert [c for c in telegram.failed_calls if c.status is not None] == []
    assert await audit_actions(bot) == []
    async with bot.sessions() as session:
        assert (await session.exec(select(Registration))).all() == []


async def test_raising_capacity_in_an_edit_tells_who_moves_up_in_their_language(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), capacity=1, title="Small class")
    first = await member(bot, telegram, "คนแรก")
    second = telegram.person()
    async with bot.sessions() as session:
        await make_person(session, telegram_id=second.user_id, language="en")
    for chat, label in ((first, "ลงชื่อร่วมงาน"), (second, "Sign up")):
        card = await card_of(chat, event)
        await chat.press(label, message=card)
        await chat.wait_for_answer()

    organiser = await member(bot, telegram, "ผู้จัด", Role.ORGANISER)
    manage = await card_of(organiser, event)
    # Half-way through a new event, "edit" on a card leaves that draft (saying so).
    await organiser.send("/newevent")
    await organiser.wait_for(lambda m: m.shown_text == "ชื่อกิจกรรมคืออะไร")
    await organiser.press("✏️ แก้ไข", message=manage)
    await organiser.wait_for(lambda m: "ยกเลิกการสร้างกิจกรรมที่ทำค้างไว้แล้ว" in m.shown_text)
    summary = await organiser.wait_for(lambda m: "ตรวจสอบรายละเอียด" in m.shown_text)
    await organiser.press("✏️ แก้ไข", message=summary)
    await organiser.wait_for_edit(summary)
    await organiser.press("จำนวนที่รับ", message=summary)
    await organiser.wait_for(lambda m: "กี่คน" in m.shown_text)
    await organiser.send("2")
    updated = await organiser.wait_for(lambda m: "ตรวจสอบรายละเอียด" in m.shown_text)
    assert "จำนวนที่รับ: 2 คน" in updated.shown_text
    await organiser.press("✅ ยืนยัน", message=updated)
    await organiser.wait_for(lambda m: m.shown_text == "บันทึกการแก้ไข «Small class» แล้ว")
    told = await second.wait_for(lambda m: "A place opened up" in m.shown_text)
    assert "you are now signed up for «Small class»" in told.shown_text
    async with bot.sessions() as session:
        rows = (await session.exec(select(Registration).order_by(Registration.id))).all()
    assert [r.status for r in rows] == ["registered", "registered"]
    # The draft's text is not taken for the abandoned /newevent.
    await organiser.send("สัมมนา")
    assert "ไม่เข้าใจ" in ((await organiser.next_reply()).text or "")
