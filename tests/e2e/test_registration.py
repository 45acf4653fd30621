"""Registration end to end, in Thai and English, over the fake Telegram."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlmodel import func, select
from telegram import Update

from bot.config import Settings
from bot.handlers import checkin
from storage.models import Person, PtbChatData, PtbConversation, PtbUserData
from tests import harness
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.models import SentMessage
from tests.fake_telegram.people import Person as Chat
from tests.harness import BotHarness

TH, EN = "th", "en"
WELCOME_COMMANDS = ("/events", "/checkin", "/profile", "/mydata", "/help")


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
    welcome: str
    not_yours: str
    stale: str
    name_hint: str
    buttons_hint: str
    finish_or_cancel: str


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
        welcome="ลงทะเบียนเรียบร้อยแล้ว",
        not_yours="ไม่ใช่ของท่าน",
        stale="ปุ่มนี้หมดอายุแล้ว กรุณาใช้ข้อความล่าสุด",
        name_hint="กรุณาพิมพ์ชื่อ-นามสกุลเป็นข้อความ",
        buttons_hint="กรุณาเลือกโดยกดปุ่ม",
        finish_or_cancel="ท่านกำลังกรอกข้อมูลอยู่",
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
        welcome="You are registered",
        not_yours="not yours",
        stale="This button has expired; please use the latest message.",
        name_hint="Please type your name as a text message.",
        buttons_hint="Please choose with the buttons.",
        finish_or_cancel="You are in the middle of filling in your details",
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
# Helpers (also used by test_profile.py)
# ---------------------------------------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until a database condition holds (persistence writes after the reply is sent)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.02)


async def user_data_when(
    bot: BotHarness, telegram_id: int, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The persisted user data, once it satisfies `check`."""
    found: dict[str, Any] = {}

    async def holds() -> bool:
        data = await stored_user_data(bot, telegram_id)
        found.clear()
        found.update(data or {})
        return data is not None and check(data)

    await eventually(holds)
    return found


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


async def stored_user_data(bot: BotHarness, telegram_id: int) -> dict[str, Any] | None:
    """The persisted user data of a person (None: no row)."""
    async with bot.sessions() as session:
        row = await session.get(PtbUserData, telegram_id)
        return dict(row.data) if row is not None else None


async def stored_conversations(bot: BotHarness, telegram_id: int) -> list[PtbConversation]:
    """Persisted conversation states involving this person."""
    async with bot.sessions() as session:
        rows = (await session.exec(select(PtbConversation))).all()
    return [row for row in rows if str(telegram_id) in row.key]


async def answered(person: Chat, count: int) -> bool:
    """Whether the bot has answered `count` button presses of this person."""
    return len(person.callback_answers) >= count


def no_conversation(bot: BotHarness, telegram_id: int) -> Callable[[], Awaitable[bool]]:
    """A check: no conversation state of this person is stored."""

    async def check() -> bool:
        return await stored_conversations(bot, telegram_id) == []

    return check


def no_trace_of(bot: BotHarness, telegram_id: int) -> Callable[[], Awaitable[bool]]:
    """A check: no user data, chat data or conversation state of this person is stored."""

    async def check() -> bool:
        async with bot.sessions() as session:
            chat = await session.get(PtbChatData, telegram_id)
        gone = chat is None and await stored_user_data(bot, telegram_id) is None
        return gone and await stored_conversations(bot, telegram_id) == []

    return check


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


async def pick_district(person: Chat, query: str, button: str) -> None:
    """Type part of a district name and press a match."""
    await person.send(query)
    matches = await person.next_reply()
    await person.press(button, message=matches)


async def to_district(
    person: Chat,
    lang: str,
    kind: str,
    *,
    name: str = "Somchai Jaidee",
    phone: str = "0812345678",
) -> SentMessage:
    """A registration as `kind` (no agency) up to the district question, which it returns."""
    who = await begin(person, lang)
    await person.press(kind, message=who)
    await person.next_reply()  # name question
    await answer_name(person, name)
    await person.send(phone)
    await person.next_reply()  # phone saved
    return await person.next_reply()


async def skip_to_summary(person: Chat, lang: str, kind: str) -> SentMessage:
    """A registration as `kind` (not a volunteer) up to the summary, skipping the district."""
    district_question = await to_district(person, lang, kind)
    await person.press("ข้าม" if lang == TH else "Skip", message=district_question)
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
    await pick_district(person, "คลองเตย" if lang == TH else "khlong toei", "1033")
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
    assert "+66812345678" in text_of(saved)
    district_question = await person.next_reply()
    assert "ข้าม" not in district_question.button_texts  # volunteers may not skip
    await person.send("คลองเตย")
    matches = await person.next_reply()
    assert matches.buttons[0] == [("คลองเตย · โซน 3", "reg:d:1033")]
    await person.press("reg:d:1033", message=matches)
    role_question = await person.next_reply()
    assert role_question.button_texts == [
        "อาสาสมัคร",
        "ประธานโซน",
        "ผู้ประสานงานโซน",
        "ประธานเครือข่ายแท็กซี่",
        "ผู้ประสานงานเครือข่ายแท็กซี่",
    ]
    assert await people_count(bot) == 0  # nothing written before the confirmation
    await person.press("ประธานโซน", message=role_question)
    summary = await person.next_reply()
    for expected in ("สมชาย ใจดี", "+66812345678", "คลองเตย · โซน 3", "ประธานโซน"):
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
    # The draft is gone from the user data; only the language stays.
    await user_data_when(bot, person.user_id, lambda data: data == {"lang": "th"})
    await eventually(no_conversation(bot, person.user_id))

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
    assert "+66812345678" in text_of(saved)
    district_question = await person.next_reply()
    assert "Skip" in district_question.button_texts  # optional for officials
    await person.send("khlong")
    matches = await person.next_reply()
    assert ("Khlong Toei · Zone 3", "reg:d:1033") in [b for row in matches.buttons for b in row]
    assert any(text.startswith("Khlong Sam Wa") for text in matches.button_texts)
    await person.press("reg:d:1033", message=matches)
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
    for bad in ("ก", "x" * 5000, "'; DROP TABLE person; --", "😀😀😀", "สมชาย 123"):
        await person.send(bad)
        refusal = await person.next_reply()
        assert ("สมชาย ใจดี" if lang == TH else "Somchai Jaidee") in text_of(refusal)
    await person.send_sticker()
    assert text_of(await person.next_reply()) == WORDS[lang].name_hint
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
        assert "081 234 5678" in text_of(await person.next_reply())
    await person.send_photo()
    await person.next_reply()  # hint
    again = await person.next_reply()
    assert again.keyboard is not None
    await person.share_contact("+66812345678")
    saved = await person.next_reply()
    assert saved.removes_keyboard
    await user_data_when(
        bot, person.user_id, lambda data: data["reg"]["draft"].get("phone") == "+66812345678"
    )


async def test_unexpected_input_at_a_button_step_keeps_the_step(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    who = await begin(person, TH)
    words = WORDS[TH]
    await person.send_voice()
    assert text_of(await person.next_reply()) == words.buttons_hint
    who_again = await person.next_reply()
    assert who_again.button_texts == who.button_texts
    # The older copy of the question is stale now: it changes nothing.
    await person.press(words.official, message=who)
    answer = await person.wait_for_answer()
    assert answer["text"] == words.stale
    await person.send("/profile")
    assert words.finish_or_cancel in text_of(await person.next_reply())
    await person.next_reply()  # asked again
    await person.send("x" * 5000)
    assert text_of(await person.next_reply()) == words.buttons_hint
    latest = await person.next_reply()
    await person.press_data("reg:t:astronaut", message=latest)
    assert (await person.wait_for_answer())["text"] == words.stale
    await person.press_data("ev:open:1", message=latest)
    assert (await person.wait_for_answer())["text"] == words.stale
    await person.press(words.volunteer, message=latest)
    assert "ชื่อ-นามสกุล" in text_of(await person.next_reply())
    await user_data_when(
        bot,
        person.user_id,
        lambda data: data["reg"]["draft"].get("participant_type") == "volunteer",
    )


async def test_district_search_in_both_languages_and_no_match(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    await to_district(person, TH, "อาสาสมัครแรงงาน", name="สมชาย ใจดี", phone="0812345678")
    # A volunteer has no skip button; a forged one changes nothing.
    await person.press_data("reg:ds")
    assert (await person.wait_for_answer())["text"] == WORDS[TH].stale
    await person.send("ไม่มีเขตนี้")
    none = await person.next_reply()
    assert "ไม่พบเขต" in text_of(none)
    await person.send("bang kapi")
    matches = await person.next_reply()
    assert matches.buttons[0] == [("บางกะปิ · โซน 4", "reg:d:1006")]
    await person.send("วัฒนา")
    newer = await person.next_reply()
    # Only the latest results are live.
    await person.press("reg:d:1006", message=matches)
    assert (await person.wait_for_answer())["text"] == WORDS[TH].stale
    await person.press("reg:d:1039", message=newer)
    role_question = await person.next_reply()
    assert "บทบาท" in text_of(role_question)
    await user_data_when(
        bot, person.user_id, lambda data: data["reg"]["draft"].get("district_code") == "1039"
    )


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
    await eventually(no_trace_of(bot, person.user_id))
    # Starting again works, from the language.
    await person.send("/start")
    assert (await person.next_reply()).button_texts == ["ภาษาไทย", "English"]


async def test_cancel_mid_flow_leaves_no_person_and_no_draft(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    who = await begin(person, TH)
    await person.press("อาสาสมัครแรงงาน", message=who)
    await person.next_reply()
    await answer_name(person, "สมชาย ใจดี")
    await person.send("/cancel")
    cancelled = await person.next_reply()
    assert "ยกเลิกแล้ว" in text_of(cancelled)
    assert cancelled.removes_keyboard
    await bot.settle()
    assert await people_count(bot) == 0
    await user_data_when(bot, person.user_id, lambda data: "reg" not in data)
    await eventually(no_conversation(bot, person.user_id))
    await person.send("0812345678")  # no longer in the flow: the fallback answers
    assert "ไม่เข้าใจ" in text_of(await person.next_reply())
    await person.send("/cancel")
    assert "ไม่มีรายการ" in text_of(await person.next_reply())


async def test_a_restart_in_the_middle_of_the_flow_continues_it(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    who = await begin(person, EN)
    await person.press("Labour volunteer", message=who)
    await person.next_reply()
    await answer_name(person, "Somchai Jaidee")
    await bot.restart()
    await person.send("0812345678")
    saved = await person.next_reply()
    assert "+66812345678" in text_of(saved)
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
    await person.press_data("reg:ok", message=summary)
    await person.wait_for(lambda m: text_of(m).startswith(WORDS[TH].welcome))
    await eventually(lambda: answered(person, presses + 2))
    assert await people_count(bot) == 1
    assert person.callback_answers[-1]["text"] == WORDS[TH].stale
    assert sum(text_of(m).startswith(WORDS[TH].welcome) for m in person.messages) == 1


async def test_summary_edits_go_through_the_same_steps(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    summary = await skip_to_summary(person, EN, "Observer")
    await person.press("✏️ Participant", message=summary)
    who_again = await person.next_reply()
    await person.press("Labour volunteer", message=who_again)
    # A volunteer must now give a district and a role before the summary comes back.
    district_question = await person.next_reply()
    assert "Skip" not in district_question.button_texts
    await pick_district(person, "prawet", "1032")
    await person.next_reply()
    await person.press("Volunteer")
    new_summary = await person.next_reply()
    assert "Prawet · Zone 3" in text_of(new_summary)
    # The old summary's confirm is stale: it showed other data.
    await person.press_data("reg:ok", message=summary)
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    assert await people_count(bot) == 0
    await person.press("✅ Confirm", message=new_summary)
    await person.next_reply()
    row = await person_row(bot, person.user_id)
    assert row is not None
    assert (row.participant_type, row.district_code) == ("volunteer", "1032")


# ---------------------------------------------------------------------------------------------
# Check-in deep links
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def check_ins(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Spy on the check-in hand-over (the real one belongs to another family)."""
    calls: list[tuple[int, str]] = []

    async def spy(update: Update, context: Any, token: str) -> None:
        assert update.effective_user is not None
        calls.append((update.effective_user.id, token))
        await context.bot.send_message(update.effective_user.id, f"checked in {token}")

    monkeypatch.setattr(checkin, "check_in_with_token", spy)
    return calls


async def test_a_qr_token_waits_through_registration_and_a_restart(
    bot: BotHarness, telegram: FakeTelegram, check_ins: list[tuple[int, str]]
) -> None:
    person = telegram.person()
    await person.send("/start ci-AbC123_x")
    note = await person.next_reply()
    assert "เช็กอิน" in text_of(note)
    greeting = await person.next_reply()
    await person.press("ภาษาไทย", message=greeting)
    notice = await person.next_reply()
    await bot.restart()
    data = await stored_user_data(bot, person.user_id)
    assert data is not None
    assert data["pending_checkin"] == "AbC123_x"
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
    assert check_ins == []
    await person.press("✅ ยืนยัน", message=summary)
    await person.wait_for(lambda m: text_of(m) == "checked in AbC123_x")
    assert check_ins == [(person.user_id, "AbC123_x")]
    await user_data_when(bot, person.user_id, lambda data: "pending_checkin" not in data)


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
    bot: BotHarness, telegram: FakeTelegram, check_ins: list[tuple[int, str]]
) -> None:
    person = telegram.person()
    who = await begin(person, EN)
    await person.press("Observer", message=who)
    await person.next_reply()
    await person.send("/start ci-Late7")
    assert "checked in" in text_of(await person.next_reply())
    assert "full name" in text_of(await person.next_reply())  # the same question again
    await answer_name(person, "Somchai Jaidee")
    await person.send("0812345678")
    await person.next_reply()
    await person.next_reply()
    await person.press("Skip")
    await person.press("✅ Confirm", message=await person.next_reply())
    await person.wait_for(lambda m: text_of(m) == "checked in Late7")
    assert check_ins == [(person.user_id, "Late7")]


async def test_language_can_change_mid_flow_and_after_registration(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    who = await begin(person, TH)
    await person.send("/lang")
    choice = await person.next_reply()
    await person.press("English", message=choice)
    await person.wait_for_edit(choice)
    await person.press("อาสาสมัครแรงงาน", message=who)
    assert "full name" in text_of(await person.next_reply())
    await answer_name(person, "Somchai Jaidee")
    await person.send("0812345678")
    await person.next_reply()
    await person.next_reply()
    await pick_district(person, "khlong toei", "1033")
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
    assert "กรุณาเลือกภาษา" in text_of(await person.next_reply())
    greeting_again = await person.next_reply()
    assert greeting_again.button_texts == ["ภาษาไทย", "English"]
    await person.press("English", message=greeting)  # the older greeting is stale now
    assert (await person.wait_for_answer())["text"] == WORDS[TH].stale
    await person.press("English", message=greeting_again)
    notice = await person.next_reply()
    await person.send("yes")
    assert "I agree" in text_of(await person.next_reply())
    notice_again = await person.next_reply()
    assert notice_again.button_texts == ["✅ I agree", "✖️ I don't agree"]
    await person.press("✖️ I don't agree", message=notice)  # stale: must not decline
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    await person.send("/mydata")
    assert WORDS[EN].finish_or_cancel in text_of(await person.next_reply())
    await person.next_reply()  # the notice once more
    await person.send("/help")
    assert "Commands you can use" in text_of(await person.next_reply())
    await user_data_when(bot, person.user_id, lambda data: "reg" in data)
    await person.press("✅ I agree")
    await person.next_reply()
    assert len((await person.next_reply()).button_texts) == 6
    assert await people_count(bot) == 0


async def test_forged_or_orphaned_confirmations_save_nothing(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    summary = await skip_to_summary(person, EN, "Observer")
    # "Close" belongs to /profile; forged during a registration, it ends nothing.
    await person.press_data("reg:x", message=summary)
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    # A draft lost from the user data (while the conversation state survived) is never saved
    # half-empty: the summary it showed is no longer live.
    assert bot.application is not None
    bot.application.user_data[person.user_id].pop("reg")
    await person.press("✅ Confirm", message=summary)
    assert (await person.wait_for_answer())["text"] == WORDS[EN].stale
    assert await people_count(bot) == 0


async def test_a_draft_that_is_no_longer_valid_is_not_saved(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    person = telegram.person()
    summary = await skip_to_summary(person, EN, "Observer")
    # As if the stored draft had been damaged (or the rules tightened) since it was written.
    assert bot.application is not None
    bot.application.user_data[person.user_id]["reg"]["draft"]["phone"] = "12"
    await person.press("✅ Confirm", message=summary)
    assert "no longer valid" in text_of(await person.next_reply())
    again = await person.next_reply()
    assert "✏️ Phone" in again.button_texts
    assert await people_count(bot) == 0
    await person.press("✏️ Phone", message=again)
    await person.next_reply()
    await person.send("0812345678")
    await person.next_reply()
    await person.press("✅ Confirm", message=await person.next_reply())
    await person.wait_for(lambda m: text_of(m).startswith(WORDS[EN].welcome))
    assert await people_count(bot) == 1
