"""/profile, /mydata and /forget end to end, in Thai and English."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, col, func, select

from bot.handlers.start import PURGE_JOB
from storage.models import (
    AuditEntry,
    ChatState,
    CheckIn,
    CheckInMethod,
    Event,
    Person,
    Registration,
)

# The same human-pace fixtures as the registration tests (pytest finds imported fixtures).
from tests.e2e.test_registration import (  # noqa: F401
    EN,
    REGISTERED_MENU,
    TH,
    WORDS,
    _human_pace,
    chat_state,
    menu_of,
    no_draft_left,
    no_trace_of,
    nonce_of,
    people_count,
    person_row,
    register_volunteer,
    settings,
    text_of,
)
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness

PHONE_FORMS = ("+66812345678", "66812345678", "0812345678", "081-234-5678", "812345678")


async def test_profile_edit_goes_through_the_same_step_and_saves_on_confirm(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await register_volunteer(person, TH)
    await person.send("/profile")
    profile = await person.next_reply()
    assert text_of(profile).startswith("ข้อมูลของท่าน")
    assert "สมชาย ใจดี" in text_of(profile)
    assert "081-234-5678" in text_of(profile)
    assert "คลองเตย · โซน 3" in text_of(profile)
    assert profile.button_texts[0] == "✔️ เสร็จสิ้น"
    await person.press("✏️ แก้ชื่อ", message=profile)
    await person.next_reply()  # the name question
    await person.send("ก")
    assert "สั้นเกินไป" in text_of(await person.next_reply())
    await person.send("สมหญิง รักงาน")
    changed = await person.next_reply()
    assert "สมหญิง รักงาน" in text_of(changed)
    assert changed.button_texts[:2] == ["💾 บันทึกการแก้ไข", "✖️ ไม่บันทึก"]
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert row.full_name == "สมชาย ใจดี"
    await person.press("💾 บันทึกการแก้ไข", message=changed)
    assert text_of(await person.next_reply()) == "บันทึกการแก้ไขข้อมูลแล้ว"
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert row.full_name == "สมหญิง รักงาน"
    assert row.phone == "+66812345678"
    assert row.district_code == "1033"
    assert await people_count(bot) == 1
    await bot.settle()
    assert await no_draft_left(bot, person.user_id)


async def test_profile_changes_can_be_discarded_and_old_buttons_are_stale(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await register_volunteer(person, EN, name="Somchai Jaidee")
    await person.send("/profile")
    profile = await person.next_reply()
    first_nonce = nonce_of(profile)
    await person.press("✏️ Phone", message=profile)
    phone_question = await person.next_reply()
    assert phone_question.keyboard is not None
    await person.send("02 123 4567")
    saved = await person.next_reply()
    assert saved.removes_keyboard
    changed = await person.next_reply()
    assert "02-123-4567" in text_of(changed)
    await person.press("✏️ District", message=changed)
    await person.next_reply()
    await person.send("บางนา")
    changed = await person.next_reply()
    assert "Bang Na · Zone 3" in text_of(changed)
    await person.press("✖️ Discard changes", message=changed)
    assert "discarded" in text_of(await person.next_reply())
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert (row.phone, row.district_code) == ("+66812345678", "1033")
    # The first profile message's buttons no longer do anything.
    await person.press_data(f"~{first_nonce}:edit:full_name", message=profile)
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale


async def test_profile_and_mydata_need_a_registration(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await person.send("/profile")
    assert "/start" in text_of(await person.next_reply())
    await person.send("/mydata")
    assert "กรุณาลงทะเบียนก่อน" in text_of(await person.next_reply())
    await person.send("/forget")
    assert "กรุณาลงทะเบียนก่อน" in text_of(await person.next_reply())


async def add_event_with_check_in(bot: BotHarness, telegram_id: int) -> int:
    """An event the person registered for and attended, plus another attendee."""
    async with bot.sessions() as session:
        person = (await session.exec(select(Person).where(Person.telegram_id == telegram_id))).one()
        other = Person(full_name="Malee", phone="+66898765432", district_code="1033")
        now = bot.clock.now()
        event = Event(
            title="อบรมอาสาสมัครแรงงาน โซน 3",
            venue="ศูนย์ราชการ",
            starts_at=now - timedelta(hours=2),
            ends_at=now + timedelta(hours=1),
            code="ZONE3",
            token="tok-zone3",
        )
        session.add_all([other, event])
        await session.commit()
        assert event.id is not None
        assert person.id is not None
        assert other.id is not None
        for attendee in (person.id, other.id):
            session.add(Registration(event_id=event.id, person_id=attendee))
            session.add(
                CheckIn(
                    event_id=event.id,
                    person_id=attendee,
                    checked_in_at=now - timedelta(hours=1),
                    method=CheckInMethod.QR,
                )
            )
        await session.commit()
        return event.id


@pytest.mark.parametrize("lang", [TH, EN])
async def test_mydata_sends_a_readable_message_and_a_json_file(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    person = telegram.person(username="somchai")
    await register_volunteer(person, lang, name="Somchai Jaidee")
    event_id = await add_event_with_check_in(bot, person.user_id)
    await person.send("/mydata")
    readable = await person.next_reply()
    for expected in ("Somchai Jaidee", "081-234-5678", "อบรมอาสาสมัครแรงงาน โซน 3", "somchai"):
        assert expected in text_of(readable)
    assert ("คลองเตย" if lang == TH else "Khlong Toei") in text_of(readable)
    assert ("ประธานโซน" if lang == TH else "Zone chair") in text_of(readable)
    document = await person.next_reply()
    assert document.kind == "document"
    assert document.file_name == "asa-mydata.json"
    assert document.file_bytes is not None
    data = json.loads(document.file_bytes.decode("utf-8"))
    assert data["profile"]["full_name"] == "Somchai Jaidee"
    assert data["profile"]["phone"] == "+66812345678"
    assert data["profile"]["telegram_id"] == person.user_id
    assert data["consent"]["notice_version"] == bot.settings.bot.privacy_notice_version
    assert [item["event_id"] for item in data["registrations"]] == [event_id]
    assert [item["event_id"] for item in data["check_ins"]] == [event_id]


async def headcount(bot: BotHarness, event_id: int) -> list[tuple[object, ...]]:
    """Check-ins per district and group for one event, as a simple SQL count."""
    statement = (
        select(Person.district_code, Person.participant_type, func.count())
        .join(CheckIn, col(CheckIn.person_id) == col(Person.id))
        .where(CheckIn.event_id == event_id)
        .group_by(col(Person.district_code), col(Person.participant_type))
        .order_by(col(Person.district_code), col(Person.participant_type))
    )
    async with bot.sessions() as session:
        return [tuple(row) for row in (await session.exec(statement)).all()]


async def every_stored_value(bot: BotHarness) -> str:
    """Every value of every row of every table, as one text to search."""
    values: list[str] = []
    async with bot.sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            rows = await session.exec(text(f'SELECT * FROM "{table.name}"'))  # noqa: S608
            values += [" ".join(str(value) for value in row) for row in rows.all()]
    return "\n".join(values)


@pytest.mark.parametrize("lang", [TH, EN])
async def test_forget_erases_personal_data_but_keeps_headcounts(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    person = telegram.person(username="somchai")
    await register_volunteer(person, lang, name="Somchai Jaidee")
    event_id = await add_event_with_check_in(bot, person.user_id)
    before = await headcount(bot, event_id)
    assert sum(int(str(row[2])) for row in before) == 2
    registered = await person_row(bot, person.user_id)
    assert registered is not None
    assert menu_of(telegram, person) >= REGISTERED_MENU
    # Half-way through a profile change (the draft holds the name and phone too).
    await person.send("/profile")
    await person.next_reply()

    await person.send("/forget")
    assert "ℹ️" in text_of(await person.next_reply())  # the profile change is dropped
    first = await person.next_reply()
    await person.press(WORDS[lang].forget_no, message=first)
    kept = await person.wait_for_edit(first)
    assert kept.button_texts == []
    assert await person_row(bot, person.user_id) is not None

    await person.send("/forget")
    older = await person.next_reply()
    older_nonce = nonce_of(older)
    await person.send("/forget")
    confirm = await person.next_reply()
    await person.press_data(f"~{older_nonce}:yes", message=older)  # an older one does nothing
    assert (await person.wait_for_answer())["text"] == WORDS[lang].stale
    assert await person_row(bot, person.user_id) is not None
    await person.press(WORDS[lang].forget_yes, message=confirm)
    done = await person.wait_for_edit(confirm)
    assert "/start" in text_of(done)
    await bot.settle()

    assert await person_row(bot, person.user_id) is None
    assert await headcount(bot, event_id) == before
    async with bot.sessions() as session:
        erased = await session.get(Person, registered.id)
        assert erased is not None
        assert erased.erased_at is not None
        for field in ("full_name", "phone", "telegram_id", "telegram_username", "consent_at"):
            assert getattr(erased, field) is None, field
        assert (erased.participant_type, erased.district_code, erased.volunteer_role) == (
            "volunteer",
            "1033",
            "zone_chair",
        )
        audit = (await session.exec(select(AuditEntry))).all()
        assert [entry.action for entry in audit] == ["person.erase"]
        assert await session.get(ChatState, person.user_id) is None
    # Nothing of the person is left anywhere: no table, no draft, no chat state.
    stored = await every_stored_value(bot)
    for personal in ("Somchai", "Jaidee", "somchai", *PHONE_FORMS):
        assert personal not in stored, personal
    assert await no_trace_of(bot, person.user_id)
    # The newcomer's menu again: the registered commands are gone from it.
    assert not REGISTERED_MENU & menu_of(telegram, person)

    sent_before = len(person.messages)
    await person.send("/mydata")
    assert "กรุณาลงทะเบียนก่อน" in text_of(await person.next_reply())
    await person.send("/help")
    await person.next_reply()
    # One answer to /mydata, one to /help: no document with the erased data in between.
    assert len(person.messages) == sent_before + 2
    assert all(message.kind != "document" for message in person.messages[sent_before:])
    # The person may register again, as someone new.
    await register_volunteer(person, TH)
    assert await people_count(bot) == 3


async def test_the_daily_retention_sweep_erases_people_inactive_too_long(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    idle, active, wanderer = telegram.person(), telegram.person(), telegram.person()
    await register_volunteer(idle, TH)
    await register_volunteer(active, EN, name="Malee Srisuk")
    # Someone who started registering and walked away: their draft holds a name.
    await wanderer.send("/start")
    greeting = await wanderer.next_reply()
    await wanderer.press("English", message=greeting)
    await wanderer.press("✅ I agree", message=await wanderer.next_reply())
    await wanderer.replies(2)
    await wanderer.press("Observer")
    await wanderer.next_reply()
    await wanderer.send("Wanda Away")
    await wanderer.next_reply()
    assert (await chat_state(bot, wanderer.user_id)) is not None

    retention = timedelta(days=bot.settings.bot.data_retention_days)
    async with bot.sessions() as session:
        row = (await session.exec(select(Person).where(Person.telegram_id == idle.user_id))).one()
        row.last_active_at = bot.clock.now() - retention - timedelta(days=1)
        session.add(row)
        await session.commit()
    bot.clock.advance(timedelta(hours=2))
    application = bot.application
    assert application is not None
    assert application.job_queue is not None
    jobs = application.job_queue.get_jobs_by_name(PURGE_JOB)
    assert len(jobs) == 1
    await jobs[0].run(application)
    await bot.settle()

    assert await person_row(bot, idle.user_id) is None
    assert await person_row(bot, active.user_id) is not None
    assert await no_trace_of(bot, idle.user_id)
    assert not REGISTERED_MENU & menu_of(telegram, idle)
    async with bot.sessions() as session:
        audit = (await session.exec(select(AuditEntry))).one()
    assert (audit.action, audit.detail) == ("person.erase", {"reason": "retention"})
    assert await no_draft_left(bot, wanderer.user_id)
    assert "Wanda" not in await every_stored_value(bot)
    await idle.send("/start")
    assert (await idle.next_reply()).button_texts == ["ภาษาไทย", "English"]
