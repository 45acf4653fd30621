"""The flow engine, as people meet it: one open flow at a time, its state a database row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.config import Settings
from storage.models import ChatState, Role
from tests import harness
from tests.e2e.test_checkin_methods import member, open_event, say
from tests.e2e.test_events_newevent import titled
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness

ASK_CODE = "พิมพ์รหัสเช็กอิน 6 ตัวที่เห็นบนจอหรือเอกสาร"
NOT_UNDERSTOOD = "ขออภัย ไม่เข้าใจข้อความนี้ พิมพ์ /help เพื่อดูสิ่งที่ทำได้"


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A patient flood guard: these tests type faster than any person."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


async def chat_state(bot: BotHarness, telegram_id: int) -> ChatState | None:
    async with bot.sessions() as session:
        return (
            await session.exec(select(ChatState).where(ChatState.telegram_id == telegram_id))
        ).first()


async def test_another_command_leaves_a_waiting_prompt_quietly_and_does_what_it_says(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    await open_event(bot)
    chat, _ = await member(bot, telegram)
    assert await say(chat, "/checkin") == ASK_CODE
    assert (await chat_state(bot, chat.user_id)).flow == "checkin_code"  # type: ignore[union-attr]
    assert (await say(chat, "/help")).startswith("คำสั่งที่ใช้ได้")
    # /help keeps the prompt and asks again; /events leaves it and lists events.
    assert "รหัสเช็กอิน" in ((await chat.next_reply()).text or "")
    listing = await say(chat, "/events")
    assert "ยกเลิก" not in listing  # a prompt goes without a word
    await bot.settle()
    state = await chat_state(bot, chat.user_id)
    assert state is not None
    assert (state.flow, state.draft) == (None, {})


async def test_a_check_in_by_another_route_ends_a_waiting_code_prompt(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    """Asked for the code, the person scans the QR instead (or staff check them in): the
    prompt no longer holds them, and their next message is not taken for a code."""
    event = await open_event(bot)
    chat, _ = await member(bot, telegram)
    assert await say(chat, "/checkin") == ASK_CODE
    assert (await say(chat, f"/start ci-{event.token}")).startswith("✅ เช็กอิน")
    await bot.settle()
    assert (await chat_state(bot, chat.user_id)).flow is None  # type: ignore[union-attr]
    # Text is not taken as a code any more: it gets the everyday answer.
    assert await say(chat, "สวัสดี") == NOT_UNDERSTOOD

    # Staff check in someone whose prompt is open (their own update ends nothing of theirs).
    other, _ = await member(bot, telegram, "สมศรี มีสุข", phone="+66812345678")
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    assert await say(other, "/checkin") == ASK_CODE
    await staff.send("/checkin_for 081-234-5678")
    choice = await staff.next_reply()
    await staff.press("สมศรี มีสุข", message=choice)
    await staff.wait_for_edit(choice)
    await bot.settle()
    assert (await chat_state(bot, other.user_id)).flow is None  # type: ignore[union-attr]


async def test_a_flow_survives_a_restart_and_old_buttons_stop_working(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    await open_event(bot)
    await open_event(bot, title="งานที่สอง")
    staff, _ = await member(bot, telegram, "ทีมงาน หน้างาน", Role.STAFF)
    await member(bot, telegram, "สมหญิง รักดี")
    await staff.send("/checkin_for สมหญิง")
    which = await staff.next_reply()
    assert len(which.inline_buttons) == 2
    await bot.restart()
    # The same question is live after the restart, and asked again after /help: both copies
    # are one question, so the first copy's buttons work (people press the one they see).
    await staff.send("/help")
    await staff.next_reply()
    asked_again = await staff.next_reply()
    assert asked_again.inline_buttons == which.inline_buttons
    await staff.press(which.inline_buttons[0]["text"], message=which)
    matches = await staff.next_reply()
    assert "สมหญิง รักดี" in " ".join(b["text"] for b in matches.inline_buttons)
    # Answered once, the question is over: its other copy's buttons are stale now.
    await staff.press(asked_again.inline_buttons[1]["text"], message=asked_again)
    stale = await staff.wait_for_answer()
    assert "หมดอายุ" in str(stale.get("text"))


async def test_an_unfinished_flow_times_out_with_a_message(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    chat = await titled(bot, telegram)
    bot.clock.advance(timedelta(minutes=bot.settings.bot.flow_timeout_minutes + 1))
    await chat.send("ศาลาว่าการ")
    expired, answer = await chat.replies(2)
    assert (expired.text or "").startswith("⌛")
    assert "สร้างกิจกรรม" in (expired.text or "")
    # The text is no longer taken as the venue: nobody is waiting for it.
    assert (answer.text or "").startswith("ขออภัย ไม่เข้าใจ")
    state = await chat_state(bot, chat.user_id)
    assert state is not None
    assert state.draft == {}


async def test_cancel_takes_a_flows_reply_keyboard_away(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    chat = await titled(bot, telegram)
    await say(chat, "กระทรวงแรงงาน ดินแดง")
    await say(chat, "22/7/2563 12.00")
    await say(chat, "16.00")
    assert chat.reply_keyboard is not None  # "share the venue's location"
    cancelled = await say(chat, "/cancel")
    assert cancelled.startswith("ยกเลิก")
    assert chat.reply_keyboard is None
