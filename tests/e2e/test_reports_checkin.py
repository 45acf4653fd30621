"""The 351 seminar with real people: everyone sends /checkin CODE at once, then /headcount."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from bot.clock import FakeClock
from bot.i18n import translator
from storage.database import LATENCY_ENV
from storage.models import CheckIn
from tests import seed_seminar as seed
from tests.e2e.test_reports import ask, bot_at, organiser
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fake_telegram import Person as Chatter
from tests.harness import BotHarness

# A code people can type: six characters of the check-in alphabet.
CODE = "SEMK7Q"
# Half an hour before the start: check-in has opened (an hour before) and nobody is late yet.
BEFORE_START = seed.SEMINAR_START - timedelta(minutes=30)
FIRST_USER_ID = 700_000
LATECOMERS = 11
# How often a person told "not recorded, try again" tries again.
ROUNDS = 5


async def replies(people: list[Chatter], *, stall: float = 30.0) -> list[SentMessage]:
    """Each person's next reply. However slow the database (ASA_DB_LATENCY_MS), it fails only
    when nobody at all is answered for `stall` seconds: a check at progress, not at speed."""
    waits = [asyncio.ensure_future(person.next_reply(timeout=3600)) for person in people]
    pending: set[asyncio.Future[SentMessage]] = set(waits)
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=stall, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise AssertionError(f"{len(pending)} people unanswered, nobody for {stall} s")
    finally:
        for wait in pending:
            wait.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return [wait.result() for wait in waits]


async def check_in_all(people: list[Chatter], text: str) -> int:
    """Everyone sends `text`; whoever is told their check-in was not recorded (the bot's honest
    answer when the database stays out of reach) tries again, as told. Every other answer
    must be a check-in. How many tries had to be repeated."""
    not_recorded = translator("th")("error.not_recorded")
    retried, waiting = 0, people
    for _ in range(ROUNDS):
        await asyncio.gather(*(person.send(text) for person in waiting))
        answers = await replies(waiting)
        assert all((a.text or "").startswith("✅") or a.text == not_recorded for a in answers)
        waiting = [p for p, a in zip(waiting, answers, strict=True) if a.text == not_recorded]
        if not waiting:
            return retried
        retried += len(waiting)
    raise AssertionError(f"{len(waiting)} people still not checked in after {ROUNDS} tries")


@pytest.fixture
async def bot(telegram: FakeTelegram, database_url: str) -> AsyncIterator[BotHarness]:
    """The bot half an hour before the seminar."""
    async with bot_at(telegram, database_url, BEFORE_START) as harness:
        yield harness


@pytest.mark.slow
async def test_351_people_check_in_and_the_headcount_adds_up(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    # This test is about check-ins and counting, not Telegram's flood control.
    telegram.set_rate_limits(enabled=False)
    ids = [FIRST_USER_ID + i for i in range(seed.EXPECTED_TOTAL)]
    async with bot.sessions() as session:
        built = await seed.seed_seminar(session, check_in=False, code=CODE, telegram_ids=ids)
        await session.commit()
    people = [telegram.person(user_id=user_id, first_name=f"P{user_id}") for user_id in ids]
    on_time, late = people[:-LATECOMERS], people[-LATECOMERS:]

    retried = await check_in_all(on_time, f"/checkin {CODE}")
    # Ten of them try again with a different spelling: still one check-in each.
    await asyncio.gather(*(person.send("/checkin semk-7q") for person in on_time[:10]))
    again = await replies(on_time[:10])
    assert all((reply.text or "").startswith("เช็กอินแล้วเมื่อ") for reply in again)

    assert isinstance(bot.clock, FakeClock)
    bot.clock.advance(timedelta(minutes=50))
    retried += await check_in_all(late, f"/checkin {CODE}")
    if not os.environ.get(LATENCY_ENV):
        # Only a database slowed down on purpose (40 ms before every statement, one SQLite
        # connection for 340 people at once) may keep someone waiting past the bot's limit.
        assert retried == 0

    async with bot.sessions() as session:
        stored = (
            await session.exec(select(func.count()).where(col(CheckIn.event_id) == built.event.id))
        ).one()
    assert stored == seed.EXPECTED_TOTAL

    boss = await organiser(bot, telegram)
    text = (await ask(boss, "/headcount")).text or ""
    assert f"อยู่ในงานตอนนี้ 351 คน · มาสาย {LATECOMERS}" in text
    # Everyone checked in themselves: all registered with the bot, no walk-ins; the 11 who
    # never signed up through /events came all the same.
    assert "ลงทะเบียนกับบอท 351 · มาหน้างาน 0" in text
    assert "ลงชื่อร่วมงาน 349 จากที่รับได้ 400 · มาแล้ว 340 · ยังไม่มา 9" in text
    assert "• อาสาสมัครแรงงาน 69" in text
    assert "• เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน 200" in text
    assert "• วิทยากร ข้าราชการ ทีมงาน และผู้สังเกตการณ์ 82" in text
    assert "รวม 351 คน" in text
    assert "• ประธานโซน 2" in text
    assert "• ผู้ประสานงานเครือข่ายแท็กซี่ 6" in text
    assert "โซน 3: 39" in text
    assert "คลองเตย 12 · บางนา 8 · ประเวศ 6 · พระโขนง 5 · สวนหลวง 4 · วัฒนา 4" in text
    assert "โซน 4: 30" in text
    # Everyone on time came in the 07.30 slot; the latecomers at 08.20, in the 08.15 slot.
    assert "07.30 น. ▇▇▇▇▇▇▇▇▇▇ 340" in text
    assert f"08.15 น. ▇ {LATECOMERS}" in text
