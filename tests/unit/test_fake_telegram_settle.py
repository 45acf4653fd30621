"""Settling without guessing: FakeTelegram.quiescent() and the `changed` signal."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from telegram import Bot
from telegram.error import TimedOut

from tests.fake_telegram import FakeTelegram
from tests.fake_telegram.testing import bot_fixture, tg_fixture  # noqa: F401 (fixtures)


async def test_quiescent_until_an_update_waits_and_again_once_confirmed(
    tg: FakeTelegram, bot: Bot
) -> None:
    assert tg.quiescent()
    person = tg.person()
    await person.send("/start")
    assert not tg.quiescent()  # pending, and nobody polls

    updates = await bot.get_updates()
    assert not tg.quiescent()  # fetched is not confirmed
    poll = asyncio.create_task(bot.get_updates(offset=updates[-1].update_id + 1, timeout=5))
    # The next poll confirms and then waits: a held long poll does not count as work.
    assert await tg.changed.wait_until(tg.quiescent, 2)
    assert tg.api.held_polls == 1
    assert tg.world.updates.pending == 0

    await person.send("อีกครั้ง")
    assert not tg.quiescent()
    assert [u.message.text for u in await poll if u.message] == ["อีกครั้ง"]
    assert tg.api.held_polls == 0


async def test_a_request_in_flight_is_not_quiescent(tg: FakeTelegram, bot: Bot) -> None:
    person = tg.person()
    await person.send("/start")
    updates = await bot.get_updates()
    await bot.get_updates(offset=updates[-1].update_id + 1)
    assert tg.quiescent()

    tg.fail_next("sendMessage", kind="timeout")  # the fake holds the request unanswered
    sending = asyncio.create_task(bot.send_message(person.chat_id, "x", read_timeout=5))
    assert await tg.changed.wait_until(lambda: not tg.quiescent(), 2)
    assert tg.calls_of("sendMessage")  # it is the held sendMessage that keeps the fake busy
    sending.cancel()  # the client hangs up; the fake stops serving it
    with contextlib.suppress(asyncio.CancelledError, TimedOut):
        await sending
    assert await tg.changed.wait_until(tg.quiescent, 2)


async def test_changed_fires_on_every_state_change(tg: FakeTelegram, bot: Bot) -> None:
    fires = tg.changed.fires
    person = tg.person()
    await person.send("/start")  # pushed
    assert tg.changed.fires == fires + 1

    fires = tg.changed.fires
    updates = await bot.get_updates()  # request start and end
    assert tg.changed.fires >= fires + 2

    fires = tg.changed.fires
    await bot.get_updates(offset=updates[-1].update_id + 1)  # start, confirmed, end
    assert tg.changed.fires >= fires + 3

    fires = tg.changed.fires
    await bot.get_updates(timeout=dt.timedelta(milliseconds=10))  # start, hold, release, end
    assert tg.changed.fires >= fires + 4


async def test_a_waiter_wakes_as_soon_as_the_condition_holds(tg: FakeTelegram, bot: Bot) -> None:
    await tg.person().send("/start")
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiter = asyncio.create_task(tg.changed.wait_until(tg.quiescent, 10))
    updates = await bot.get_updates()
    assert not waiter.done()
    await bot.get_updates(offset=updates[-1].update_id + 1)
    assert await waiter
    assert loop.time() - started < 2  # woken by the change, not by the 10 s timeout


async def test_wait_until_reports_false_when_the_condition_never_holds(tg: FakeTelegram) -> None:
    await tg.person().send("/start")  # nobody polls
    assert not await tg.changed.wait_until(tg.quiescent, 0.05)
