"""Registration end to end, in Thai and English, over the fake Telegram."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import func, select
from telegram import Update

from bot.config import Settings
from bot.handlers import checkin
from bot.services.checkins import OVERRIDE_CLOSED
from storage.models import ChatState, CheckIn, Event, Person
from tests import harness
from tests.factories import make_event
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.models import SentMessage
from tests.fake_telegram.people import Person as Chat
from tests.harness import BotHarness

TH, EN = "th", "en"
WELCOME_COMMANDS = ("/events", "/checkin", "/profile", "/mydata", "/help")
REGISTERED_MENU = {"checkout", "profile", "mydata", "forget"}


@dataclass(frozen=True)
class Words:
    """What a person presses or reads, per language."""

    language: str
    agree: str
    decline: str
    volunteer: str
    official: str
    speaker: str
    zone_chair: str
    confirm: str
    skip: str
    welcome: str
    not_yours: str
    stale: str
    hint: str
    not_registered: str
    invalid: str
    forget_yes: str
    forget_no: str


WORDS = {
    TH: Words(
        language="ภาษาไทย",
        agree="✅ ยินยอม",
        decline="✖️ ไม่ยินยอม",
        volunteer="อาสาสมัครแรงงาน",
        official="เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน",
        speaker="วิทยากร",
        zone_chair="ประธานโซน",
        confirm="✅ ยืนยัน",
        skip="ข้าม",
        welcome="ลงทะเบียนเรียบร้อยแล้ว",
        not_yours="ไม่ใช่ของท่าน",
        stale="ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด",
        hint="กรุณาตอบคำถามด้านล่าง หรือพิมพ์ /cancel เพื่อยกเลิก",
        not_registered="กรุณาลงทะเบียนก่อน",
        invalid="ข้อมูลบางส่วนยังไม่ครบหรือไม่ถูกต้อง",
        forget_yes="🗑 ลบข้อมูลของฉัน",
        forget_no="ไม่ลบ",
    ),
    EN: Words(
        language="English",
        agree="✅ I agree",
        decline="✖️ I don't agree",
        volunteer="Labour volunteer",
        official="Official of a Ministry of Labour agency",
        speaker="Speaker",
        zone_chair="Zone chair",
        confirm="✅ Confirm",
        skip="Skip",
        welcome="You are registered",
        not_yours="not yours",
        stale="This button has expired; please use the latest message.",
        hint="Please answer the question below, or send /cancel to stop.",
        not_registered="Please register first",
        invalid="no longer valid",
        forget_yes="🗑 Yes, erase my data",
        forget_no="No, keep it",
    ),
}


@pytest.fixture(autouse=True)
def _human_pace(telegram: FakeTelegram) -> None:
    """People answer at human speed; these tests race through a flow far faster than the
    per-chat limit (about one message a second) the fake enforces, which is not under test."""
    telegram.set_rate_limits(enabled=False)


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """The usual test settings, with flood control loose enough for a test's typing speed."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


# ---------------------------------------------------------------------------------------------
# Helpers (also used by test_profile.py, test_walkin.py and test_logs.py)
# ---------------------------------------------------------------------------------------------


def text_of(message: SentMessage) -> str:
    """The text a person reads."""
    return message.shown_text


async def people_count(bot: BotHarness) -> int:
    """Rows in the person table."""
    async with bot.sessions() as session:
        return int((await session.exec(select(func.count()).select_from(Person))).one())


async def person_row(bot: BotHarness, telegram_id: int) -> Person | None:
    """The person registered with this Telegram id."""
    async with bot.sessions() as session:
        statement = select(Person).where(Person.telegram_id == telegram_id)
        return (await session.exec(statement)).first()


async def chat_state(bot: BotHarness, telegram_id: int) -> ChatState | None:
    """A person's chat state row (language, open flow, draft)."""
    async with bot.sessions() as session:
        return await session.get(ChatState, telegram_id)


async def draft_of(bot: BotHarness, telegram_id: int) -> dict[str, Any]:
    """The open flow's draft, as stored."""
    state = await chat_state(bot, telegram_id)
    assert state is not None
    return dict(state.draft)


async def set_draft(bot: BotHarness, telegram_id: int, draft: dict[str, Any]) -> None:
    """Overwrite the stored draft (as a damaged row or a changed rule would)."""
    async with bot.sessions() as session:
        state = await session.get(ChatState, telegram_id)
        assert state is not None
        state.draft = draft
        session.add(state)
        await session.commit()


async def no_trace_of(bot: BotHarness, telegram_id: int) -> bool:
    """No chat state of this person is stored (the only per-chat state there is)."""
    async with bot.sessions() as session:
        return await session.get(ChatState, telegram_id) is None


async def no_draft_left(bot: BotHarness, telegram_id: int) -> bool:
    """No flow is open and nothing of a draft is kept."""
    state = await chat_state(bot, telegram_id)
    return state is None or (state.flow is None and state.draft == {})


def nonce_of(message: SentMessage) -> str:
    """The nonce in a flow question's buttons (to forge a payload a client could send)."""
    data = message.buttons[0][0][1]
    assert data is not None
    assert data.startswith("~")
    return data[1:].split(":", 1)[0]


def menu_of(telegram: FakeTelegram, chat: Chat) -> set[str]:
    """The commands in a person's own menu."""
    commands = telegram.commands_for({"type": "chat", "chat_id": chat.chat_id}) or []
    return {command["command"] for command in commands}


async def begin(person: Chat, lang: str) -> SentMessage:
    """/start, choose the language, agree: returns the 'who are you' question."""
    words = WORDS[lang]
    await person.send("/start")
    greeting = await person.next_reply()
    assert greeting.button_texts == ["ภาษาไทย", "English"]
    await person.press(words.language, message=greeting)
    notice = await person.next_reply()
    assert "/mydata" in text_of(notice)
    assert "/forget" in text_of(notice)
    await person.press(words.agree, message=notice)
    await person.next_reply()  # thanks
    who = await person.next_reply()
    assert len(who.button_texts) == 6
    return who


async def answer_name(person: Chat, name: str) -> SentMessage:
    """Type the name: returns the phone question."""
    await person.send(name)
    phone_question = await person.next_reply()
    assert phone_question.keyboard is not None
    assert phone_question.keyboard[0][0].request_contact
    return phone_question


async def to_phone(person: Chat, lang: str, kind: str, name: str) -> SentMessage:
    """A registration as `kind` (no agency) up to the phone question, which it returns."""
    who = await begin(person, lang)
    await person.press(kind, message=who)
    await person.next_reply()  # name question
    return await answer_name(person, name)


async def to_district(
    person: Chat,
    lang: str,
    kind: str,
    *,
    name: str = "Somchai Jaidee",
    phone: str = "0812345678",
) -> SentMessage:
    """A registration as `kind` (no agency) up to the district question, which it returns."""
    await to_phone(person, lang, kind, name)
    await person.send(phone)
    await person.next_reply()  # phone saved
    return await person.next_reply()


async def skip_to_summary(person: Chat, lang: str, kind: str) -> SentMessage:
    """A registration as `kind` (not a volunteer) up to the summary, skipping the district."""
    district_question = await to_district(person, lang, kind)
    await person.press(WORDS[lang].skip, message=district_question)
    return await person.next_reply()


async def register_volunteer(
    person: Chat, lang: str = TH, *, name: str = "สมชาย ใจดี", by_contact: bool = True
) -> SentMessage:
    """A whole volunteer registration in Khlong Toei as zone chair; returns the welcome."""
    words = WORDS[lang]
    who = await begin(person, lang)
    await person.press(words.volunteer, message=who)
    await person.next_reply()  # name question
    await answer_name(person, name)
    if by_contact:
        await person.share_contact("66812345678")
    else:
        await person.send("081 234 5678")
    saved = await person.next_reply()
    assert saved.removes_keyboard
    await person.next_reply()  # district question
    await person.send("คลองเตย" if lang == TH else "khlong toei")  # exact: taken at once
    await person.next_reply()  # role question
    await person.press(words.zone_chair)
    summary = await person.next_reply()
    await person.press(words.confirm, message=summary)
    return await person.wait_for(lambda m: words.welcome in text_of(m))


# ---------------------------------------------------------------------------------------------
# Full registrations
# ---------------------------------------------------------------------------------------------


async def test_a_thai_volunteer_registers_with_the_contact_button(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person(username="somchai")
    who = await begin(person, TH)
    assert "ท่านเข้าร่วมในฐานะใด" in text_of(who)
    await person.press("อาสาสมัครแรงงาน", message=who)
    await person.wait_for_edit(who)
    assert "✅ อาสาสมัครแรงงาน" in text_of(who)  # the answer shows, the buttons go
    assert who.button_texts == []
    name_question = await person.next_reply()
    assert "ชื่อ-นามสกุล" in text_of(name_question)
    await answer_name(person, "  สมชาย   ใจดี  ")
    await person.share_contact("66812345678")
    saved = await person.next_reply()
    assert saved.removes_keyboard
    assert "081-234-5678" in text_of(saved)
    district_question = await person.next_reply()
    assert "ข้าม" not in district_question.button_texts  # volunteers may not skip
    await person.send("คลอง")
    matches = await person.next_reply()
    assert matches.button_texts[0] == "คลองเตย · โซน 3"
    await person.press("คลองเตย · โซน 3", message=matches)
    role_question = await person.next_reply()
    assert role_question.button_texts == [
        "อาสาสมัคร",
        "ประธานโซน",
        "ผู้ประสานงานโซน",
        "ประธานเครือข่ายแท็กซี่",
        "ผู้ประสานงานเครือข่ายแท็กซี่",
    ]
    assert await people_count(bot) == 0  # nothing written before the confirmation
    draft = await draft_of(bot, person.user_id)
    assert draft["person"]["phone"] == "+66812345678"
    assert draft["person"]["phone_shared"] is True
    await person.press("ประธานโซน", message=role_question)
    summary = await person.next_reply()
    for expected in ("สมชาย ใจดี", "081-234-5678", "คลองเตย · โซน 3", "ประธานโซน"):
        assert expected in text_of(summary)
    await person.press("✅ ยืนยัน", message=summary)
    welcome = await person.next_reply()
    assert text_of(welcome).startswith("ลงทะเบียนเรียบร้อยแล้ว")
    assert all(command in text_of(welcome) for command in WELCOME_COMMANDS)

    row = await person_row(bot, person.user_id)
    assert row is not None
    assert (row.full_name, row.phone, row.district_code) == (
        "สมชาย ใจดี",
        "+66812345678",
        "1033",
    )
    assert (row.participant_type, row.volunteer_role, row.agency) == (
        "volunteer",
        "zone_chair",
        None,
    )
    assert (row.language, row.telegram_username) == ("th", "somchai")
    assert row.consent_at is not None
    assert row.consent_version == bot.settings.bot.privacy_notice_version
    # The draft is gone; only the language stays in the chat state.
    await bot.settle()
    state = await chat_state(bot, person.user_id)
    assert state is not None
    assert (state.flow, state.draft, state.language) == (None, {}, "th")
    # A registered person's own command menu has the registered commands.
    assert menu_of(telegram, person) >= REGISTERED_MENU

    await person.send("/start")
    assert "สมชาย ใจดี" in text_of(await person.next_reply())


async def test_an_english_official_registers_with_a_typed_number(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person(language_code="en")
    who = await begin(person, EN)
    await person.press("Official of a Ministry of Labour agency", message=who)
    agency_question = await person.next_reply()
    assert agency_question.button_texts == [
        "Office of the Permanent Secretary",
        "Department of Employment",
        "Department of Skill Development",
        "Department of Labour Protection and Welfare",
        "Social Security Office",
    ]
    await person.press("Social Security Office", message=agency_question)
    await person.next_reply()  # name
    await answer_name(person, "Anan Rattanakosin")
    await person.send("081 234 5678")
    saved = await person.next_reply()
    assert saved.removes_keyboard
    assert "081-234-5678" in text_of(saved)
    district_question = await person.next_reply()
    assert "Skip" in district_question.button_texts  # optional for officials
    await person.send("khlong")
    matches = await person.next_reply()
    assert "Khlong Toei · Zone 3" in matches.button_texts
    assert any(text.startswith("Khlong Sam Wa") for text in matches.button_texts)
    await person.press("Khlong Toei · Zone 3", message=matches)
    summary = await person.next_reply()  # no role question for officials
    assert "Agency: Social Security Office" in text_of(summary)
    assert "Volunteer role" not in text_of(summary)
    await person.press("✅ Confirm", message=summary)
    welcome = await person.next_reply()
    assert all(command in text_of(welcome) for command in WELCOME_COMMANDS)
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert (row.participant_type, row.agency, row.volunteer_role, row.language) == (
        "official",
        "sso",
        None,
        "en",
    )
    assert row.phone == "+66812345678"
    # Typed, not shared: the draft said so (nothing is linked on a typed number).
    assert await no_draft_left(bot, person.user_id)


@pytest.mark.parametrize("lang", [TH, EN])
async def test_a_volunteer_registers_by_typed_number_in_either_language(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    person = telegram.person()
    welcome = await register_volunteer(person, lang, name="Somchai Jaidee", by_contact=False)
    assert all(command in text_of(welcome) for command in WELCOME_COMMANDS)
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert row.language == lang
    assert row.phone == "+66812345678"
    assert row.district_code == "1033"


@pytest.mark.parametrize(
    ("lang", "typed", "shown"),
    [(TH, "บางกะปิ", "✅ บางกะปิ · โซน 4"), (EN, "  BANG kapi ", "✅ Bang Kapi · Zone 4")],
)
async def test_an_exact_district_name_is_taken_without_a_tap(
    bot: BotHarness, telegram: FakeTelegram, lang: str, typed: str, shown: str
) -> None:
    person = telegram.person()
    await to_district(person, lang, WORDS[lang].volunteer)
    await person.send(typed)
    role_question = await person.next_reply()
    assert text_of(role_question).startswith(shown)
    assert WORDS[lang].zone_chair in role_question.button_texts
    assert (await draft_of(bot, person.user_id))["person"]["district_code"] == "1006"


async def test_districts_can_be_browsed_by_page_or_skipped(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    question = await to_district(
        person, EN, "Speaker", name="Dr. Malee Srisuk", phone="+66 81 234 5678"
    )
    await person.press("Browse all districts", message=question)
    page = await person.wait_for_edit(question)
    assert "1/5" in page.button_texts
    assert "›" in page.button_texts
    first_page = page.button_texts[:10]
    await person.press("›", message=page)
    page = await person.wait_for_edit(question)
    assert "2/5" in page.button_texts
    assert page.button_texts[:10] != first_page
    await person.press("‹", message=page)
    page = await person.wait_for_edit(question)
    assert page.button_texts[:10] == first_page
    await person.press("Skip", message=page)
    summary = await person.next_reply()
    assert "District: —" in text_of(summary)
    await person.press("✅ Confirm", message=summary)
    await person.next_reply()
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert row.district_code is None
    assert row.participant_type == "speaker"


# ---------------------------------------------------------------------------------------------
# Refusals and bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", [TH, EN])
async def test_bad_names_are_refused_with_an_example(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    person = telegram.person()
    who = await begin(person, lang)
    await person.press(WORDS[lang].volunteer, message=who)
    await person.next_reply()
    example = "สมชาย ใจดี" if lang == TH else "Somchai Jaidee"
    for bad in ("ก", "x" * 5000, "'; DROP TABLE person; --", "😀😀😀", "สมชาย 123", "\u0000\u0007"):
        await person.send(bad)
        refusal = await person.next_reply()
        assert example in text_of(refusal)
        assert "\n\n" in text_of(refusal)  # what was wrong, then the question
    await person.send_sticker()
    assert text_of(await person.next_reply()) == WORDS[lang].hint
    await person.next_reply()  # the name question again
    await answer_name(person, "สมชาย ใจดี")
    assert await people_count(bot) == 0


@pytest.mark.parametrize("lang", [TH, EN])
async def test_phone_refusals_someone_elses_contact_and_bad_numbers(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    person = telegram.person()
    friend = telegram.person(first_name="Malee")
    who = await begin(person, lang)
    await person.press(WORDS[lang].volunteer, message=who)
    await person.next_reply()
    await answer_name(person, "สมชาย ใจดี")
    await person.share_contact("66898765432", user_id=friend.user_id, first_name="Malee")
    refusal = await person.next_reply()
    assert WORDS[lang].not_yours in text_of(refusal)
    assert refusal.keyboard is not None  # the share button is offered again
    await person.share_contact("66898765432", user_id=None, first_name="Malee")
    assert WORDS[lang].not_yours in text_of(await person.next_reply())
    for bad in ("12345", "hello", "0812345678' OR 1=1", "9" * 5000):
        await person.send(bad)
        refusal = await person.next_reply()
        assert "081-234-5678" in text_of(refusal)
        assert refusal.keyboard is not None
    await person.send_photo()
    await person.next_reply()  # hint
    again = await person.next_reply()
    assert again.keyboard is not None
    await person.share_contact("+66812345678")
    saved = await person.next_reply()
    assert saved.removes_keyboard
    await person.next_reply()  # the district question (the draft is written before it)
    draft = await draft_of(bot, person.user_id)
    assert (draft["person"]["phone"], draft["person"]["phone_shared"]) == ("+66812345678", True)


async def test_unexpected_input_at_a_button_step_keeps_the_step(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    who = await begin(person, TH)
    words = WORDS[TH]
    await person.send_voice()
    assert text_of(await person.next_reply()) == words.hint
    who_again = await person.next_reply()
    assert who_again.button_texts == who.button_texts
    # Commands for registered people are refused; the registration stays where it is.
    await person.send("/profile")
    assert words.not_registered in text_of(await person.next_reply())
    await person.send("x" * 5000)
    assert text_of(await person.next_reply()) == words.hint
    latest = await person.next_reply()
    # A live question's nonce with a value that is not a choice changes nothing.
    await person.press_data(f"~{nonce_of(latest)}:astronaut", message=latest)
    assert (await person.wait_for_answer())["text"] == words.stale
    # Every copy is the same question: the first one's buttons work (a person scrolling up
    # presses the one they see), and once it is answered, the other copies are stale.
    await person.press(words.volunteer, message=who)
    assert "ชื่อ-นามสกุล" in text_of(await person.next_reply())
    await person.press(words.official, message=latest)
    assert (await person.wait_for_answer())["text"] == words.stale
    await bot.settle()
    draft = await draft_of(bot, person.user_id)
    assert draft["person"]["participant_type"] == "volunteer"


async def test_district_search_in_both_languages_and_no_match(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    question = await to_district(person, TH, "อาสาสมัครแรงงาน", name="สมชาย ใจดี")
    # A volunteer has no skip button; a forged one changes nothing.
    await person.press_data(f"~{nonce_of(question)}:skip", message=question)
    assert (await person.wait_for_answer())["text"] == WORDS[TH].stale
    await person.send("ไม่มีเขตนี้")
    none = await person.next_reply()
    assert "ไม่พบเขต" in text_of(none)
    await person.send("bang")
    matches = await person.next_reply()
    assert "บางกะปิ · โซน 4" in matches.button_texts
    await person.send("วัฒ")
    newer = await person.next_reply()
    # Only the latest results are live.
    await person.press("บางกะปิ · โซน 4", message=matches)
    assert (await person.wait_for_answer())["text"] == WORDS[TH].stale
    await person.press("วัฒนา · โซน 3", message=newer)
    role_question = await person.next_reply()
    assert "บทบาท" in text_of(role_question)
    assert (await draft_of(bot, person.user_id))["person"]["district_code"] == "1039"


# ---------------------------------------------------------------------------------------------
# Leaving, declining, restarting
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", [TH, EN])
async def test_declining_consent_stores_nothing(
    bot: BotHarness, telegram: FakeTelegram, lang: str
) -> None:
    person = telegram.person()
    await person.send("/start")
    greeting = await person.next_reply()
    await person.press(WORDS[lang].language, message=greeting)
    notice = await person.next_reply()
    await person.press(WORDS[lang].decline, message=notice)
    declined = await person.wait_for_edit(notice)
    assert "/start" in text_of(declined)
    assert declined.button_texts == []
    await bot.settle()
    assert await people_count(bot) == 0
    assert await no_trace_of(bot, person.user_id)  # not even the language
    # Starting again works, from the language.
    await person.send("/start")
    assert (await person.next_reply()).button_texts == ["ภาษาไทย", "English"]


async def test_cancel_mid_flow_leaves_no_person_and_no_draft(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await to_phone(person, TH, "อาสาสมัครแรงงาน", "สมชาย ใจดี")
    assert (await draft_of(bot, person.user_id))["person"]["full_name"] == "สมชาย ใจดี"
    await person.send("/cancel")
    cancelled = await person.next_reply()
    assert "ยกเลิกการลงทะเบียนแล้ว" in text_of(cancelled)
    await bot.settle()
    assert await people_count(bot) == 0
    assert await no_draft_left(bot, person.user_id)
    await person.send("0812345678")  # no longer in the flow: the fallback answers
    assert "ไม่เข้าใจ" in text_of(await person.next_reply())
    await person.send("/cancel")
    assert "ไม่มีรายการ" in text_of(await person.next_reply())


async def test_an_abandoned_registration_times_out_and_keeps_nothing(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await to_phone(person, EN, "Observer", "Somchai Jaidee")
    bot.clock.advance(timedelta(minutes=bot.settings.bot.flow_timeout_minutes + 1))
    await person.send("0812345678")
    expired = await person.next_reply()
    assert "registration" in text_of(expired)
    assert "timed out" in text_of(expired)
    assert "didn't understand" in text_of(await person.next_reply())
    await bot.settle()
    assert await no_draft_left(bot, person.user_id)
    assert await people_count(bot) == 0


async def test_a_restart_in_the_middle_of_the_flow_continues_it(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await to_phone(person, EN, "Labour volunteer", "Somchai Jaidee")
    await bot.restart()
    await person.send("0812345678")
    saved = await person.next_reply()
    assert "081-234-5678" in text_of(saved)
    question = await person.next_reply()
    await bot.restart()
    await person.press("Browse all districts", message=question)
    page = await person.wait_for_edit(question)
    await person.press("Bang Kapi", message=page)
    await person.next_reply()
    await bot.restart()
    await person.press("Zone chair")
    summary = await person.next_reply()
    assert "Somchai Jaidee" in text_of(summary)
    assert "Bang Kapi · Zone 4" in text_of(summary)
    await person.press("✅ Confirm", message=summary)
    await person.next_reply()
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert row.district_code == "1006"
    assert row.full_name == "Somchai Jaidee"


async def test_a_double_tap_on_confirm_creates_one_person(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    summary = await skip_to_summary(person, TH, "วิทยากร")
    presses = len(person.callback_answers)
    await person.press("✅ ยืนยัน", message=summary)
    await person.press_data(f"~{nonce_of(summary)}:ok", message=summary)
    await person.wait_for(lambda m: text_of(m).startswith(WORDS[TH].welcome))
    await bot.settle()
    assert len(person.callback_answers) == presses + 2
    assert await people_count(bot) == 1
    assert person.callback_answers[-1]["text"] == WORDS[TH].stale
    assert sum(text_of(m).startswith(WORDS[TH].welcome) for m in person.messages) == 1


async def test_summary_edits_go_through_the_same_steps(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    summary = await skip_to_summary(person, EN, "Observer")
    old_nonce = nonce_of(summary)
    await person.press("✏️ Participant", message=summary)
    who_again = await person.next_reply()
    await person.press("Labour volunteer", message=who_again)
    # A volunteer must now give a district and a role before the summary comes back.
    district_question = await person.next_reply()
    assert "Skip" not in district_question.button_texts
    await person.send("prawet")
    await person.next_reply()
    await person.press("Volunteer")
    new_summary = await person.next_reply()
    assert "Prawet · Zone 3" in text_of(new_summary)
    # The old summary's confirm is stale: it showed other data.
    await person.press_data(f"~{old_nonce}:ok", message=summary)
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    assert await people_count(bot) == 0
    await person.press("✅ Confirm", message=new_summary)
    await person.next_reply()
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert (row.participant_type, row.district_code) == ("volunteer", "1032")


# ---------------------------------------------------------------------------------------------
# Check-in before registering: QR codes and typed codes
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def check_ins(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Spy on the QR check-in hand-over (the real one belongs to another family)."""
    calls: list[tuple[int, str]] = []

    async def spy(update: Update, context: Any, token: str) -> None:
        assert update.effective_user is not None
        calls.append((update.effective_user.id, token))
        await context.bot.send_message(update.effective_user.id, f"checked in {token}")

    monkeypatch.setattr(checkin, "check_in_with_token", spy)
    return calls


async def test_a_qr_token_waits_through_registration_and_a_restart(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="สัมมนาเปิดตัว")
    person = telegram.person()
    await person.send(f"/start ci-{event.token}")
    note = await person.next_reply()
    assert "เช็กอิน" in text_of(note)
    greeting = await person.next_reply()
    await person.press("ภาษาไทย", message=greeting)
    notice = await person.next_reply()
    await bot.restart()
    assert (await draft_of(bot, person.user_id))["token"] == event.token
    await person.press("✅ ยินยอม", message=notice)
    await person.next_reply()
    who = await person.next_reply()
    await person.press("ผู้สังเกตการณ์", message=who)
    await person.next_reply()
    await answer_name(person, "สมชาย ใจดี")
    await person.share_contact("66812345678")
    await person.next_reply()
    await person.next_reply()
    await bot.restart()
    await person.press("ข้าม")
    summary = await person.next_reply()
    assert await all_check_ins(bot) == []
    await person.press("✅ ยืนยัน", message=summary)
    done = await person.wait_for(lambda m: text_of(m).startswith("✅ เช็กอิน"))
    assert "สัมมนาเปิดตัว" in text_of(done)
    await bot.settle()
    row = await person_row(bot, person.user_id)
    assert row is not None
    [checked] = await all_check_ins(bot)
    assert (checked.person_id, checked.event_id, checked.method) == (row.id, event.id, "qr")
    assert await no_draft_left(bot, person.user_id)


async def all_check_ins(bot: BotHarness) -> list[CheckIn]:
    async with bot.sessions() as session:
        return list((await session.exec(select(CheckIn))).all())


async def test_a_registered_person_is_checked_in_at_once(
    bot: BotHarness, telegram: FakeTelegram, check_ins: list[tuple[int, str]]
) -> None:
    person = telegram.person()
    await register_volunteer(person)
    await person.send("/start ci-" + "!" * 80)  # not a deep link Telegram can make
    assert "สมชาย ใจดี" in text_of(await person.next_reply())
    await person.send("/start ci-Event42")
    assert text_of(await person.next_reply()) == "checked in Event42"
    assert check_ins == [(person.user_id, "Event42")]


async def test_a_qr_scan_in_the_middle_of_registration_is_kept(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="Launch seminar")
    person = telegram.person()
    who = await begin(person, EN)
    await person.press("Observer", message=who)
    await person.next_reply()
    await person.send(f"/start ci-{event.token}")
    assert "checked in" in text_of(await person.next_reply())
    assert "full name" in text_of(await person.next_reply())  # the same question again
    await answer_name(person, "Somchai Jaidee")
    await person.send("0812345678")
    await person.next_reply()
    await person.next_reply()
    await person.press("Skip")
    await person.press("✅ Confirm", message=await person.next_reply())
    done = await person.wait_for(lambda m: text_of(m).startswith("✅ Checked in"))
    assert "Launch seminar" in text_of(done)
    assert [c.event_id for c in await all_check_ins(bot)] == [event.id]


async def test_a_closed_event_scanned_before_registering_registers_and_says_why_not(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    """The check-in a newcomer came with can be refused (check-in closed meanwhile): they are
    registered all the same, and told why they are not checked in."""
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="Launch seminar")
    person = telegram.person()
    await person.send(f"/start ci-{event.token}")
    await person.next_reply()  # register first, then checked in
    greeting = await person.next_reply()
    await person.press("English", message=greeting)
    await person.press(WORDS[EN].agree, message=await person.next_reply())
    await person.next_reply()  # thanks
    await person.press("Observer", message=await person.next_reply())
    await person.next_reply()  # name question
    await answer_name(person, "Somchai Jaidee")
    await person.send("0812345678")
    await person.replies(2)
    await person.press(WORDS[EN].skip)
    summary = await person.next_reply()
    async with bot.sessions() as session:
        stored = await session.get(Event, event.id)
        assert stored is not None
        stored.checkin_override = OVERRIDE_CLOSED
        session.add(stored)
        await session.commit()
    await person.press("✅ Confirm", message=summary)
    refused = await person.wait_for(lambda m: "closed check-in" in text_of(m))
    assert "Launch seminar" in text_of(refused)
    assert await person_row(bot, person.user_id) is not None
    assert await all_check_ins(bot) == []


async def test_a_code_typed_before_registering_checks_in_after_it(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="สัมมนาเปิดตัว")
    person = telegram.person()
    await person.send(f"/checkin {event.code.lower()}")
    assert "เช็กอิน" in text_of(await person.next_reply())  # register first, then checked in
    greeting = await person.next_reply()
    assert greeting.button_texts == ["ภาษาไทย", "English"]
    await person.press("ภาษาไทย", message=greeting)
    notice = await person.next_reply()
    await bot.restart()
    await person.press("✅ ยินยอม", message=notice)
    await person.next_reply()
    who = await person.next_reply()
    # /checkin again in the middle keeps the registration, and the code waits on.
    await person.send("/checkin")
    assert "ลงทะเบียนก่อน" in text_of(await person.next_reply())
    who = await person.next_reply()
    await person.press("วิทยากร", message=who)
    await person.next_reply()
    await answer_name(person, "สมชาย ใจดี")
    await person.send("0812345678")
    await person.replies(2)
    await person.press("ข้าม")
    summary = await person.next_reply()
    async with bot.sessions() as session:
        assert (await session.exec(select(CheckIn))).all() == []
    await person.press("✅ ยืนยัน", message=summary)
    done = await person.wait_for(lambda m: text_of(m).startswith("✅ เช็กอิน"))
    assert "สัมมนาเปิดตัว" in text_of(done)
    row = await person_row(bot, person.user_id)
    assert row is not None
    async with bot.sessions() as session:
        [checked] = (await session.exec(select(CheckIn))).all()
    assert (checked.person_id, checked.event_id, checked.method) == (row.id, event.id, "code")


async def test_a_wrong_code_typed_before_registering_is_said_after_it(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await person.send("/checkin ZZZZZZ")
    await person.next_reply()
    greeting = await person.next_reply()
    await person.press("English", message=greeting)
    notice = await person.next_reply()
    await person.press("✅ I agree", message=notice)
    await person.next_reply()
    who = await person.next_reply()
    await person.press("Observer", message=who)
    await person.next_reply()
    await answer_name(person, "Somchai Jaidee")
    await person.send("0812345678")
    await person.replies(2)
    await person.press("Skip")
    await person.press("✅ Confirm", message=await person.next_reply())
    await person.wait_for(lambda m: text_of(m).startswith(WORDS[EN].welcome))
    refusal = await person.next_reply()
    assert "code" in text_of(refusal).lower()
    assert await person_row(bot, person.user_id) is not None


# ---------------------------------------------------------------------------------------------
# Language, other input, damaged drafts
# ---------------------------------------------------------------------------------------------


async def test_language_can_change_mid_flow_and_after_registration(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await begin(person, TH)
    await person.send("/lang")
    choice = await person.next_reply()
    assert "ท่านเข้าร่วมในฐานะใด" in text_of(await person.next_reply())  # /lang keeps the flow
    await person.press("English", message=choice)
    await person.wait_for_edit(choice)
    who = await person.next_reply()  # the same question, asked again in English
    await person.press("Labour volunteer", message=who)
    assert "full name" in text_of(await person.next_reply())
    await answer_name(person, "Somchai Jaidee")
    await person.send("0812345678")
    await person.next_reply()
    await person.next_reply()
    await person.send("khlong toei")
    await person.next_reply()
    await person.press("Volunteer")
    await person.press("✅ Confirm", message=await person.next_reply())
    await person.next_reply()
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert row.language == "en"
    await person.send("/lang")
    choice = await person.next_reply()
    await person.press("ภาษาไทย", message=choice)
    await person.wait_for_edit(choice)
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert row.language == "th"


async def test_the_language_and_consent_steps_answer_anything_else(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await person.send("/start")
    greeting = await person.next_reply()
    await person.send_sticker()
    assert text_of(await person.next_reply()) == WORDS[TH].hint
    greeting_again = await person.next_reply()
    assert greeting_again.button_texts == ["ภาษาไทย", "English"]
    # The same question twice: the older copy's buttons work, and then the newer one's are
    # stale (the question is answered).
    await person.press("English", message=greeting)
    notice = await person.next_reply()
    await person.press("ภาษาไทย", message=greeting_again)
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    await person.send("yes")
    assert text_of(await person.next_reply()) == WORDS[EN].hint
    notice_again = await person.next_reply()
    assert notice_again.button_texts == ["✅ I agree", "✖️ I don't agree"]
    await person.send("/mydata")
    assert WORDS[EN].not_registered in text_of(await person.next_reply())
    await person.send("/help")
    assert "Commands you can use" in text_of(await person.next_reply())
    notice_last = await person.next_reply()  # /help asks the open question again
    assert notice_last.button_texts == notice_again.button_texts
    assert (await draft_of(bot, person.user_id))["consent_at"] is None
    await person.press("✅ I agree", message=notice)
    await person.next_reply()
    assert len((await person.next_reply()).button_texts) == 6
    await person.press("✖️ I don't agree", message=notice_last)  # answered: must not decline
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    assert await people_count(bot) == 0


async def test_a_draft_the_code_no_longer_reads_is_dropped_not_saved(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    summary = await skip_to_summary(person, EN, "Observer")
    await set_draft(bot, person.user_id, {"person": "damaged"})
    await person.press("✅ Confirm", message=summary)
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    await person.send("hello")
    assert "cannot be continued" in text_of(await person.next_reply())
    await bot.settle()
    assert await people_count(bot) == 0
    assert await no_draft_left(bot, person.user_id)


async def test_a_draft_that_is_no_longer_valid_is_not_saved(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    summary = await skip_to_summary(person, EN, "Observer")
    # As if the stored draft had been damaged (or the rules tightened) since it was written.
    draft = await draft_of(bot, person.user_id)
    draft["person"]["phone"] = "12"
    await set_draft(bot, person.user_id, draft)
    await person.press("✅ Confirm", message=summary)
    again = await person.next_reply()
    assert WORDS[EN].invalid in text_of(again)
    assert "phone number" in text_of(again)  # the phone question, asked again
    assert again.keyboard is not None
    assert await people_count(bot) == 0
    await person.send("0812345678")
    await person.next_reply()
    await person.press("✅ Confirm", message=await person.next_reply())
    await person.wait_for(lambda m: text_of(m).startswith(WORDS[EN].welcome))
    assert await people_count(bot) == 1
