"""Reports end to end: /headcount, refresh, the chart, /summary and /export through the bot."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import openpyxl
import pytest
from sqlmodel import select

from bot.clock import FakeClock
from bot.i18n import translator
from storage.models import AuditEntry, CheckIn, CoordinatorZone, Person, RoleGrant
from tests import seed_seminar as seed
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fake_telegram import Person as Chatter
from tests.harness import BotHarness
from tests.harness import test_settings as make_settings

# Two hours into the seminar: it is the event happening now.
DURING = seed.SEMINAR_START + timedelta(hours=2)
ADMIN_ID = 900_001
NOT_ALLOWED = translator("th")("error.not_allowed")


@asynccontextmanager
async def bot_at(
    telegram: FakeTelegram, database_url: str, moment: datetime
) -> AsyncIterator[BotHarness]:
    """The running bot on a clock the test controls, with one configured admin."""
    # Flood control loose enough for a test's typing speed (it is not under test here).
    settings = make_settings(
        telegram=telegram,
        database_url=database_url,
        bot={"admins": [ADMIN_ID], "flood_max_updates": 1000},
    )
    harness = BotHarness(settings=settings, telegram=telegram, clock=FakeClock(moment))
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def bot(telegram: FakeTelegram, database_url: str) -> AsyncIterator[BotHarness]:
    """The bot two hours into the seminar."""
    async with bot_at(telegram, database_url, DURING) as harness:
        yield harness


async def seminar(
    bot: BotHarness, *, check_in: bool = True, code: str = seed.SEMINAR_CODE
) -> seed.Seminar:
    """The 351-person seminar in the bot's database."""
    async with bot.sessions() as session:
        built = await seed.seed_seminar(session, check_in=check_in, code=code)
        await session.commit()
    return built


async def person_with_role(
    bot: BotHarness, chatter: Chatter, role: str, zones: tuple[int, ...] = ()
) -> Person:
    """A registered person behind a fake Telegram user, holding a role."""
    async with bot.sessions() as session:
        person = Person(
            telegram_id=chatter.user_id,
            full_name=f"{role} {chatter.first_name}",
            phone="0899999999",
            participant_type="staff",
        )
        session.add(person)
        await session.flush()
        assert person.id is not None
        if role:
            session.add(RoleGrant(person_id=person.id, role=role))
        for zone in zones:
            session.add(CoordinatorZone(person_id=person.id, zone=zone))
        await session.commit()
    return person


async def ask(chatter: Chatter, text: str) -> SentMessage:
    """Send a command and return the bot's reply."""
    await chatter.send(text)
    return await chatter.next_reply(timeout=10)


async def organiser(bot: BotHarness, telegram: FakeTelegram) -> Chatter:
    """An organiser, chatting with the bot."""
    chatter = telegram.person(first_name="Organiser")
    await person_with_role(bot, chatter, "organiser")
    return chatter


async def test_the_351_seminar_through_the_bot(bot: BotHarness, telegram: FakeTelegram) -> None:
    await seminar(bot)
    boss = await organiser(bot, telegram)
    reply = await ask(boss, "/headcount")
    text = reply.text or ""
    assert len(reply.raw_text or "") < 4096
    assert "จำนวนผู้เข้าร่วม: สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร" in text
    # Three words, three counts (issue 11 §5): 351 here, of whom 340 registered with the bot
    # and 11 were entered by staff at the door; 349 signed up through /events, 340 came.
    assert "อยู่ในงานตอนนี้ 351 คน · มาสาย 15" in text
    assert "ลงทะเบียนกับบอท 340 · มาหน้างาน 11" in text
    assert "ลงชื่อร่วมงาน 349 จากที่รับได้ 400 · มาแล้ว 340 · ยังไม่มา 9" in text
    assert "• อาสาสมัครแรงงาน 69" in text
    assert "• เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน 200" in text
    assert "• วิทยากร ข้าราชการ ทีมงาน และผู้สังเกตการณ์ 82\n" in text
    assert "   วิทยากร 6 · ข้าราชการ 30 · ทีมงาน 36 · ผู้สังเกตการณ์ 10\n" in text
    assert "รวม 351 คน" in text
    for line in (
        "• ประธานโซน 2",
        "• ผู้ประสานงานโซน 4",
        "• ประธานเครือข่ายแท็กซี่ 1",
        "• ผู้ประสานงานเครือข่ายแท็กซี่ 6",
        "• อาสาสมัคร 56",
    ):
        assert line in text
    assert "โซน 3: 39" in text
    assert "คลองเตย 12 · บางนา 8 · ประเวศ 6 · พระโขนง 5 · สวนหลวง 4 · วัฒนา 4" in text
    assert "โซน 4: 30" in text
    assert "บางกะปิ 9 · คันนายาว 8 · ลาดพร้าว 5 · บึงกุ่ม 4 · วังทองหลาง 4" in text
    assert "• กรมการจัดหางาน 45" in text
    assert "• สำนักงานประกันสังคม 35" in text
    assert "07.15 น." in text
    assert "ข้อมูล ณ 10.00 น." in text
    assert reply.button_texts == ["🔄 อัปเดต", "📈 กราฟ"]


async def test_refresh_updates_the_same_message(bot: BotHarness, telegram: FakeTelegram) -> None:
    built = await seminar(bot)
    boss = await organiser(bot, telegram)
    reply = await ask(boss, "/headcount")
    assert "อยู่ในงานตอนนี้ 351 คน" in (reply.text or "")

    # Nothing changed: Telegram says "message is not modified", the bot says so politely.
    await boss.press("🔄 อัปเดต", message=reply)
    answer = await boss.wait_for_answer()
    assert answer["text"] == "ยังไม่มีข้อมูลใหม่"

    # Five people leave and a latecomer arrives, a minute later.
    async with bot.sessions() as session:
        rows = (await session.exec(select(CheckIn).limit(5))).all()
        for row in rows:
            row.checked_out_at = DURING
            session.add(row)
        latecomer = built.no_shows[0]
        assert latecomer.id is not None
        assert built.event.id is not None
        session.add(
            CheckIn(
                event_id=built.event.id,
                person_id=latecomer.id,
                checked_in_at=DURING,
                method="code",
                late=True,
            )
        )
        await session.commit()
    assert isinstance(bot.clock, FakeClock)
    bot.clock.advance(timedelta(minutes=1))
    await boss.press("🔄 อัปเดต", message=reply)
    edited = await boss.wait_for_edit(reply, timeout=10)
    text = edited.text or ""
    assert "อยู่ในงานตอนนี้ 347 คน" in text
    assert "มาทั้งหมด 352 คน เช็กเอาต์แล้ว 5 คน" in text
    assert "มาแล้ว 341 · ยังไม่มา 8" in text
    assert "ข้อมูล ณ 10.01 น." in text
    assert (await boss.wait_for_answer())["text"] == "อัปเดตแล้ว"
    assert len(boss.messages) == 1


async def test_the_chart_button_sends_a_png(bot: BotHarness, telegram: FakeTelegram) -> None:
    await seminar(bot)
    boss = await organiser(bot, telegram)
    reply = await ask(boss, "/headcount")
    await boss.press("📈 กราฟ", message=reply)
    photo = await boss.next_reply(timeout=20)
    assert photo.kind == "photo"
    assert photo.file_bytes is not None
    assert photo.file_bytes.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(photo.file_bytes) > 20_000
    assert photo.caption == "สัมมนาเครือข่ายอาสาสมัครแรงงานกรุงเทพมหานคร: ผู้เข้าร่วม 351 คน"


async def test_coordinators_see_only_their_zones(bot: BotHarness, telegram: FakeTelegram) -> None:
    await seminar(bot)
    chatter = telegram.person(first_name="Coordinator")
    await person_with_role(bot, chatter, "coordinator", zones=(4,))
    text = (await ask(chatter, "/headcount")).text or ""
    assert "แสดงเฉพาะ โซน 4" in text
    assert "อยู่ในงานตอนนี้ 30 คน" in text
    # Zone 4's own sign-ups and walk-ins; the event's capacity is not theirs to compare with.
    assert "ลงทะเบียนกับบอท 29 · มาหน้างาน 1" in text
    assert "ลงชื่อร่วมงาน 29 · มาแล้ว 29 · ยังไม่มา 0" in text
    assert "• อาสาสมัครแรงงาน 30" in text
    assert "• เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน 0" in text
    assert "โซน 4: 30" in text
    assert "โซน 3" not in text
    assert "คลองเตย" not in text
    assert "กรมการจัดหางาน" not in text
    # Nor may a coordinator export.
    refused = await ask(chatter, "/export")
    assert refused.text == NOT_ALLOWED


async def test_people_without_a_role_are_refused(bot: BotHarness, telegram: FakeTelegram) -> None:
    built = await seminar(bot)
    stranger = telegram.person(first_name="Stranger")
    for command in ("/headcount", "/summary", "/export", "/export volunteers"):
        assert (await ask(stranger, command)).text == NOT_ALLOWED
    # A registered volunteer pressing a forged refresh button is refused too.
    volunteer = telegram.person(first_name="Volunteer")
    await person_with_role(bot, volunteer, "")
    await volunteer.send("/help")
    help_message = await volunteer.next_reply()
    await volunteer.press_data(f"hcr:{built.event.id}", message=help_message)
    answer = await volunteer.wait_for_answer()
    assert answer["text"] == NOT_ALLOWED
    assert help_message.edits == 0


async def test_an_unknown_event_offers_recent_ones(bot: BotHarness, telegram: FakeTelegram) -> None:
    built = await seminar(bot)
    other = await seminar(bot, check_in=False, code="OTHER")
    boss = await organiser(bot, telegram)
    for nonsense in ("NOPE", "x" * 4000, "1; DROP TABLE person", "🙂🙂"):
        choice = await ask(boss, f"/headcount {nonsense}")
        assert choice.text == "ไม่พบกิจกรรมตามที่พิมพ์ เลือกจากกิจกรรมล่าสุดด้านล่างได้เลย"
        assert [data for row in choice.buttons for _, data in row] == [
            f"hc:{other.event.id}",
            f"hc:{built.event.id}",
        ]
    await boss.press(f"hc:{built.event.id}", message=choice)
    shown = await boss.wait_for_edit(choice, timeout=10)
    assert "อยู่ในงานตอนนี้ 351 คน" in (shown.text or "")
    assert shown.button_texts == ["🔄 อัปเดต", "📈 กราฟ"]
    # The code works, in any case, and so does the number.
    by_code = await ask(boss, "/headcount other")
    assert "อยู่ในงานตอนนี้ 0 คน" in (by_code.text or "")
    by_number = await ask(boss, f"/headcount {built.event.id}")
    assert "อยู่ในงานตอนนี้ 351 คน" in (by_number.text or "")
    # A forged button for an event that does not exist.
    await boss.press_data("hc:99999", message=by_number)
    assert (await boss.wait_for_answer())["text"] == "ไม่พบกิจกรรมนี้ กรุณาตรวจสอบรหัสหรือหมายเลขกิจกรรม"


async def test_an_event_with_no_check_ins(bot: BotHarness, telegram: FakeTelegram) -> None:
    await seminar(bot, check_in=False)
    boss = await organiser(bot, telegram)
    text = (await ask(boss, "/headcount")).text or ""
    assert "อยู่ในงานตอนนี้ 0 คน · มาสาย 0" in text
    assert "ลงทะเบียนกับบอท 0 · มาหน้างาน 0" in text
    assert "ลงชื่อร่วมงาน 349 จากที่รับได้ 400 · มาแล้ว 0 · ยังไม่มา 349" in text
    assert "ยังไม่มีผู้เช็กอิน" in text
    summary = await ask(boss, "/summary")
    assert summary.text == seed.EXPECTED_SUMMARY_NOBODY_TH
    files = await export_files(boss)
    assert list(csv.reader(io.StringIO(files[0].decode("utf-8-sig"))))[1:] == []


async def test_no_events_at_all(bot: BotHarness, telegram: FakeTelegram) -> None:
    boss = await organiser(bot, telegram)
    assert (await ask(boss, "/headcount")).text == "ยังไม่มีกิจกรรมในระบบ"
    assert (await ask(boss, "/headcount ABC")).text == "ยังไม่มีกิจกรรมในระบบ"


async def test_the_summary_in_both_languages(bot: BotHarness, telegram: FakeTelegram) -> None:
    await seminar(bot)
    boss = await organiser(bot, telegram)
    thai = await ask(boss, "/summary")
    assert thai.text == seed.EXPECTED_SUMMARY_TH
    choice = await ask(boss, "/lang")
    await boss.press("English", message=choice)
    await boss.wait_for_edit(choice)
    english = await ask(boss, "/summary")
    assert english.text == seed.EXPECTED_SUMMARY_EN
    headcount = (await ask(boss, "/headcount")).text or ""
    assert "Here now 351 · late 15" in headcount
    assert "Registered with the bot 340 · walk-ins 11" in headcount
    assert "Signed up 349 of 400 places · came 340 · not yet here 9" in headcount
    assert "• Labour volunteers 69" in headcount


async def test_summary_of_an_unknown_event_offers_a_list(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    built = await seminar(bot)
    boss = await organiser(bot, telegram)
    choice = await ask(boss, "/summary what")
    await boss.press(f"sm:{built.event.id}", message=choice)
    shown = await boss.wait_for_edit(choice, timeout=10)
    assert (shown.text or "").endswith("วิทยากร ข้าราชการ ทีมงาน และผู้สังเกตการณ์ จำนวน 82 คน")


async def export_files(chatter: Chatter, command: str = "/export") -> tuple[bytes, bytes]:
    """Send an export command; the CSV and the XLSX the bot sends back."""
    await chatter.send(command)
    first, second = await chatter.replies(2, timeout=15)
    assert first.kind == second.kind == "document"
    assert first.file_name is not None
    assert first.file_name.endswith(".csv")
    assert second.file_name is not None
    assert second.file_name.endswith(".xlsx")
    assert first.file_bytes is not None
    assert second.file_bytes is not None
    return first.file_bytes, second.file_bytes


async def test_export_through_the_bot(bot: BotHarness, telegram: FakeTelegram) -> None:
    built = await seminar(bot)
    # An erased volunteer: gone from the list by name, still counted.
    async with bot.sessions() as session:
        erased = await session.get(Person, built.attendees[0].id)
        assert erased is not None
        erased.full_name = None
        erased.phone = None
        erased.erased_at = DURING
        session.add(erased)
        await session.commit()
    admin = telegram.person(user_id=ADMIN_ID, first_name="Admin")
    csv_bytes, xlsx_bytes = await export_files(admin)
    rows = list(csv.reader(io.StringIO(csv_bytes.decode("utf-8-sig"))))
    assert csv_bytes.startswith(b"\xef\xbb\xbf")
    assert len(rows) == 352
    assert rows[0][6] == "เบอร์โทรศัพท์"
    assert sum(1 for row in rows if row[0] == "(ลบข้อมูลส่วนบุคคลแล้ว)") == 1
    second = ["อาสา 2", "อาสาสมัครแรงงาน", "", "โซน 3", "คลองเตย", "ผู้ประสานงานโซน", "080-000-0002"]
    assert second in [row[:7] for row in rows]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes), read_only=True)
    try:
        assert book.sheetnames == ["ผู้เข้าร่วม", "สรุปจำนวน"]
        summary = {
            row[0]: row[1]
            for row in book["สรุปจำนวน"].iter_rows(values_only=True)
            if row and row[0] is not None and len(row) > 1
        }
    finally:
        book.close()
    assert summary["อาสาสมัครแรงงาน"] == 69
    assert summary["รวม"] == 351
    headcount = (await ask(admin, "/headcount")).text or ""
    assert "• อาสาสมัครแรงงาน 69" in headcount

    roster_csv, _ = await export_files(admin, "/export volunteers")
    roster = list(csv.reader(io.StringIO(roster_csv.decode("utf-8-sig"))))
    assert len(roster) == 1 + 69 + seed.NO_SHOWS - 1
    async with bot.sessions() as session:
        actions = (await session.exec(select(AuditEntry.action))).all()
    assert sorted(actions) == ["export.attendees", "export.volunteers"]


async def test_a_coordinators_summary_says_it_covers_their_zones(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    """Issue 11 §5: press text from zone 4 gives the event's total and the zone's share, never
    "มีผู้เข้าร่วมทั้งหมด 30 คน" as if zone 4 were the whole event."""
    await seminar(bot)
    chatter = telegram.person(first_name="Coordinator")
    await person_with_role(bot, chatter, "coordinator", zones=(4,))
    thai = (await ask(chatter, "/summary")).text
    assert thai == seed.EXPECTED_SUMMARY_ZONE_4_TH
    choice = await ask(chatter, "/lang")
    await chatter.press("English", message=choice)
    await chatter.wait_for_edit(choice)
    assert (await ask(chatter, "/summary")).text == seed.EXPECTED_SUMMARY_ZONE_4_EN


async def test_the_seminar_everyone_registered_for_with_the_bot(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    """Issue 11 §5: all 351 registered with the bot and nobody signed up through /events.
    /headcount once read "ลงทะเบียน 0 · มาหน้างาน 351"."""
    async with bot.sessions() as session:
        await seed.seed_seminar(session, walkins=False, signups=False)
        await session.commit()
    boss = await organiser(bot, telegram)
    text = (await ask(boss, "/headcount")).text or ""
    assert "อยู่ในงานตอนนี้ 351 คน · มาสาย 15" in text
    assert "ลงทะเบียนกับบอท 351 · มาหน้างาน 0" in text
    assert "ลงชื่อร่วมงาน 0 จากที่รับได้ 400 · มาแล้ว 0 · ยังไม่มา 0" in text


async def test_bad_arguments_and_forged_buttons_are_no_such_event(
    bot: BotHarness, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11 §6: a NUL or a number too big for the database never reaches it raw; the
    person gets the answer for an event that does not exist, on both databases."""
    telegram.set_rate_limits(enabled=False)  # dozens of commands from one person, not the point
    built = await seminar(bot)
    boss = await organiser(bot, telegram)
    pick = "ไม่พบกิจกรรมตามที่พิมพ์ เลือกจากกิจกรรมล่าสุดด้านล่างได้เลย"
    await bot.settle()
    failed_before = len(telegram.failed_calls)
    oversized = ("9" * 20, "#2147483648", "2147483648", "#" + "9" * 9 + "0")
    for command in ("/headcount", "/summary", "/export"):
        for argument in ("NO\x00PE", "X\x00", *oversized, *(f"X{n}" for n in oversized)):
            reply = await ask(boss, f"{command} {argument}")
            assert reply.text == pick, (command, argument)
    # A lone NUL is nothing once cleaned: the event happening now.
    shown = await ask(boss, "/headcount \x00")
    assert "อยู่ในงานตอนนี้ 351 คน" in (shown.text or "")
    forged = [
        f"{prefix}{number}"
        for prefix in ("hc:", "hcr:", "hcc:", "sm:", "ex:")
        for number in ("99999999999999999999", "2147483648", "-1", "1e3", "", f"{built.event.id}x")
    ]
    message = boss.messages[-1]
    for data in forged:
        await boss.press_data(data, message=message)
        answer = await boss.wait_for_answer()
        assert answer["text"] == translator("th")("error.stale_button"), data
    for data in ("hc:999999999", "hcr:999999999", "sm:999999999", "ex:999999999"):
        await boss.press_data(data, message=message)
        answer = await boss.wait_for_answer()
        assert answer["text"] == "ไม่พบกิจกรรมนี้ กรุณาตรวจสอบรหัสหรือหมายเลขกิจกรรม", data
    await bot.settle()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    refused = telegram.failed_calls[failed_before:]
    assert [c.method for c in refused if c.status is not None] == []
