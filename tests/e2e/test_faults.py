"""Faults the bot must survive without losing anyone: unreadable updates, a flood."""

from __future__ import annotations

import logging
import statistics
import time
from datetime import timedelta

import pytest

from bot.config import Settings
from tests import harness
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness

HELP_TH = "คำสั่งที่ใช้ได้"


def _bot_member(status: str) -> dict[str, object]:
    return {"status": status, "user": {"id": 7000000001, "is_bot": True, "first_name": "Asa"}}


async def test_an_unreadable_update_is_logged_once_and_skipped(
    bot: BotHarness, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram always sends until_date for a banned member; an update without it (or one the
    library cannot read for any reason) must not stop the bot taking updates."""
    caplog.set_level(logging.INFO)
    before, after = telegram.person(first_name="Before"), telegram.person(first_name="After")
    await before.send("/help")
    chat = {"id": after.chat_id, "type": "private", "first_name": "After"}
    telegram.push_raw_update(
        {
            "my_chat_member": {
                "chat": chat,
                "from": after.user,
                "date": 1_764_570_000,
                "old_chat_member": _bot_member("kicked"),  # no until_date: unreadable
                "new_chat_member": _bot_member("member"),
            }
        }
    )
    telegram.push_raw_update({"message": {"message_id": 1, "text": "no chat, no date"}})
    await after.send("/help")
    assert ((await before.next_reply()).text or "").startswith(HELP_TH)
    assert ((await after.next_reply()).text or "").startswith(HELP_TH)
    await bot.settle()
    assert bot.application is not None
    assert bot.application.bot.malformed_updates == 2  # type: ignore[attr-defined]
    parsing = [r for r in caplog.records if "could not be parsed" in r.getMessage()]
    assert 1 <= len(parsing) <= 3, [r.getMessage() for r in parsing]
    assert not [r for r in caplog.records if r.levelno >= logging.CRITICAL]
    assert not [r for r in caplog.records if "Error while parsing updates" in r.getMessage()]


@pytest.fixture
def settings(telegram: FakeTelegram, database_url: str) -> Settings:
    """The flooder stays muted for the whole flood test (it spans about 120 s of bot time)."""
    return harness.test_settings(
        telegram=telegram, database_url=database_url, bot={"flood_mute_seconds": 300}
    )


async def _reply_seconds(bot: BotHarness, person: object, text: str) -> float:
    """Send and wait for the answer; the time it took. The bot's clock moves 0.6 s each time,
    so the calm person stays under the flood limit (20 in 10 s) however fast the machine."""
    bot.clock.advance(timedelta(seconds=0.6))
    started = time.perf_counter()
    await person.send(text)  # type: ignore[attr-defined]
    await person.next_reply(timeout=30)  # type: ignore[attr-defined]
    return time.perf_counter() - started


# p95 of 100 rounds is their 5th worst: one stall of this shared machine (a garbage
# collection, another process's burst) cannot decide it alone, as it could the 2nd worst of 40.
ROUNDS = 100
FLOOD_PER_ROUND = 10


async def test_one_person_flooding_does_not_slow_anyone_else(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    """1,000 messages from one person, arriving between another person's requests: that
    person's p95 reply time stays within twice the unloaded figure (flood control drops the
    flood before it waits for anything).

    Each round measures one reply with the bot settled, then one right behind 10 flood
    messages, so a busy moment on this shared machine falls on both sides of the comparison
    alike rather than on the loaded side only.

    The timing bound is the issue's criterion, not the proof that flood control works: the
    per-person lock alone keeps 10 messages from one person from delaying another much on an
    idle machine. The proof is that the flood is dropped (at least 900 of the 1,000) before it
    waits for anything, and that the flooder is told once to slow down."""
    telegram.set_rate_limits(enabled=False)
    calm, flooder = telegram.person(first_name="Calm"), telegram.person(first_name="Flood")
    await _reply_seconds(bot, calm, "/help")  # warm up
    unloaded: list[float] = []
    loaded: list[float] = []
    for burst in range(ROUNDS):
        await bot.settle()
        unloaded.append(await _reply_seconds(bot, calm, "/help"))
        for n in range(FLOOD_PER_ROUND):
            await flooder.send(f"ข้อความ {burst}-{n}")
        loaded.append(await _reply_seconds(bot, calm, "/help"))
    await bot.settle()

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1]

    print(f"\nflood: p95 {p95(unloaded) * 1000:.1f} ms calm, {p95(loaded) * 1000:.1f} ms flooded")
    # A floor of 50 ms: on an idle machine both figures are a few ms, where noise dominates.
    assert p95(loaded) <= 2 * max(p95(unloaded), 0.05), (p95(unloaded), p95(loaded))
    assert bot.application is not None
    assert bot.application.processor.dropped >= 900
    # The flooder was told once to slow down and is not answered after that.
    slow_down = [m for m in flooder.messages if "เร็วเกินไป" in (m.text or "")]
    assert len(slow_down) == 1
