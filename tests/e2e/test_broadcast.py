"""/broadcast and /announcements as an organiser and a coordinator would use them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot import flows
from bot.config import Settings
from bot.delivery.dispatcher import run_due
from storage.models import Announcement, AnnouncementStatus, AuditEntry, Person, Role
from tests import outbox_seed as seed
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fake_telegram import Person as TgPerson
from tests.fake_telegram.people import text_content
from tests.harness import BotHarness
from tests.harness import test_settings as make_settings

TEXT = "ประชุมใหญ่อาสาสมัคร เสาร์นี้ 09.00 น."
BOLD = [{"type": "bold", "offset": 0, "length": 10}]
# The audience kinds after "everyone", as the menu of /broadcast names them.
KINDS = [
    "ตามโซน",
    "ตามเขต",
    "ตามบทบาทอาสาสมัคร",
    "ตามประเภทผู้เข้าร่วม",
    "ผู้ลงชื่อร่วมงาน",
    "ผู้ลงทะเบียนที่ยังไม่เช็กอิน",
]


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """An author presses many buttons quickly here: flood control must not mute them."""
    return make_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


@pytest.fixture(autouse=True)
def _chatty_authors(telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    """An author's chat gets previews, menus and reports in quick succession: no 1/s limit."""
    telegram.set_rate_limits(enabled=True, per_chat_per_second=50, per_chat_burst=200)
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def registered(
    bot: BotHarness,
    telegram: FakeTelegram,
    *,
    district: str | None = None,
    role: Role | None = None,
    zones: tuple[int, ...] = (),
    language: str = "th",
) -> tuple[TgPerson, Person]:
    """A registered person with an open chat (and a role, if given)."""
    user = seed.started(telegram)
    async with bot.sessions() as session:
        row = await seed.person(
            session,
            telegram_id=user.user_id,
            district_code=district,
            language=language,
            consent_at=bot.clock.now(),
        )
        if role is not None:
            await seed.grant(session, row, role, zones)
    return user, row


async def send_formatted(user: TgPerson, text: str, entities: list[dict[str, Any]]) -> None:
    """A message with bold/italic/links, as Telegram delivers it to the bot."""
    user._post({**text_content(text), "entities": entities})


def local_text(bot: BotHarness, delta: timedelta) -> str:
    """A time `delta` from now, typed the way a Thai organiser would ("25/11/2569 09.30")."""
    moment = (bot.clock.now() + delta).astimezone(bot.settings.tz)
    return f"{moment.day}/{moment.month}/{moment.year + 543} {moment.hour:02d}.{moment.minute:02d}"


def receivers(text: str, author: TgPerson, *others: TgPerson) -> set[int]:
    """Who received `text` (the author's own preview is not a delivery)."""
    got = {u.chat_id for u in others if any(m.text == text for m in u.messages)}
    if sum(m.text == text for m in author.messages) > 1:
        got.add(author.chat_id)
    return got


async def _start_to_text(author: TgPerson, kind: str, *choices: str) -> None:
    """Walk /broadcast to the text step, choosing `kind` and then `choices`."""
    await author.send("/broadcast")
    menu = await author.next_reply()
    await author.press(kind, message=menu)
    if choices:
        values = await author.next_reply()
        for choice in choices:
            await author.press(choice, message=values)
            await author.wait_for_edit(values)
        await author.press("เสร็จ", message=values)
    prompt = await author.next_reply()
    assert "พิมพ์ข้อความประกาศ" in (prompt.text or "")


async def test_an_organiser_broadcasts_to_a_zone_with_preview_and_report(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    author, _ = await registered(bot, telegram, role=Role.ORGANISER)
    zone3 = [(await registered(bot, telegram, district=seed.ZONE3_DISTRICT))[0] for _ in range(3)]
    zone4, _ = await registered(bot, telegram, district=seed.ZONE4_DISTRICT)

    await author.send("/broadcast")
    menu = await author.next_reply()
    assert menu.button_texts == ["ทุกคน", *KINDS, "ยกเลิก"]
    await author.press("ตามโซน", message=menu)
    zones = await author.next_reply()
    assert zones.button_texts == ["โซน 3", "โซน 4", "เสร็จ", "ยกเลิก"]
    await author.press("เสร็จ", message=zones)
    assert (await author.wait_for_answer())["text"] == "กรุณาเลือกอย่างน้อยหนึ่งรายการ"
    await author.press("โซน 3", message=zones)
    await author.wait_for_edit(zones)
    assert zones.button_texts[0] == "✅ โซน 3"
    await author.press("เสร็จ", message=zones)
    await author.next_reply()

    await send_formatted(author, TEXT, BOLD)
    preview = await author.next_reply()
    assert preview.text == TEXT
    assert [(e["type"], e["length"]) for e in preview.entities] == [("bold", 10)]
    summary = await author.next_reply()
    assert "โซน: โซน 3" in (summary.text or "")
    assert "จำนวน: 3 คน" in (summary.text or "")
    await author.press("ส่งเลย", message=summary)
    confirm = await author.next_reply()
    assert "3 คน" in (confirm.text or "")
    # Nothing is written before the confirmation.
    async with bot.sessions() as session:
        assert (await session.exec(select(Announcement))).first() is None
    await author.press("ยืนยัน", message=confirm)
    done = await author.next_reply()
    assert "กำลังส่งประกาศ #1 ถึง 3 คน" in (done.text or "")

    for user in zone3:
        received = await user.wait_for(lambda m: m.text == TEXT)
        assert [(e["type"], e["length"]) for e in received.entities] == [("bold", 10)]
    report = await author.wait_for(lambda m: "สรุปผล" in (m.text or ""))
    assert "ส่งถึงแล้ว: 3 คน" in (report.text or "")
    assert telegram.count_to(zone4.chat_id) == 0
    async with bot.sessions() as session:
        entry = (await session.exec(select(AuditEntry))).one()
        assert entry.action == "broadcast.create"
        assert TEXT not in str(entry.detail)


async def test_each_audience_kind_from_the_conversation(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    author, _ = await registered(bot, telegram, role=Role.ADMIN, district=seed.NO_ZONE_DISTRICT)
    chair, chair_row = await registered(bot, telegram, district=seed.ZONE3_DISTRICT)
    official, official_row = await registered(bot, telegram, district=seed.ZONE4_DISTRICT)
    async with bot.sessions() as session:
        chair_row.volunteer_role = "zone_chair"
        official_row.participant_type = "official"
        session.add_all([chair_row, official_row])
        await session.commit()
        # Created just now: no reminder is due yet to get in the way.
        event = await seed.event(
            session, starts_at=bot.clock.now() + timedelta(hours=3), created_at=bot.clock.now()
        )
        await seed.register(session, event, chair_row)
        await seed.register(session, event, official_row)
        await seed.check_in(session, event, official_row, at=bot.clock.now())

    cases = [
        (("ตามเขต", "คลองเตย"), {chair.chat_id}),
        (("ตามบทบาทอาสาสมัคร", "ประธานโซน"), {chair.chat_id}),
        (("ตามประเภทผู้เข้าร่วม", "เจ้าหน้าที่หน่วยงาน"), {official.chat_id}),
        (("ทุกคน",), {author.chat_id, chair.chat_id, official.chat_id}),
    ]
    for n, ((kind, *choices), expected) in enumerate(cases, start=1):
        await _start_to_text(author, kind, *choices)
        text = f"ประกาศที่ {n}"
        await author.send(text)
        await author.next_reply()
        await author.press("ส่งเลย", message=await author.next_reply())
        await author.press("ยืนยัน", message=await author.next_reply())
        await author.next_reply()
        await run_due(bot.application)
        await author.wait_for(lambda m: "สรุปผล" in (m.text or ""))
        author.mark_read()
        got = receivers(text, author, chair, official)
        assert got == expected, kind

    for kind, expected in (
        ("ผู้ลงชื่อร่วมงาน", {chair.chat_id, official.chat_id}),
        ("ผู้ลงทะเบียนที่ยังไม่เช็กอิน", {chair.chat_id}),
    ):
        await author.send("/broadcast")
        await author.press(kind, message=await author.next_reply())
        events = await author.next_reply()
        assert events.button_texts[0].startswith(event.title[:40])
        await author.press(events.button_texts[0], message=events)
        await author.next_reply()
        await author.send(kind)
        await author.next_reply()
        await author.press("ส่งเลย", message=await author.next_reply())
        await author.press("ยืนยัน", message=await author.next_reply())
        await author.next_reply()
        await run_due(bot.application)
        await author.wait_for(lambda m: "สรุปผล" in (m.text or ""))
        author.mark_read()
        got = receivers(kind, author, chair, official)
        assert got == expected, kind


def live_data(message: SentMessage, text: str) -> str:
    """The callback data of a button, to forge others with the same (live) nonce."""
    return next(data for row in message.buttons for label, data in row if label == text and data)


async def test_a_coordinator_is_offered_and_allowed_only_their_own_zone(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    coordinator, _ = await registered(
        bot, telegram, role=Role.COORDINATOR, zones=(3,), district=seed.ZONE3_DISTRICT
    )
    await coordinator.send("/broadcast")
    menu = await coordinator.next_reply()
    # Everything but "everyone"; roles, types and events are narrowed to their zones.
    assert menu.button_texts == [*KINDS, "ยกเลิก"]
    # A tampered button asking for everyone is refused and changes nothing: an old-style
    # one, and one forged with the live question's nonce.
    await coordinator.press_data("bc:k:everyone", message=menu)
    assert (await coordinator.wait_for_answer())["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    nonce = live_data(menu, "ตามโซน").split(":", 1)[0]
    await coordinator.press_data(f"{nonce}:k:everyone", message=menu)
    assert (await coordinator.wait_for_answer())["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    await coordinator.press("ตามโซน", message=menu)
    zones = await coordinator.next_reply()
    assert zones.button_texts == ["โซน 3", "เสร็จ", "ยกเลิก"]
    # A zone that is not theirs, forged with the live nonce: refused.
    nonce = live_data(zones, "โซน 3").split(":", 1)[0]
    await coordinator.press_data(f"{nonce}:v:4", message=zones)
    assert (await coordinator.wait_for_answer())["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    await coordinator.press("ยกเลิก", message=zones)
    assert "ยกเลิกแล้ว" in ((await coordinator.next_reply()).text or "")

    await coordinator.send("/broadcast")
    await coordinator.press("ตามเขต", message=await coordinator.next_reply())
    districts = await coordinator.next_reply()
    assert "คลองเตย" in districts.button_texts
    assert "คันนายาว" not in districts.button_texts  # zone 4
    await coordinator.send("/cancel")
    await coordinator.next_reply()
    async with bot.sessions() as session:
        assert (await session.exec(select(Announcement))).first() is None


async def test_a_coordinator_reaches_a_role_within_their_own_zones_only(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    coordinator, _ = await registered(
        bot, telegram, role=Role.COORDINATOR, zones=(3,), district=seed.ZONE3_DISTRICT
    )
    inside, inside_row = await registered(bot, telegram, district=seed.ZONE3_OTHER_DISTRICT)
    outside, outside_row = await registered(bot, telegram, district=seed.ZONE4_DISTRICT)
    async with bot.sessions() as session:
        for row in (inside_row, outside_row):
            row.volunteer_role = "zone_chair"
            session.add(row)
        await session.commit()
    await _start_to_text(coordinator, "ตามบทบาทอาสาสมัคร", "ประธานโซน")
    await coordinator.send("ประชุมประธานโซน")
    await coordinator.next_reply()
    summary = await coordinator.next_reply()
    assert "บทบาท: ประธานโซน (เฉพาะโซน 3)" in (summary.text or "")
    assert "จำนวน: 1 คน" in (summary.text or "")
    await coordinator.press("ส่งเลย", message=summary)
    await coordinator.press("ยืนยัน", message=await coordinator.next_reply())
    assert "ถึง 1 คน" in ((await coordinator.next_reply()).text or "")
    await inside.wait_for(lambda m: m.text == "ประชุมประธานโซน")
    await coordinator.wait_for(lambda m: "สรุปผล" in (m.text or ""))
    await bot.settle()
    assert telegram.count_to(outside.chat_id) == 0
    async with bot.sessions() as session:
        announcement = (await session.exec(select(Announcement))).first()
        assert announcement is not None
        assert announcement.audience == {"kind": "roles", "values": ["zone_chair"], "zones": [3]}


@pytest.mark.parametrize("role", [None, Role.STAFF])
async def test_people_without_the_right_are_refused(
    bot: BotHarness, telegram: FakeTelegram, role: Role | None
) -> None:
    user, _ = await registered(bot, telegram, role=role)
    await user.send("/broadcast")
    assert (await user.next_reply()).text == "ท่านไม่มีสิทธิ์ทำรายการนี้"
    await user.send("/announcements")
    assert (await user.next_reply()).text == "ท่านไม่มีสิทธิ์ทำรายการนี้"


async def test_bad_input_at_every_step_gets_a_hint_and_keeps_the_draft(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    author, _ = await registered(bot, telegram, role=Role.ORGANISER)
    await registered(bot, telegram, district=seed.ZONE3_DISTRICT)
    hint = "กรุณาตอบคำถามด้านล่าง หรือพิมพ์ /cancel เพื่อยกเลิก"
    await author.send("/broadcast")
    menu = await author.next_reply()
    # Anything but a button: the hint, and the question again (the same question: every
    # copy's buttons work until one is pressed).
    for bad in (author.send_sticker(), author.send("'; DROP TABLE person; --")):
        await bad
        assert (await author.next_reply()).text == hint
        again = await author.next_reply()
        assert again.text == "ส่งประกาศถึงใคร"
        assert again.button_texts == menu.button_texts
    await author.send("/nonsense")
    assert "/help" in ((await author.next_reply()).text or "")
    await author.press("ตามโซน", message=menu)
    zones = await author.next_reply()
    # Answered: the later copies' buttons are stale now.
    await author.press("ตามเขต", message=again)
    assert (await author.wait_for_answer())["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    await author.press_data("bc:v:99", message=zones)
    assert (await author.wait_for_answer())["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    await author.press("โซน 3", message=zones)
    await author.wait_for_edit(zones)
    await author.press("เสร็จ", message=zones)
    await author.next_reply()

    await author.send_photo()
    assert (await author.next_reply()).text == hint
    assert "พิมพ์ข้อความประกาศ" in ((await author.next_reply()).text or "")
    await author.send("ก" * 5000)
    assert "5000 ตัวอักษร" in ((await author.next_reply()).text or "")
    # Only invisible characters (zero-width spaces and joiners, a blank braille cell).
    await author.send("\u200b\u200c\u200d\u2800")
    assert (await author.next_reply()).text == "ข้อความว่างเปล่า กรุณาพิมพ์ข้อความที่จะส่ง"
    await author.send("😀 ข้อความ")
    await author.next_reply()
    summary = await author.next_reply()
    await author.press("ตั้งเวลาส่ง", message=summary)
    await author.next_reply()
    await author.send("พรุ่งนี้")
    assert "อ่านวันที่และเวลาไม่ออก" in ((await author.next_reply()).text or "")
    await author.send("31/2/2569 09.00")
    assert "ไม่มีวันที่นี้" in ((await author.next_reply()).text or "")
    await author.send(local_text(bot, timedelta(hours=-1)))
    assert "ผ่านไปแล้ว" in ((await author.next_reply()).text or "")
    await author.send_sticker()
    assert (await author.next_reply()).text == hint
    assert "วันที่และเวลา" in ((await author.next_reply()).text or "")
    await author.send("/cancel")
    assert "ยกเลิกการเตรียมประกาศแล้ว" in ((await author.next_reply()).text or "")
    async with bot.sessions() as session:
        assert (await session.exec(select(Announcement))).first() is None


async def test_a_nul_is_dropped_and_the_formatting_still_fits_the_words(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    author, _ = await registered(bot, telegram, role=Role.ORGANISER)
    member, _ = await registered(bot, telegram, district=seed.ZONE3_DISTRICT)
    await _start_to_text(author, "ทุกคน")
    # "ab<NUL>" then a bold "ประชุม" after the NUL: offsets count the NUL until it is dropped.
    await send_formatted(author, "ab\x00 ประชุม", [{"type": "bold", "offset": 4, "length": 6}])
    preview = await author.next_reply()
    assert preview.text == "ab ประชุม"
    assert [(e["type"], e["offset"], e["length"]) for e in preview.entities] == [("bold", 3, 6)]
    await author.press("ส่งเลย", message=await author.next_reply())
    await author.press("ยืนยัน", message=await author.next_reply())
    await author.next_reply()
    received = await member.wait_for(lambda m: m.text == "ab ประชุม")
    assert [(e["type"], e["offset"], e["length"]) for e in received.entities] == [("bold", 3, 6)]
    async with bot.sessions() as session:
        announcement = (await session.exec(select(Announcement))).one()
        assert "\x00" not in announcement.text


async def test_scheduled_broadcasts_can_be_rescheduled_or_cancelled_until_they_start(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    author, _ = await registered(bot, telegram, role=Role.ORGANISER)
    member, _ = await registered(bot, telegram, district=seed.ZONE3_DISTRICT)

    async def schedule(text: str, delta: timedelta) -> None:
        await _start_to_text(author, "ตามโซน", "โซน 3")
        await author.send(text)
        await author.next_reply()
        await author.press("ตั้งเวลาส่ง", message=await author.next_reply())
        await author.next_reply()
        await author.send(local_text(bot, delta))
        await author.press("ยืนยัน", message=await author.next_reply())
        assert "ตั้งเวลาส่งประกาศ" in ((await author.next_reply()).text or "")

    await schedule("ประกาศแรก", timedelta(hours=2))
    await schedule("ประกาศสอง", timedelta(hours=3))
    await run_due(bot.application)
    assert telegram.count_to(member.chat_id) == 0

    # A member who registers after scheduling is in the audience: it is resolved at send time.
    late, _ = await registered(bot, telegram, district=seed.ZONE3_DISTRICT)

    await author.send("/announcements")
    assert (await author.next_reply()).text == "ประกาศที่ตั้งเวลาไว้และล่าสุด"
    first, second = await author.replies(2)
    assert "#1" in (first.text or "")
    assert first.button_texts == ["ยกเลิกการส่ง", "เปลี่ยนเวลา"]
    # A draft in progress gives way to the new question, and the author is told.
    await author.send("/broadcast")
    await author.next_reply()
    await author.press("เปลี่ยนเวลา", message=first)
    assert "ยกเลิกการเตรียมประกาศที่ทำค้างไว้แล้ว" in ((await author.next_reply()).text or "")
    assert "จะเลื่อนประกาศ #1 ไปส่งเมื่อไร" in ((await author.next_reply()).text or "")
    await author.send("ไม่ใช่เวลา")
    assert "อ่านวันที่และเวลาไม่ออก" in ((await author.next_reply()).text or "")
    await author.send(local_text(bot, timedelta(hours=5)))
    assert "เลื่อนประกาศ #1" in ((await author.next_reply()).text or "")
    await author.press("ยกเลิกการส่ง", message=second)
    await author.wait_for_edit(second)
    assert "ยกเลิกประกาศ #2" in (second.text or "")
    await author.press_data("ann:c:2", message=second)
    assert "เริ่มส่งแล้วหรือถูกยกเลิก" in (await author.wait_for_answer())["text"]

    bot.clock.advance(timedelta(hours=4))
    await run_due(bot.application)
    assert telegram.count_to(member.chat_id) == 0
    bot.clock.advance(timedelta(hours=1, minutes=1))
    await run_due(bot.application)
    await member.wait_for(lambda m: m.text == "ประกาศแรก")
    await late.wait_for(lambda m: m.text == "ประกาศแรก")
    await run_due(bot.application)
    assert [m.text for m in member.messages] == ["ประกาศแรก"]
    async with bot.sessions() as session:
        statuses = (
            await session.exec(
                select(Announcement.status)
                .where(Announcement.kind == "broadcast")
                .order_by(Announcement.id)
            )
        ).all()
    assert statuses == [AnnouncementStatus.DONE, AnnouncementStatus.CANCELLED]
    # The started one can no longer be changed.
    await author.send("/announcements")
    await author.next_reply()
    lines = await author.replies(2)
    assert all(not line.button_texts for line in lines)


async def test_a_draft_survives_a_restart(bot: BotHarness, telegram: FakeTelegram) -> None:
    author, _ = await registered(bot, telegram, role=Role.ORGANISER)
    member, _ = await registered(bot, telegram, district=seed.ZONE4_DISTRICT)
    await author.send("/broadcast")
    await author.press("ตามโซน", message=await author.next_reply())
    zones = await author.next_reply()
    await author.press("โซน 4", message=zones)
    await author.wait_for_edit(zones)
    await bot.restart()
    await author.press("เสร็จ", message=zones)
    await author.next_reply()
    await author.send("หลังรีสตาร์ต")
    await author.next_reply()
    summary = await author.next_reply()
    assert "โซน: โซน 4" in (summary.text or "")
    await author.press("ส่งเลย", message=summary)
    await author.press("ยืนยัน", message=await author.next_reply())
    await member.wait_for(lambda m: m.text == "หลังรีสตาร์ต")


async def test_confirm_pressed_again_after_a_crash_sends_one_broadcast(
    bot: BotHarness, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The announcement and the end of the flow are one transaction. The process dying right
    after the announcement was written (here: ending the flow on its own fails) must not leave
    "ยืนยัน" live: pressed again, or delivered again after a restart, it sends nothing twice."""
    author, _ = await registered(bot, telegram, role=Role.ORGANISER)
    member, _ = await registered(bot, telegram, district=seed.ZONE4_DISTRICT)
    await _start_to_text(author, "ตามโซน", "โซน 4")
    await author.send("ครั้งเดียวเท่านั้น")
    await author.next_reply()
    summary = await author.next_reply()
    await author.press("ส่งเลย", message=summary)
    confirm = await author.next_reply()

    async def dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process dies here")

    [data] = [b["callback_data"] for b in confirm.inline_buttons if b["text"] == "ยืนยัน"]
    monkeypatch.setattr(flows, "end_flow", dies)
    await author.press("ยืนยัน", message=confirm)
    await member.wait_for(lambda m: m.text == "ครั้งเดียวเท่านั้น")
    await bot.settle()
    monkeypatch.undo()
    # The same press again, as Telegram delivers it after a restart (or a quick double tap).
    await author.press_data(data, message=confirm)
    assert (await author.wait_for_answer())["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    await bot.settle()
    async with bot.sessions() as session:
        broadcasts = (
            await session.exec(select(Announcement).where(Announcement.kind == "broadcast"))
        ).all()
    assert len(broadcasts) == 1
    assert [m.text for m in member.messages].count("ครั้งเดียวเท่านั้น") == 1
