"""People check in by code, deep link, location, staff and walk-in; each exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.config import Settings
from bot.i18n.dates import format_time
from storage.models import CheckIn, Event, Person, Role
from tests import harness
from tests.factories import VENUE_LAT, VENUE_LON, grant, make_event, make_person
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.people import Person as Chat
from tests.harness import BotHarness

TZ = "Asia/Bangkok"


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A patient flood guard: these tests type faster than any person."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


async def member(
    bot: BotHarness, telegram: FakeTelegram, name: str = "สมชาย ใจดี", *roles: Role, **extra: object
) -> tuple[Chat, Person]:
    """A registered person (with roles) and their chat."""
    chat = telegram.person()
    async with bot.sessions() as session:
        person = await make_person(session, telegram_id=chat.user_id, full_name=name, **extra)  # type: ignore[arg-type]
        for role in roles:
            await grant(session, person, role)
    return chat, person


async def open_event(bot: BotHarness, **extra: object) -> Event:
    """An event starting in half an hour: check-in is open."""
    async with bot.sessions() as session:
        return await make_event(session, now=bot.clock.now(), **extra)  # type: ignore[arg-type]


async def say(chat: Chat, text: str) -> str:
    """Send text and return the bot's next reply."""
    await chat.send(text)
    return (await chat.next_reply()).text or ""


async def checkins_of(bot: BotHarness) -> list[CheckIn]:
    """Every check-in row."""
    async with bot.sessions() as session:
        return list((await session.exec(select(CheckIn))).all())


def bangkok_time(bot: BotHarness, row: CheckIn) -> str:
    """A check-in time as the bot writes it in Thai."""
    return format_time(row.checked_in_at, lang="th", tz=bot.settings.tz)


async def test_code_then_a_second_check_in_says_when(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    chat, person = await member(bot, telegram)
    done = await say(chat, f"/checkin {event.code.lower()}")
    [row] = await checkins_of(bot)
    assert done == f"✅ เช็กอิน «{event.title}» แล้ว เวลา {bangkok_time(bot, row)}"
    assert (row.person_id, row.method, row.late) == (person.id, "code", False)

    # /checkin alone asks for the code; the second check-in changes nothing.
    assert "รหัสเช็กอิน 6 ตัว" in await say(chat, "/checkin")
    await chat.send_sticker()
    assert "รหัสเช็กอิน 6 ตัว" in ((await chat.next_reply()).text or "")
    bot.clock.advance(timedelta(minutes=5))
    again = await say(chat, event.code)
    assert again.startswith(f"เช็กอินแล้วเมื่อ {bangkok_time(bot, row)}")
    assert await checkins_of(bot) == [row]


async def test_wrong_codes_are_answered_then_slowed_down(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    chat, _ = await member(bot, telegram)
    assert "รหัสไม่ถูกต้อง" in await say(chat, "/checkin ZZZZZZ")
    await say(chat, "/checkin")
    for wrong in ("hello", "'; DROP TABLE check_in; --", "ก" * 5000, "AB CD 22"):
        assert "รหัสไม่ถูกต้อง" in await say(chat, wrong)
    slow = await say(chat, event.code)
    assert "กรุณารอ" in slow
    assert await checkins_of(bot) == []
    bot.clock.advance(timedelta(seconds=61))
    assert "✅" in await say(chat, f"/checkin {event.code}")


async def test_deep_link_checks_in_and_refuses_bad_or_cancelled_tokens(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    cancelled = await open_event(bot, status="cancelled", title="งานที่ยกเลิก")
    chat, _ = await member(bot, telegram)
    done = await say(chat, f"/start ci-{event.token}")
    assert done.startswith(f"✅ เช็กอิน «{event.title}» แล้ว")
    [row] = await checkins_of(bot)
    assert row.method == "qr"
    assert (await say(chat, f"/start ci-{event.token}")).startswith("เช็กอินแล้วเมื่อ")
    assert "ใช้ไม่ได้" in await say(chat, "/start ci-not-a-real-token-at-all-000")
    assert "ถูกยกเลิก" in await say(chat, f"/start ci-{cancelled.token}")
    assert len(await checkins_of(bot)) == 1


async def test_window_rules_follow_the_clock_and_the_organiser(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot, starts_in=timedelta(hours=3), lasts=timedelta(hours=2))
    early, _ = await member(bot, telegram, "คนมาก่อน")
    organiser, _ = await member(bot, telegram, "ผู้จัดงาน", Role.ORGANISER)
    refused = await say(early, f"/checkin {event.code}")
    assert "ยังไม่เปิดเช็กอิน" in refused
    opens = format_time(event.starts_at - timedelta(hours=1), lang="th", tz=bot.settings.tz)
    assert opens in refused

    # The organiser opens check-in by hand from /events.
    await organiser.send("/events")
    card = await organiser.wait_for(lambda m: event.title in m.shown_text)
    await organiser.press("เปิดเช็กอินตอนนี้", message=card)
    assert (await organiser.wait_for_answer())["text"] == "เปิดเช็กอินแล้ว"
    assert "✅" in await say(early, f"/checkin {event.code}")

    # Closed by hand: nobody gets in, with a reason.
    late, _ = await member(bot, telegram, "คนมาทีหลัง")
    await organiser.wait_for_edit(card)
    await organiser.press("ปิดเช็กอินตอนนี้", message=card)
    await organiser.wait_for_answer()
    assert "ปิดการเช็กอิน" in await say(late, f"/checkin {event.code}")

    # After the end, the event is over, whatever the organiser did.
    bot.clock.advance(timedelta(hours=5, minutes=1))
    assert "จบแล้ว" in await say(late, f"/checkin {event.code}")
    rows = await checkins_of(bot)
    assert len(rows) == 1
    assert rows[0].late is False


async def test_late_arrival_is_marked_late(bot: BotHarness, telegram: FakeTelegram) -> None:
    event = await open_event(bot)
    chat, _ = await member(bot, telegram)
    bot.clock.advance(timedelta(minutes=45))
    assert "หลังเวลาเริ่ม" in await say(chat, f"/checkin {event.code}")
    [row] = await checkins_of(bot)
    assert row.late is True


async def test_rotating_the_code_stops_the_old_one_at_once(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    organiser, _ = await member(bot, telegram, "ผู้จัดงาน", Role.ORGANISER)
    chat, _ = await member(bot, telegram)
    await organiser.send("/events")
    card = await organiser.wait_for(lambda m: event.title in m.shown_text)
    await organiser.press("เปลี่ยนรหัสใหม่", message=card)
    await organiser.wait_for_edit(card)  # a new code breaks printed copies: asked first
    await organiser.press("✅ เปลี่ยนรหัส", message=card)
    sent = await organiser.wait_for(lambda m: "รหัสเช็กอิน:" in m.shown_text)
    async with bot.sessions() as session:
        fresh = await session.get(Event, event.id)
    assert fresh is not None
    assert fresh.code != event.code
    assert f"รหัสเช็กอิน: {fresh.code}" in sent.shown_text
    assert "รหัสไม่ถูกต้อง" in await say(chat, f"/checkin {event.code}")
    assert "✅" in await say(chat, f"/checkin {fresh.code}")


async def test_location_near_checks_in_far_says_how_far(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot, latitude=VENUE_LAT, longitude=VENUE_LON, radius_m=200)
    chat, _ = await member(bot, telegram)
    await chat.share_location(VENUE_LAT + 0.01, VENUE_LON)
    far = (await chat.next_reply()).text or ""
    assert "1.1 กม." in far
    assert "200 เมตร" in far
    await chat.share_location(VENUE_LAT, VENUE_LON, forwarded=True)
    assert "ส่งต่อ" in ((await chat.next_reply()).text or "")
    assert await checkins_of(bot) == []

    # A live location that walks into the venue checks the person in on the way.
    await chat.share_location(VENUE_LAT + 0.005, VENUE_LON, live_period=900)
    assert "เมตร" in ((await chat.next_reply()).text or "")  # about 560 m
    await chat.move_to(VENUE_LAT + 0.004, VENUE_LON)  # still far: the bot stays quiet
    await chat.move_to(VENUE_LAT + 0.0005, VENUE_LON)
    done = await chat.next_reply()
    assert (done.text or "").startswith(f"✅ เช็กอิน «{event.title}» แล้ว")
    [row] = await checkins_of(bot)
    assert row.method == "location"
    await chat.share_location(VENUE_LAT, VENUE_LON)
    assert "เช็กอินแล้วเมื่อ" in ((await chat.next_reply()).text or "")


async def test_location_without_pin_or_open_event(bot: BotHarness, telegram: FakeTelegram) -> None:
    chat, _ = await member(bot, telegram)
    await chat.share_location(VENUE_LAT, VENUE_LON)
    assert "ยังไม่มีกิจกรรมที่เปิดเช็กอิน" in ((await chat.next_reply()).text or "")
    await open_event(bot)
    await chat.share_location(VENUE_LAT, VENUE_LON)
    assert "ไม่ได้ระบุตำแหน่ง" in ((await chat.next_reply()).text or "")


async def test_staff_check_in_someone_else(bot: BotHarness, telegram: FakeTelegram) -> None:
    event = await open_event(bot)
    staff, staff_person = await member(bot, telegram, "เจ้าหน้าที่ หน้างาน", Role.STAFF)
    volunteer, _ = await member(bot, telegram, "อาสา ธรรมดา")
    async with bot.sessions() as session:
        target = await make_person(session, full_name="สมศรี มีสุข", phone="+66812345678")
        for i in range(12):
            await make_person(session, full_name=f"สมศักดิ์ คนที่ {i:02d}")

    assert "ไม่มีสิทธิ์" in await say(volunteer, "/checkin_for สมศรี")
    assert "อย่างน้อย 3" in await say(staff, "/checkin_for สม")
    assert "อย่างน้อย 3" in await say(staff, "/checkin_for")
    many = await say(staff, "/checkin_for สมศักดิ์")
    assert "มากกว่า 10" in many
    assert len(staff.last.button_texts if staff.last else []) == 10
    assert "ไม่พบ" in await say(staff, "/checkin_for %%%")

    await staff.send("/checkin_for 081-234-5678")
    choice = await staff.next_reply()
    assert choice.button_texts == ["สมศรี มีสุข · +66 8x xxx 5678"]
    # A volunteer pressing a forged button gets nowhere.
    await volunteer.press_data(f"cf:{event.id}:{target.id}", message=choice)
    assert "ไม่มีสิทธิ์" in (await volunteer.wait_for_answer())["text"]
    await staff.press("สมศรี มีสุข", message=choice)
    await staff.wait_for_edit(choice)
    assert choice.text is not None
    assert choice.text.startswith(f"✅ เช็กอิน สมศรี มีสุข · +66 8x xxx 5678 เข้า «{event.title}»")
    [row] = await checkins_of(bot)
    assert (row.person_id, row.method, row.performed_by_id) == (
        target.id,
        "staff",
        staff_person.id,
    )


async def test_checkout_records_leaving_time(bot: BotHarness, telegram: FakeTelegram) -> None:
    event = await open_event(bot, checkout_enabled=True)
    chat, _ = await member(bot, telegram)
    assert "ยังไม่ได้เช็กอิน" in await say(chat, "/checkout")
    await say(chat, f"/checkin {event.code}")
    bot.clock.advance(timedelta(hours=2))
    assert "เช็กเอาต์" in await say(chat, "/checkout")
    [row] = await checkins_of(bot)
    assert row.checked_out_at is not None
    stayed = row.checked_out_at - row.checked_in_at
    assert timedelta(hours=2) <= stayed < timedelta(hours=2, minutes=1)
    assert "แล้วเมื่อ" in await say(chat, "/checkout")


async def test_unregistered_people_are_asked_to_register(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot, latitude=VENUE_LAT, longitude=VENUE_LON)
    stranger = telegram.person()
    await stranger.share_location(VENUE_LAT, VENUE_LON)
    assert "/start" in ((await stranger.next_reply()).text or "")
    # A typed code waits in the registration it starts (tests/e2e/test_registration.py).
    assert "ลงทะเบียนก่อน" in await say(stranger, f"/checkin {event.code}")
    assert await checkins_of(bot) == []


async def test_location_shared_while_asked_for_the_code(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot, latitude=VENUE_LAT, longitude=VENUE_LON)
    chat, _ = await member(bot, telegram)
    assert "รหัสเช็กอิน 6 ตัว" in await say(chat, "/checkin")
    await chat.share_location(VENUE_LAT, VENUE_LON)
    assert ((await chat.next_reply()).text or "").startswith(f"✅ เช็กอิน «{event.title}»")
    [row] = await checkins_of(bot)
    assert row.method == "location"
    # The conversation is over: text is no longer taken as a code.
    assert "ไม่เข้าใจ" in await say(chat, "ABCDEF")


async def test_staff_choose_the_event_when_several_are_open(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    await open_event(bot, title="ห้องประชุม 1")
    second = await open_event(bot, title="ห้องประชุม 2")
    staff, _ = await member(bot, telegram, "เจ้าหน้าที่ หน้างาน", Role.STAFF)
    async with bot.sessions() as session:
        target = await make_person(session, full_name="มานี มีตา")
    await staff.send("/checkin_for มานี")
    events_choice = await staff.next_reply()
    assert events_choice.button_texts == ["ห้องประชุม 1", "ห้องประชุม 2"]
    await staff.press("ห้องประชุม 2", message=events_choice)
    people_choice = await staff.wait_for(lambda m: "เลือกคนที่จะเช็กอิน" in m.shown_text)
    await staff.press("มานี มีตา", message=people_choice)
    await staff.wait_for_edit(people_choice)
    [row] = await checkins_of(bot)
    assert (row.event_id, row.person_id) == (second.id, target.id)
