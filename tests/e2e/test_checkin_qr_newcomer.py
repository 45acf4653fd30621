"""A newcomer scans the QR code: registration first, then the real check-in, across a restart.

This drives the registration flow as a person would (its questions belong to the registration
family); what it proves is the hand-over: the pending token survives, and the real
check-in service records a QR check-in once registration is confirmed.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.config import Settings
from storage.models import CheckIn, Person
from tests import harness
from tests.factories import make_event
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """A patient flood guard: this test types faster than any person."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_max_updates": 1000}
    )


async def test_newcomer_is_registered_then_checked_in_by_the_qr_code(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now(), title="สัมมนาเปิดตัว")
    chat = telegram.person()
    await chat.send(f"/start ci-{event.token}")
    note = await chat.next_reply()
    assert "เช็กอิน" in note.shown_text
    greeting = await chat.next_reply()
    await chat.press("ภาษาไทย", message=greeting)
    notice = await chat.next_reply()
    await bot.restart()
    await chat.press("✅ ยินยอม", message=notice)
    await chat.next_reply()
    who = await chat.next_reply()
    await chat.press("ผู้สังเกตการณ์", message=who)
    await chat.next_reply()
    await chat.send("สมชาย ใจดี")
    await chat.next_reply()
    await chat.share_contact("66812345678")
    await chat.replies(2)
    await bot.restart()
    await chat.press("ข้าม")
    summary = await chat.next_reply()
    async with bot.sessions() as session:
        assert (await session.exec(select(CheckIn))).all() == []
    await chat.press("✅ ยืนยัน", message=summary)
    done = await chat.wait_for(lambda m: m.shown_text.startswith("✅ เช็กอิน"))
    assert "สัมมนาเปิดตัว" in done.shown_text

    async with bot.sessions() as session:
        person = (
            await session.exec(select(Person).where(Person.telegram_id == chat.user_id))
        ).one()
        [row] = (await session.exec(select(CheckIn))).all()
    assert (row.person_id, row.event_id, row.method) == (person.id, event.id, "qr")
