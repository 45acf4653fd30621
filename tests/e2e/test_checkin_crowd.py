"""The door: a crowd checks in at once through the real bot, each person exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.config import Settings
from storage.models import CheckIn, Role
from tests import harness
from tests.factories import grant, make_event, make_person
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness

CROWD = 120


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """Telegram's rate limits off: this test is about the database, not the send queue."""
    async with FakeTelegram(rate_limits=False) as server:
        yield server


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """Settings for the fake server and this test's database."""
    return harness.test_settings(telegram=telegram, database_url=database_url)


async def test_a_crowd_and_a_staff_member_race_and_everyone_is_in_once(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    chats = [telegram.person() for _ in range(CROWD)]
    staff_chat = telegram.person()
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now())
        people = [
            await make_person(session, telegram_id=chat.user_id, full_name=f"ผู้เข้าร่วม {i:03d}")
            for i, chat in enumerate(chats)
        ]
        staff = await make_person(session, telegram_id=staff_chat.user_id, full_name="ทีมงาน")
        await grant(session, staff, Role.STAFF)

    # The staff member searches for the first person while the whole crowd types the code.
    await staff_chat.send("/checkin_for ผู้เข้าร่วม 000")
    choice = await staff_chat.next_reply()
    await staff_chat.press("ผู้เข้าร่วม 000", message=choice)
    await asyncio.gather(*(chat.send(f"/checkin {event.code}") for chat in chats))
    replies = [await chat.next_reply(timeout=60) for chat in chats]
    answer = await staff_chat.wait_for_answer(timeout=60)
    staff_won = not answer.get("text")
    if staff_won:
        await staff_chat.wait_for_edit(choice, timeout=60)
        assert (choice.text or "").startswith("✅")
    else:
        assert answer["text"].startswith("เช็กอินแล้วเมื่อ")

    texts = [reply.text or "" for reply in replies]
    assert all(t.startswith(("✅", "เช็กอินแล้วเมื่อ")) for t in texts), texts
    # Only the first person races the staff member; everyone else is checked in by their code.
    assert all(t.startswith("✅") for t in texts[1:]), texts
    async with bot.sessions() as session:
        counts = dict(
            (
                await session.exec(
                    select(CheckIn.person_id, func.count()).group_by(CheckIn.person_id)
                )
            ).all()
        )
    assert set(counts) == {person.id for person in people}
    assert set(counts.values()) == {1}
    # The first person got in exactly once: either by the staff member or by their own code.
    assert staff_won != texts[0].startswith("✅")
