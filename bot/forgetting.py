"""python-telegram-bot's memory of everyone it has seen, emptied every minute.

asa keeps its state in the database, never in python-telegram-bot's `user_data`, `chat_data` or
`bot_data`. Yet python-telegram-bot 22 notes the chat id and user id of every update it handles
in two sets kept for its persistence, and only a persistence run empties them; with no
persistence they grow by two integers for every person who ever wrote (about 14 MiB per 100,000
people, measured: README, Performance, Memory).

`Forgetful` is a persistence that stores nothing. Installed, it makes python-telegram-bot run
its persistence round every `INTERVAL_SECONDS`, which empties those sets through its public
interface. A round hands it the user and chat ids seen since the last one (creating an empty
`user_data` and `chat_data` entry for each as it does), and `Forgetful` drops those entries
again with `Application.drop_user_data` and `drop_chat_data`; the next round forgets the
drops. So what python-telegram-bot holds per person lasts at most two rounds.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from telegram.ext import Application, BasePersistence, PersistenceInput

# python-telegram-bot's own default; a round costs a few microseconds per person seen since.
INTERVAL_SECONDS = 60.0

Data = dict[Any, Any]
# python-telegram-bot's own aliases for these (telegram.ext._utils.types), which it does not export.
ConversationKey = tuple[int | str, ...]
ConversationDict = MutableMapping[ConversationKey, object]
CDCData = tuple[list[tuple[str, float, dict[str, Any]]], dict[str, str]]


class Forgetful(BasePersistence[Data, Data, Data]):
    """A persistence that keeps nothing and makes python-telegram-bot forget each person."""

    def __init__(self, *, update_interval: float = INTERVAL_SECONDS) -> None:
        # user_data and chat_data "stored" so that a round empties the id sets; nothing else.
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=True, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self._application: Application[Any, Any, Any, Any, Any, Any] | None = None

    def forget_for(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """The application whose per-person entries each round drops."""
        self._application = application

    async def update_user_data(self, user_id: int, data: Data) -> None:
        """A person seen since the last round: drop the entry the round just made."""
        if self._application is not None:
            self._application.drop_user_data(user_id)

    async def update_chat_data(self, chat_id: int, data: Data) -> None:
        """A chat seen since the last round: drop the entry the round just made."""
        if self._application is not None:
            self._application.drop_chat_data(chat_id)

    # Nothing is ever stored, so there is nothing to load, refresh, write or drop.
    async def get_user_data(self) -> dict[int, Data]:
        """Nothing stored."""
        return {}

    async def get_chat_data(self) -> dict[int, Data]:
        """Nothing stored."""
        return {}

    async def get_bot_data(self) -> Data:
        """Nothing stored."""
        return {}

    async def get_callback_data(self) -> CDCData | None:
        """Nothing stored."""
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        """Nothing stored."""
        return {}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """Nothing to store."""

    async def update_bot_data(self, data: Data) -> None:
        """Nothing to store."""

    async def update_callback_data(self, data: CDCData) -> None:
        """Nothing to store."""

    async def drop_chat_data(self, chat_id: int) -> None:
        """Nothing stored."""

    async def drop_user_data(self, user_id: int) -> None:
        """Nothing stored."""

    async def refresh_user_data(self, user_id: int, user_data: Data) -> None:
        """Nothing stored."""

    async def refresh_chat_data(self, chat_id: int, chat_data: Data) -> None:
        """Nothing stored."""

    async def refresh_bot_data(self, bot_data: Data) -> None:
        """Nothing stored."""

    async def flush(self) -> None:
        """Nothing to write."""
