"""The bot keeps nothing per person in memory once they are answered.

`python -m bench people` measures this as resident memory over 100,000 distinct people; this test
is the quick, exact form of it: the real bot answers people, and python-telegram-bot's per-person
structures are empty afterwards.
"""

from __future__ import annotations

from bot.context import AsaApplication
from tests.factories import make_event, make_person
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness

PEOPLE = 12


def _remembered(application: AsaApplication) -> dict[str, int]:
    """How many people each per-person structure of python-telegram-bot holds."""
    # Private attributes on purpose: asa runs without a persistence, and these two sets are
    # what python-telegram-bot 22 fills for one (AsaApplication._mark_for_persistence_update).
    return {
        "chat ids for a persistence round": len(application._chat_ids_to_be_updated_in_persistence),
        "user ids for a persistence round": len(application._user_ids_to_be_updated_in_persistence),
        "chat_data": len(application.chat_data),
        "user_data": len(application.user_data),
    }


async def test_people_answered_leave_nothing_behind_in_the_application(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    newcomers = [telegram.person() for _ in range(PEOPLE)]
    members = [telegram.person() for _ in range(PEOPLE)]
    async with bot.sessions() as session:
        event = await make_event(session, now=bot.clock.now())
        for i, chat in enumerate(members):
            await make_person(session, telegram_id=chat.user_id, full_name=f"คน {i:02d}")

    for chat in newcomers:
        await chat.send("/start")
    for chat in members:
        await chat.send(f"/checkin {event.code}")
    for chat in newcomers:
        assert await chat.next_reply()
    for chat in members:
        assert ((await chat.next_reply()).text or "").startswith("✅")
    await bot.settle()

    assert bot.application is not None
    assert _remembered(bot.application) == dict.fromkeys(_remembered(bot.application), 0)
