"""Reminders end to end: on time, in each person's language, RSVP buttons, missed times."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.config import Settings
from bot.delivery.dispatcher import run_due
from storage.models import Registration, RegistrationStatus, Role
from tests import outbox_seed as seed
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness
from tests.harness import test_settings as make_settings

TITLE = "อบรมสิทธิแรงงาน"


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """Default reminder offsets: 24 h, 60 min, nudge 30 min after the start."""
    telegram.set_rate_limits(enabled=False)
    return make_settings(telegram=telegram, database_url=database_url)


async def test_reminders_go_out_on_time_with_rsvp_buttons_and_skip_missed_ones(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    thai, english, waiting, coordinator = (seed.started(telegram) for _ in range(4))
    start = bot.clock.now() + timedelta(hours=25)
    async with bot.sessions() as session:
        event = await seed.event(
            session, starts_at=start, title=TITLE, capacity=2, created_at=bot.clock.now()
        )
        rows = {}
        for user, lang, name in (
            (thai, "th", "สมชาย ใจดี"),
            (english, "en", "Somsri Jaidee"),
            (waiting, "th", "มานี มีนา"),
            (coordinator, "th", "ผู้ประสานงาน"),
        ):
            rows[user.chat_id] = await seed.person(
                session,
                telegram_id=user.user_id,
                language=lang,
                full_name=name,
                district_code=seed.ZONE3_DISTRICT,
            )
        await seed.register(session, event, rows[thai.chat_id])
        await seed.register(session, event, rows[english.chat_id])
        await seed.register(
            session, event, rows[waiting.chat_id], status=RegistrationStatus.WAITLISTED
        )
        await seed.grant(session, rows[coordinator.chat_id], Role.COORDINATOR, (3,))

    # Not yet: 25 hours before.
    await run_due(bot.application)
    assert telegram.count_to(thai.chat_id) == 0

    bot.clock.advance(timedelta(hours=1, minutes=1))
    await run_due(bot.application)
    reminder = await thai.next_reply()
    assert reminder.text is not None
    assert reminder.text.startswith(f'แจ้งเตือนกิจกรรม "{TITLE}"')
    assert reminder.button_texts == ["ไปแน่นอน", "ไปไม่ได้"]
    in_english = await english.next_reply()
    assert (in_english.text or "").startswith(f'Reminder: "{TITLE}"')
    assert in_english.button_texts == ["I'll be there", "I can't come"]
    assert telegram.count_to(waiting.chat_id) == 0
    assert telegram.count_to(coordinator.chat_id) == 0

    await thai.press("ไปแน่นอน", message=reminder)
    assert (await thai.wait_for_answer())["text"].startswith("ขอบคุณ")
    await thai.wait_for_edit(reminder)
    assert (reminder.text or "").endswith("ขอบคุณ บันทึกแล้วว่าท่านจะมาร่วม")

    # "I can't come" gives nothing away at once: it asks first.
    await english.press("I can't come", message=in_english)
    assert "waiting list" in (await english.wait_for_answer())["text"]
    await english.wait_for_edit(in_english)
    assert in_english.button_texts == ["Yes, cancel my registration", "No, keep my place"]
    async with bot.sessions() as session:
        kept = await session.exec(
            select(Registration.status).where(
                col(Registration.person_id) == rows[english.chat_id].id
            )
        )
        assert kept.one() == RegistrationStatus.REGISTERED
    await english.press("No, keep my place", message=in_english)
    assert (await english.wait_for_answer())["text"] == "You are still registered."
    await english.wait_for_edit(in_english)
    assert in_english.button_texts == ["I'll be there", "I can't come"]
    await english.press("I can't come", message=in_english)
    await english.wait_for_answer()
    await english.wait_for_edit(in_english)
    await english.press("Yes, cancel my registration", message=in_english)
    assert "cancelled" in (await english.wait_for_answer())["text"]
    await english.wait_for_edit(in_english)
    assert in_english.button_texts == []
    # The freed place goes to the waiting list, whose first is told through the outbox.
    promoted = await waiting.next_reply()
    assert TITLE in (promoted.text or "")
    assert "มีที่ว่างแล้ว" in (promoted.text or "")
    async with bot.sessions() as session:
        statuses = dict(
            (
                await session.exec(
                    select(Registration.person_id, Registration.status).where(
                        col(Registration.event_id) == event.id
                    )
                )
            ).all()
        )
    assert statuses[rows[english.chat_id].id] == RegistrationStatus.CANCELLED
    assert statuses[rows[waiting.chat_id].id] == RegistrationStatus.REGISTERED

    # The sweep again, and a restart: nothing goes out twice.
    await run_due(bot.application)
    await bot.restart()
    await run_due(bot.application)
    assert telegram.count_to(thai.chat_id) == 1

    # The bot is down until 40 minutes after the start: the one-hour reminder no longer makes
    # sense and is never sent; the check-in notice and the nudge still do.
    await bot.stop()
    bot.clock.advance(timedelta(hours=24, minutes=40))
    await bot.start()
    await run_due(bot.application)
    texts = [m.text or "" for m in thai.messages[1:]]
    assert not any("จะเริ่มกิจกรรม" in text for text in texts)
    assert any(text.startswith(f'เปิดเช็กอินกิจกรรม "{TITLE}"') for text in texts)
    assert any("ยังไม่พบการเช็กอินของท่าน" in text for text in texts)
    assert telegram.count_to(english.chat_id) == 1  # cancelled: nothing more
    listing = await coordinator.next_reply()
    assert "(2 คน)" in (listing.text or "")
    assert "สมชาย ใจดี" in (listing.text or "")
    assert "มานี มีนา" in (listing.text or "")
    assert "Somsri" not in (listing.text or "")

    # After the event, an old button changes nothing.
    bot.clock.advance(timedelta(hours=3))
    await thai.press("ไปไม่ได้", message=reminder)
    assert "จบแล้ว" in (await thai.wait_for_answer())["text"]
    async with bot.sessions() as session:
        status = (
            await session.exec(
                select(Registration.status).where(
                    col(Registration.person_id) == rows[thai.chat_id].id
                )
            )
        ).one()
    assert status == RegistrationStatus.REGISTERED


async def test_rsvp_buttons_refuse_tampered_data_and_strangers(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    stranger = seed.started(telegram)
    await stranger.send("/help")
    message = await stranger.next_reply()
    for data in (
        "rsvp:y:abc",
        "rsvp:maybe:1",
        "rsvp:y:999999",
        "rsvp:x:999999",
        "rsvp:y:" + "9" * 20,
    ):
        await stranger.press_data(data, message=message)
        answer = await stranger.wait_for_answer()
        assert answer["text"]
    assert telegram.count_to(stranger.chat_id) == 1
