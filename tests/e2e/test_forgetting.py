"""The bot forgets each person python-telegram-bot noted, once its persistence round runs
(bot/forgetting.py): what it holds per person does not grow with everyone who ever wrote."""

from __future__ import annotations

from bot.context import AsaApplication
from bot.forgetting import INTERVAL_SECONDS, Forgetful
from tests.fake_telegram import FakeTelegram
from tests.harness import BotHarness

PEOPLE = 30


def _noted(application: AsaApplication) -> tuple[int, int]:
    """How many user and chat ids python-telegram-bot holds for its persistence.

    These are python-telegram-bot's private sets (22.x): the memory this feature exists to
    empty. Reading them is the point of the test; if a release renames them, this fails and
    says so, and the workaround must be looked at again.
    """
    users = application._user_ids_to_be_updated_in_persistence
    chats = application._chat_ids_to_be_updated_in_persistence
    return len(users), len(chats)


def _to_be_dropped(application: AsaApplication) -> tuple[int, int]:
    """The ids python-telegram-bot holds to drop at its next round (private, as above)."""
    users = application._user_ids_to_be_deleted_in_persistence
    chats = application._chat_ids_to_be_deleted_in_persistence
    return len(users), len(chats)


async def test_everyone_noted_is_forgotten_after_two_rounds(
    bot: BotHarness, telegram: FakeTelegram
) -> None:
    application = bot.application
    assert application is not None
    assert isinstance(application.persistence, Forgetful)
    assert application.persistence.update_interval == INTERVAL_SECONDS

    people = [telegram.person() for _ in range(PEOPLE)]
    for person in people:
        await person.send("/help")
    for person in people:
        assert (await person.next_reply()).text
    await bot.settle()
    # Without a persistence round, python-telegram-bot keeps every one of them.
    assert _noted(application) == (PEOPLE, PEOPLE)

    await application.update_persistence()
    assert _noted(application) == (0, 0)
    assert dict(application.user_data) == {}
    assert dict(application.chat_data) == {}
    assert _to_be_dropped(application) == (PEOPLE, PEOPLE)

    await application.update_persistence()
    assert _to_be_dropped(application) == (0, 0)
    assert _noted(application) == (0, 0)

    # Forgetting changes nothing a person sees: they are still answered, in their language.
    await people[0].send("/help")
    assert (await people[0].next_reply()).text
