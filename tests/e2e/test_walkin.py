"""Walk-ins and "nobody counted twice", end to end: /walkin, its match check, contact links,
/merge and its undo."""

from __future__ import annotations

import pytest
from sqlmodel import col, func, select

from bot import flows
from bot.config import Settings
from storage.models import AuditEntry, CheckIn, CoordinatorZone, Event, Person, PersonMerge, Role
from tests import harness
from tests.e2e.test_registration import (  # noqa: F401
    TH,
    WORDS,
    _human_pace,
    answer_name,
    begin,
    person_row,
    register_volunteer,
    text_of,
)
from tests.factories import grant, make_event, make_person
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.people import Person as Chat
from tests.harness import BotHarness

HINT = WORDS[TH].hint


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A patient flood guard: these tests type faster than any person."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


async def member(
    bot: BotHarness, telegram: FakeTelegram, name: str, *roles: Role, zone: int | None = None
) -> tuple[Chat, Person]:
    """A registered person with roles (a coordinator of `zone`), and their chat."""
    chat = telegram.person()
    async with bot.sessions() as session:
        person = await make_person(session, telegram_id=chat.user_id, full_name=name)
        for role in roles:
            await grant(session, person, role)
        if zone is not None:
            session.add(CoordinatorZone(person_id=person.id or 0, zone=zone))
            await session.commit()
    return chat, person


async def open_event(bot: BotHarness, title: str = "สัมมนาอาสาสมัครแรงงาน") -> Event:
    """An event starting in half an hour: check-in is open."""
    async with bot.sessions() as session:
        return await make_event(session, now=bot.clock.now(), title=title)


async def say(chat: Chat, text: str) -> str:
    """Send text and return the bot's next reply."""
    await chat.send(text)
    return text_of(await chat.next_reply())


async def people(bot: BotHarness) -> list[Person]:
    """Every person row, oldest first."""
    async with bot.sessions() as session:
        return list((await session.exec(select(Person).order_by(col(Person.id)))).all())


async def check_ins(bot: BotHarness) -> list[CheckIn]:
    """Every check-in row, oldest first."""
    async with bot.sessions() as session:
        return list((await session.exec(select(CheckIn).order_by(col(CheckIn.id)))).all())


async def people_checked_in(bot: BotHarness, event_id: int) -> int:
    """Headcount as the reports count it: distinct records that count, not rows."""
    statement = (
        select(func.count(func.distinct(CheckIn.person_id)))
        .join(Person, col(Person.id) == col(CheckIn.person_id))
        .where(CheckIn.event_id == event_id, col(Person.merged_into_id).is_(None))
    )
    async with bot.sessions() as session:
        return int((await session.exec(statement)).one())


async def enter_walkin(
    staff: Chat,
    *,
    name: str = "บุญมี มาเอง",
    district: str = "คลองเตย",
    phone: str | None = "081 234 5678",
) -> str:
    """/walkin for a volunteer (zone chair); returns what the bot says after the phone."""
    assert "ชื่อและนามสกุล" in await say(staff, "/walkin")
    assert "เป็นใคร" in await say(staff, name)
    await staff.press("อาสาสมัครแรงงาน")
    await staff.next_reply()
    assert "บทบาท" in await say(staff, district)
    await staff.press("ประธานโซน")
    assert "เบอร์โทร" in text_of(await staff.next_reply())
    if phone is None:
        await staff.press("ไม่มีเบอร์โทร")
        return text_of(await staff.next_reply())
    return await say(staff, phone)


# ---------------------------------------------------------------------------------------------
# /walkin


async def test_walkin_is_registered_and_checked_in(bot: BotHarness, telegram: FakeTelegram) -> None:
    event = await open_event(bot)
    staff, staff_person = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    volunteer, _ = await member(bot, telegram, "อาสา ธรรมดา")
    assert "ไม่มีสิทธิ์" in await say(volunteer, "/walkin")

    assert "ชื่อและนามสกุล" in await say(staff, "/walkin")
    await staff.send_sticker()
    assert text_of(await staff.next_reply()) == HINT
    assert "ชื่อและนามสกุล" in text_of(await staff.next_reply())
    assert "อักขระ" in await say(staff, "Robert'); DROP TABLE person;--")
    assert "เป็นใคร" in await say(staff, "บุญมี มาเอง")
    await staff.press("อาสาสมัครแรงงาน")
    district_question = await staff.next_reply()
    assert "เขตใด" in text_of(district_question)
    assert "ข้าม" not in district_question.button_texts  # volunteers give a district
    assert "ไม่พบเขต" in await say(staff, "Atlantis")
    assert "บทบาท" in await say(staff, "คลองเตย")  # an exact name: no extra tap
    await staff.press("ประธานโซน")
    assert "เบอร์โทร" in text_of(await staff.next_reply())
    assert "สั้นเกินไป" in await say(staff, "12345")
    summary = await say(staff, "081 234 5678")
    assert "ตรวจสอบข้อมูล" in summary
    assert "081-234-5678" in summary
    assert "คลองเตย · โซน 3" in summary
    await staff.press("✅ บันทึกและเช็กอิน")
    done = await staff.wait_for(lambda m: m.shown_text.startswith("✅ บันทึก"))
    assert f"บุญมี มาเอง และเช็กอินเข้า «{event.title}»" in done.shown_text

    async with bot.sessions() as session:
        [walkin] = (await session.exec(select(Person).where(Person.is_walkin))).all()
    assert (walkin.full_name, walkin.telegram_id, walkin.phone, walkin.district_code) == (
        "บุญมี มาเอง",
        None,
        "+66812345678",
        "1033",
    )
    assert (walkin.volunteer_role, walkin.created_by_id) == ("zone_chair", staff_person.id)
    [row] = await check_ins(bot)
    assert (row.person_id, row.method, row.performed_by_id) == (
        walkin.id,
        "walkin",
        staff_person.id,
    )


async def test_walkin_without_a_phone_and_with_an_edit(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    await open_event(bot)
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.ORGANISER)
    summary_text = await enter_walkin(staff, phone=None)
    assert "เบอร์โทรศัพท์: —" in summary_text
    summary = staff.messages[-1]
    await staff.press("✏️ แก้ประเภท", message=summary)
    who = await staff.next_reply()
    await staff.press("วิทยากร", message=who)
    summary = await staff.next_reply()  # district kept, no role for a speaker
    assert "บทบาท" not in text_of(summary)
    await staff.press("✅ บันทึกและเช็กอิน", message=summary)
    await staff.wait_for(lambda m: m.shown_text.startswith("✅ บันทึก"))
    [walkin] = [p for p in await people(bot) if p.is_walkin]
    assert (walkin.phone, walkin.participant_type, walkin.volunteer_role) == (
        None,
        "speaker",
        None,
    )
    assert walkin.district_code == "1033"


async def test_walkin_with_no_open_event(bot: BotHarness, telegram: FakeTelegram) -> None:
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    assert "ยังไม่มีกิจกรรมที่เปิดเช็กอิน" in await say(staff, "/walkin")
    assert "ไม่เข้าใจ" in await say(staff, "บุญมี มาเอง")  # no flow was left open


async def test_walkin_asks_the_event_when_several_are_open(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    await open_event(bot, title="ห้องประชุม 1")
    second = await open_event(bot, title="ห้องประชุม 2")
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    await staff.send("/walkin")
    choice = await staff.next_reply()
    assert choice.button_texts == ["ห้องประชุม 1", "ห้องประชุม 2"]
    assert await say(staff, "ห้องประชุม 1") == HINT
    choice = await staff.next_reply()  # asked again
    await staff.press("ห้องประชุม 2", message=choice)
    assert "ชื่อและนามสกุล" in text_of(await staff.next_reply())
    assert "ยกเลิก" in await say(staff, "/cancel")
    await staff.send("/walkin")
    choice = await staff.next_reply()
    await staff.press("ห้องประชุม 2", message=choice)
    await staff.next_reply()
    await enter_walkin_rest(staff)
    [row] = await check_ins(bot)
    assert row.event_id == second.id


async def enter_walkin_rest(staff: Chat) -> None:
    """From the name question on: an observer without district or phone, saved."""
    await staff.send("มานี มีตา")
    await staff.next_reply()
    await staff.press("ผู้สังเกตการณ์")
    await staff.next_reply()
    await staff.press("ข้าม")
    await staff.next_reply()
    await staff.press("ไม่มีเบอร์โทร")
    await staff.next_reply()
    await staff.press("✅ บันทึกและเช็กอิน")
    await staff.wait_for(lambda m: m.shown_text.startswith("✅ บันทึก"))


# ---------------------------------------------------------------------------------------------
# Nobody counted twice


async def test_a_walkin_with_a_registered_phone_is_that_person(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    volunteer = telegram.person()
    await register_volunteer(volunteer, TH, name="สมชาย ใจดี", by_contact=True)
    registered = await person_row(bot, volunteer.user_id)
    assert registered is not None
    staff, staff_person = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)

    # Staff enter her at the door with the same name and number: the bot shows the match.
    known = await enter_walkin(staff, name="สมชาย ใจดี")
    assert "อาจมีรายชื่ออยู่แล้ว" in known
    assert "08x-xxx-5678" in known  # the number, partly hidden
    assert "ลงทะเบียนทางเทเลแกรม" in known
    await staff.press("✅ ใช่ คนที่ 1: สมชาย ใจดี")
    done = await staff.wait_for(lambda m: m.shown_text.startswith("✅ เช็กอิน"))
    assert "ไม่ได้เพิ่มรายชื่อใหม่" in text_of(done)

    # She scans the QR code as well: already checked in, and still one person.
    await volunteer.send(f"/start ci-{event.token}")
    assert "เช็กอินแล้วเมื่อ" in text_of(await volunteer.next_reply())
    assert [p.id for p in await people(bot) if p.full_name == "สมชาย ใจดี"] == [registered.id]
    [row] = await check_ins(bot)
    assert (row.person_id, row.method, row.performed_by_id) == (
        registered.id,
        "staff",
        staff_person.id,
    )
    assert await people_checked_in(bot, event.id or 0) == 1
    # A staff search by the number finds her once.
    await staff.send("/checkin_for 0812345678")
    assert len((await staff.next_reply()).button_texts) == 1


async def test_a_walkin_like_someone_by_name_and_district_may_be_someone_new(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    async with bot.sessions() as session:
        await make_person(session, full_name="บุญมี มาเอง", district_code="1033")
    known = await enter_walkin(staff, phone="0898765432")
    assert "อาจมีรายชื่ออยู่แล้ว" in known
    await staff.press("➕ ไม่ใช่ เป็นผู้เข้าร่วมใหม่")
    summary = await staff.next_reply()
    assert "ตรวจสอบข้อมูล" in text_of(summary)
    await staff.press("✅ บันทึกและเช็กอิน", message=summary)
    await staff.wait_for(lambda m: m.shown_text.startswith("✅ บันทึก"))
    assert len(await people(bot)) == 3  # staff, the first Boonmee, the new one
    assert await people_checked_in(bot, event.id or 0) == 1


async def test_a_walkin_who_registers_by_sharing_the_same_number_is_linked(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    summary = await enter_walkin(staff, name="สมชาย ใจดี")
    assert "ตรวจสอบข้อมูล" in summary
    await staff.press("✅ บันทึกและเช็กอิน")
    await staff.wait_for(lambda m: m.shown_text.startswith("✅ บันทึก"))
    [walkin] = [p for p in await people(bot) if p.is_walkin]

    # Later she registers on Telegram, sharing her own number: the walk-in record is hers.
    volunteer = telegram.person()
    welcome = await register_volunteer(volunteer, TH, by_contact=True)
    assert "ถูกรวมเข้ากับบัญชีของท่านแล้ว" in text_of(welcome)
    registered = await person_row(bot, volunteer.user_id)
    assert registered is not None
    async with bot.sessions() as session:
        merged = await session.get(Person, walkin.id)
        assert merged is not None
        assert merged.merged_into_id == registered.id
        [record] = (await session.exec(select(PersonMerge))).all()
        assert (record.kept_id, record.merged_id, record.reason) == (
            registered.id,
            walkin.id,
            "contact",
        )
        merge_audit = (
            await session.exec(select(AuditEntry).where(AuditEntry.action == "person.merge"))
        ).one()
        assert "phone" not in str(merge_audit.detail)
    [row] = await check_ins(bot)
    assert row.person_id == registered.id  # no check-in points at the merged-away record
    assert await people_checked_in(bot, event.id or 0) == 1
    await volunteer.send(f"/start ci-{event.token}")
    assert "เช็กอินแล้วเมื่อ" in text_of(await volunteer.next_reply())


async def test_a_typed_number_is_offered_to_staff_who_merge_and_undo(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    event = await open_event(bot)
    staff, staff_person = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    await enter_walkin(staff, name="สมชาย ใจดี")
    await staff.press("✅ บันทึกและเช็กอิน")
    await staff.wait_for(lambda m: m.shown_text.startswith("✅ บันทึก"))
    [walkin] = [p for p in await people(bot) if p.is_walkin]
    volunteer = telegram.person()
    welcome = await register_volunteer(volunteer, TH, by_contact=False)  # typed: no proof
    assert "ถูกรวม" not in text_of(welcome)
    registered = await person_row(bot, volunteer.user_id)
    assert registered is not None
    assert await people_checked_in(bot, event.id or 0) == 1
    [row] = await check_ins(bot)
    assert row.person_id == walkin.id

    # Staff see the pair in /merge, look at it, and merge it.
    assert "ไม่มีสิทธิ์" in await say(volunteer, "/merge")
    await staff.send("/merge")
    overview = await staff.next_reply()
    assert "อาจเป็นคนเดียวกัน 1 คู่" in text_of(overview)
    assert "08x-xxx-5678" in text_of(overview)
    await staff.press("ดูคู่ที่ 1", message=overview)
    pair = await staff.next_reply()
    assert "บันทึกหน้างาน" in text_of(pair)
    assert "ลงทะเบียนทางเทเลแกรม" in text_of(pair)
    # A forged merge the other way round (a Telegram record merged away) is refused.
    await staff.press_data(f"mg:m:{walkin.id}:{registered.id}", message=pair)
    assert "ไม่ได้" in (await staff.wait_for_answer())["text"]
    await staff.press("✅ เป็นคนเดียวกัน รวมเลย", message=pair)
    merged_message = await staff.wait_for_edit(pair)
    assert "รวมเป็นคนเดียวกันแล้ว" in text_of(merged_message)
    [row] = await check_ins(bot)
    assert row.person_id == registered.id
    assert await people_checked_in(bot, event.id or 0) == 1
    async with bot.sessions() as session:
        gone = await session.get(Person, walkin.id)
        assert gone is not None
        assert gone.merged_into_id == registered.id
    # Staff searching the number now find one person, not two.
    await staff.send("/checkin_for 0812345678")
    assert len((await staff.next_reply()).button_texts) == 1
    # Pressing merge again changes nothing.
    await staff.press_data(f"mg:m:{registered.id}:{walkin.id}", message=merged_message)
    assert "ไม่ได้" in (await staff.wait_for_answer())["text"]

    # /merge now lists it under the latest merges; undo puts everything back.
    await staff.send("/merge")
    overview = await staff.next_reply()
    assert "ไม่พบรายชื่อที่อาจซ้ำกัน" in text_of(overview)
    await staff.press("↩️", message=overview)
    assert "ยกเลิกการรวมแล้ว" in text_of(await staff.wait_for_edit(overview))
    [row] = await check_ins(bot)
    assert row.person_id == walkin.id
    async with bot.sessions() as session:
        back = await session.get(Person, walkin.id)
        assert back is not None
        assert back.merged_into_id is None
        actions = (
            await session.exec(
                select(AuditEntry.action, AuditEntry.actor_id).where(
                    col(AuditEntry.action).startswith("person.")
                )
            )
        ).all()
    assert [tuple(a) for a in actions] == [
        ("person.merge", staff_person.id),
        ("person.unmerge", staff_person.id),
    ]


async def test_coordinators_are_never_offered_walkin_or_merge(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    await open_event(bot)
    coordinator, _ = await member(bot, telegram, "ผู้ประสาน งาน", Role.COORDINATOR, zone=3)
    help_text = await say(coordinator, "/help")
    assert "/checkin_for" in help_text
    assert "/walkin" not in help_text
    assert "/merge" not in help_text
    assert "ไม่มีสิทธิ์" in await say(coordinator, "/walkin")
    assert "ไม่มีสิทธิ์" in await say(coordinator, "/merge")
    await coordinator.press_data("mg:m:1:2", message=coordinator.messages[0])
    assert "ไม่มีสิทธิ์" in (await coordinator.wait_for_answer())["text"]
    await coordinator.press_data("mg:u:1", message=coordinator.messages[0])
    assert "ไม่มีสิทธิ์" in (await coordinator.wait_for_answer())["text"]
    await coordinator.press_data("mg:p:1:99999999999", message=coordinator.messages[0])
    assert (await coordinator.wait_for_answer())["text"]
    await bot.settle()
    assert await check_ins(bot) == []
    async with bot.sessions() as session:
        assert (await session.exec(select(PersonMerge))).all() == []


async def test_merge_by_phone_and_its_usage(bot: BotHarness, telegram: FakeTelegram) -> None:
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.ADMIN)
    async with bot.sessions() as session:
        first = await make_person(session, full_name="วิไล สุขใจ", phone="+66898765432")
        second = await make_person(session, full_name="วิไล สุขใจ", phone="+66898765432")
        for record in (first, second):
            record.is_walkin = True
            session.add(record)
        await session.commit()
    assert "/merge 081-234-5678" in await say(staff, "/merge hello")
    assert "ไม่พบ" in await say(staff, "/merge 081 234 5678")
    await staff.send("/merge 089-876-5432")
    overview = await staff.next_reply()
    assert "1 คู่" in text_of(overview)
    await staff.press("ดูคู่ที่ 1", message=overview)
    pair = await staff.next_reply()
    await staff.press("✖️ ไม่ใช่คนเดียวกัน", message=pair)
    assert "แยกกันเหมือนเดิม" in text_of(await staff.wait_for_edit(pair))
    await staff.press("ดูคู่ที่ 1", message=overview)
    pair = await staff.next_reply()
    await staff.press("✅ เป็นคนเดียวกัน รวมเลย", message=pair)
    await staff.wait_for_edit(pair)
    async with bot.sessions() as session:
        older = await session.get(Person, first.id)
        newer = await session.get(Person, second.id)
    assert older is not None
    assert newer is not None
    # Two walk-ins: the older record stays.
    assert (older.merged_into_id, newer.merged_into_id) == (None, first.id)


async def test_only_a_person_registering_is_offered_the_contact_button(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    """The same phone step: staff at the door get "no phone" (their own contact would be the
    wrong number); a person registering gets Telegram's "share my phone number"."""
    await open_event(bot)
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    await staff.send("/walkin")
    await staff.next_reply()
    await staff.send("มานี มีตา")
    await staff.next_reply()
    await staff.press("ผู้สังเกตการณ์")
    await staff.next_reply()
    await staff.press("ข้าม")
    phone_question = await staff.next_reply()
    assert phone_question.keyboard is None
    assert phone_question.button_texts == ["ไม่มีเบอร์โทร"]
    person = telegram.person()
    who = await begin(person, TH)
    await person.press("ผู้สังเกตการณ์", message=who)
    await person.next_reply()
    await answer_name(person, "มานี มีตา")


async def test_save_pressed_again_after_a_crash_writes_one_record(
    bot: BotHarness, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk-in and the end of the flow are one transaction: "save" delivered again after
    the process died right after the record was written finds the flow over, so the person
    is one record, counted once."""
    event = await open_event(bot)
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.ORGANISER)
    await enter_walkin(staff, phone=None)
    summary = staff.messages[-1]
    [data] = [b["callback_data"] for b in summary.inline_buttons if b["text"] == "✅ บันทึกและเช็กอิน"]

    async def dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(flows, "end_flow", dies)
    await staff.press("✅ บันทึกและเช็กอิน", message=summary)
    await bot.settle()
    monkeypatch.undo()
    await staff.press_data(data, message=summary)
    assert (await staff.wait_for_answer())["text"] == "ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด"
    await bot.settle()
    assert len([p for p in await people(bot) if p.is_walkin]) == 1
    assert await people_checked_in(bot, event.id or 0) == 1
