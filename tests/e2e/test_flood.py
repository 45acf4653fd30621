"""Flood control: one "slow down", then silence for a while, for the flooder only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.flood import FloodGate, Verdict
from tests.e2e.test_admin_support import World, running_world, wait_until
from tests.fake_telegram import FakeTelegram

SLOW_DOWN_TH = "ท่านส่งข้อความเร็วเกินไป กรุณารอสักครู่ แล้วระบบจะตอบกลับอีกครั้ง"
NOT_UNDERSTOOD_TH = "ขออภัย ไม่เข้าใจข้อความนี้ พิมพ์ /help เพื่อดูสิ่งที่ทำได้"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(telegram: FakeTelegram, database_url: str) -> AsyncIterator[World]:
    """The bot with a small flood limit: 5 updates in 10 seconds, then 30 seconds of silence."""
    # Telegram's own per-chat limit is not what this tests; the bot's answers come in bursts.
    telegram.set_rate_limits(enabled=False)
    async with running_world(
        telegram,
        database_url,
        flood_max_updates=5,
        flood_window_seconds=10,
        flood_mute_seconds=30,
    ) as running:
        yield running


async def test_a_flooder_is_told_once_then_ignored_while_others_are_served(world: World) -> None:
    flooder = world.telegram.person(first_name="Flood")
    neighbour = world.telegram.person(first_name="Calm")

    for n in range(12):
        await flooder.send(f"ข้อความ {n}")
    replies = await flooder.replies(6)
    assert [r.text for r in replies] == [NOT_UNDERSTOOD_TH] * 5 + [SLOW_DOWN_TH]

    # Someone else is not slowed at all.
    await neighbour.send("สวัสดี")
    assert (await neighbour.next_reply()).text == NOT_UNDERSTOOD_TH

    # A button press while muted is ignored too (it would switch the language to English).
    await flooder.press_data("lang:en", message=replies[0])
    assert world.bot.application is not None
    gate = world.bot.application.runtime.flood
    assert gate is not None
    await wait_until(lambda: gate.checks == 14)  # 12 texts, the neighbour's, the press

    # After the mute the flooder is heard again; every update before that got no answer
    # (each person's updates are processed in order, so the next reply proves it).
    world.bot.clock.advance(timedelta(seconds=31))
    await flooder.send("/help")
    back = await flooder.next_reply()
    assert (back.text or "").startswith("คำสั่งที่ใช้ได้")
    assert len(flooder.messages) == 7
    assert flooder.callback_answers == []


async def test_a_steady_pace_under_the_limit_is_never_slowed(world: World) -> None:
    person = world.telegram.person()
    for n in range(12):
        await person.send(f"ข้อความ {n}")
        assert (await person.next_reply()).text == NOT_UNDERSTOOD_TH
        if n % 4 == 3:
            world.bot.clock.advance(timedelta(seconds=11))
    assert SLOW_DOWN_TH not in [m.text for m in person.messages]


async def test_group_floods_are_neither_answered_nor_counted(world: World) -> None:
    person = world.telegram.person()
    group = world.telegram.group("อาสาสมัคร โซน 3")
    for n in range(10):
        await group.send(person, f"/help {n}")
    await person.send("/help")
    assert ((await person.next_reply()).text or "").startswith("คำสั่งที่ใช้ได้")
    assert group.messages == []


def test_gate_allows_the_limit_then_warns_once_then_drops() -> None:
    gate = FloodGate(max_updates=3, window=timedelta(seconds=10), mute=timedelta(seconds=30))
    verdicts = [gate.check(1, T0 + timedelta(seconds=i)) for i in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.WARN, Verdict.DROP, Verdict.DROP]
    assert gate.check(2, T0 + timedelta(seconds=5)) is Verdict.ALLOW
    # The mute started at the 4th update (T0+3s) and lasts 30 seconds.
    assert gate.check(1, T0 + timedelta(seconds=32)) is Verdict.DROP
    assert gate.check(1, T0 + timedelta(seconds=33)) is Verdict.ALLOW


def test_gate_window_slides() -> None:
    gate = FloodGate(max_updates=2, window=timedelta(seconds=10), mute=timedelta(seconds=30))
    times = [0, 5, 10, 15, 20]
    assert [gate.check(1, T0 + timedelta(seconds=s)) for s in times] == [Verdict.ALLOW] * 5
    assert gate.check(1, T0 + timedelta(seconds=21)) is Verdict.WARN


def test_gate_forgets_quiet_people() -> None:
    gate = FloodGate(max_updates=2, window=timedelta(seconds=10), mute=timedelta(seconds=30))
    for person in range(100):
        gate.check(person, T0)
    gate.check(999, T0)
    gate.check(999, T0)
    gate.check(999, T0)  # muted until T0+30s
    gate.sweep(T0 + timedelta(seconds=11))
    assert len(gate) == 1
    gate.sweep(T0 + timedelta(seconds=31))
    assert len(gate) == 0
