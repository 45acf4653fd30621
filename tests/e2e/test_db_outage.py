"""The database goes away while people check in: nothing they sent is lost or silent.

A PostgreSQL cluster of the test's own is stopped for 15 seconds under load. Every update that
arrives during a short outage is retried (bounded) and takes effect when the database is back;
when it cannot, the person is told honestly, once, that it was not recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from storage.models import CheckIn
from tests.database import create_schema
from tests.e2e.test_checkin_methods import member, open_event
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness, test_settings
from tests.pg_cluster import ThrowawayCluster

OUTAGE_SECONDS = 15
CROWD = 30
NOT_RECORDED_TH = "⚠️ ขออภัย ขณะนี้ระบบบันทึกข้อมูลไม่ได้"


@pytest.fixture
async def cluster() -> AsyncIterator[ThrowawayCluster]:
    """A PostgreSQL server that only this test uses, with asa's schema."""
    server = ThrowawayCluster()
    try:
        await server.create()
        await create_schema(server.url)
        yield server
    finally:
        await server.destroy()


async def _bot_on(
    cluster: ThrowawayCluster, telegram: FakeTelegram, **database: object
) -> BotHarness:
    settings = test_settings(telegram=telegram, database_url=cluster.url, database=dict(database))
    harness = BotHarness(settings=settings, telegram=telegram)
    await harness.start()
    return harness


async def _all_fetched(telegram: FakeTelegram) -> None:
    """Until the bot has taken every update from the fake (it then owns them)."""
    assert await telegram.changed.wait_until(lambda: not telegram.pending_updates, 30)


async def test_check_ins_during_a_15_second_outage_are_all_recorded_afterwards(
    cluster: ThrowawayCluster, telegram: FakeTelegram
) -> None:
    telegram.set_rate_limits(enabled=False)
    bot = await _bot_on(cluster, telegram)
    try:
        event = await open_event(bot)
        crowd = [await member(bot, telegram, f"ผู้เข้าร่วม {n}") for n in range(CROWD)]
        await cluster.stop()
        down_since = time.monotonic()
        for chat, _ in crowd:
            await chat.send(f"/checkin {event.code}")
        await _all_fetched(telegram)
        # The outage itself lasts a fixed time: that is the fault being injected.
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))
        assert all(chat.messages == [] for chat, _ in crowd), "answered during the outage"
        await cluster.start()
        await bot.settle(timeout=90)
        async with bot.sessions() as session:
            rows = (await session.exec(select(CheckIn))).all()
        assert sorted(row.person_id for row in rows) == sorted(p.id for _, p in crowd)
        for chat, _ in crowd:
            texts = [m.text or "" for m in chat.messages]
            assert len(texts) == 1, texts
            assert texts[0].startswith("✅"), texts
    finally:
        await bot.stop()


async def test_an_outage_longer_than_the_retry_budget_gets_one_honest_answer(
    cluster: ThrowawayCluster, telegram: FakeTelegram
) -> None:
    bot = await _bot_on(cluster, telegram, retry_seconds=2)
    try:
        event = await open_event(bot)
        chat, _ = await member(bot, telegram, "สมชาย ใจดี")
        await cluster.stop()
        await chat.send(f"/checkin {event.code}")
        answer = await chat.next_reply(timeout=30)
        assert (answer.text or "").startswith(NOT_RECORDED_TH)
        await cluster.start()
        await bot.settle(timeout=60)
        assert len(chat.messages) == 1
        async with bot.sessions() as session:
            assert (await session.exec(select(CheckIn))).all() == []
        # Back to normal: the same person checks in.
        await chat.send(f"/checkin {event.code}")
        assert ((await chat.next_reply()).text or "").startswith("✅")
    finally:
        await bot.stop()
