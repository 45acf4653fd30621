"""python-telegram-bot persistence kept in our own SQL tables.

Conversation states and per-user data are rows, so a person half-way through registration
continues after a restart. Bot data and callback data are not persisted: everything important
lives in proper tables, and our buttons carry plain ids rather than arbitrary callback data.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlmodel import delete, select
from telegram.ext import BasePersistence, PersistenceInput
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from storage.database import SessionFactory
from storage.models import PtbChatData, PtbConversation, PtbUserData

UserData = dict[Any, Any]
ChatData = dict[Any, Any]
BotData = dict[Any, Any]


def _key_to_text(key: ConversationKey) -> str:
    """Conversation keys are tuples of ids (or strings); JSON keeps them exact."""
    return json.dumps(list(key))


def _encode(data: dict[Any, Any]) -> str:
    """A canonical text of some data, to tell whether it changed."""
    return json.dumps(data, sort_keys=True, default=str)


def _text_to_key(text: str) -> ConversationKey:
    return tuple(json.loads(text))


class SqlPersistence(BasePersistence[UserData, ChatData, BotData]):
    """Stores user data, chat data and conversation states in the database."""

    def __init__(self, sessions: SessionFactory, *, update_interval: float = 60) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=True, user_data=True, callback_data=False
            ),
            update_interval=update_interval,
        )
        self._sessions = sessions
        # What each row holds now, as JSON: python-telegram-bot hands over every touched
        # person's data after every update, changed or not, and on SQLite each needless write
        # is a transaction that holds up everyone else's.
        self._written: dict[tuple[str, int], str] = {}

    def _unchanged(self, kind: str, key: int, data: dict[Any, Any]) -> bool:
        """True if this data is already what the row holds (no row reads as empty data)."""
        written = self._written.get((kind, key))
        if written is None:
            return not data
        return written == _encode(data)

    def _remember(self, kind: str, key: int, data: dict[Any, Any]) -> None:
        """Note what a row holds after a successful write or read."""
        self._written[(kind, key)] = _encode(data)

    async def get_user_data(self) -> dict[int, UserData]:
        """Every person's saved data."""
        async with self._sessions() as session:
            rows = (await session.exec(select(PtbUserData))).all()
        result: dict[int, UserData] = defaultdict(dict)
        result.update({row.user_id: dict(row.data) for row in rows})
        for user_id, data in result.items():
            self._remember("user", user_id, data)
        return result

    async def get_chat_data(self) -> dict[int, ChatData]:
        """Every chat's saved data."""
        async with self._sessions() as session:
            rows = (await session.exec(select(PtbChatData))).all()
        result: dict[int, ChatData] = defaultdict(dict)
        result.update({row.chat_id: dict(row.data) for row in rows})
        for chat_id, data in result.items():
            self._remember("chat", chat_id, data)
        return result

    async def get_bot_data(self) -> BotData:
        """Bot data is not persisted (see the module docstring)."""
        return {}

    async def get_callback_data(self) -> CDCData | None:
        """Arbitrary callback data is not used."""
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        """The saved states of one conversation handler."""
        async with self._sessions() as session:
            rows = (
                await session.exec(select(PtbConversation).where(PtbConversation.name == name))
            ).all()
        return {_text_to_key(row.key): row.state for row in rows}

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        """Save (or clear, for None) one person's state in one conversation."""
        text_key = _key_to_text(key)
        async with self._sessions() as session:
            if new_state is None:
                await session.exec(
                    delete(PtbConversation).where(
                        PtbConversation.name == name,  # type: ignore[arg-type]
                        PtbConversation.key == text_key,  # type: ignore[arg-type]
                    )
                )
            else:
                await session.merge(PtbConversation(name=name, key=text_key, state=new_state))
            await session.commit()

    async def update_user_data(self, user_id: int, data: UserData) -> None:
        """Save one person's data (if it changed)."""
        if self._unchanged("user", user_id, data):
            return
        async with self._sessions() as session:
            await session.merge(PtbUserData(user_id=user_id, data=data))
            await session.commit()
        self._remember("user", user_id, data)

    async def update_chat_data(self, chat_id: int, data: ChatData) -> None:
        """Save one chat's data (if it changed)."""
        if self._unchanged("chat", chat_id, data):
            return
        async with self._sessions() as session:
            await session.merge(PtbChatData(chat_id=chat_id, data=data))
            await session.commit()
        self._remember("chat", chat_id, data)

    async def update_bot_data(self, data: BotData) -> None:
        """Bot data is not persisted."""

    async def update_callback_data(self, data: CDCData) -> None:
        """Callback data is not persisted."""

    async def drop_chat_data(self, chat_id: int) -> None:
        """Forget one chat's data."""
        self._written.pop(("chat", chat_id), None)
        async with self._sessions() as session:
            await session.exec(delete(PtbChatData).where(PtbChatData.chat_id == chat_id))  # type: ignore[arg-type]
            await session.commit()

    async def drop_user_data(self, user_id: int) -> None:
        """Forget one person's data (used by /forget)."""
        self._written.pop(("user", user_id), None)
        async with self._sessions() as session:
            await session.exec(delete(PtbUserData).where(PtbUserData.user_id == user_id))  # type: ignore[arg-type]
            await session.commit()

    async def refresh_user_data(self, user_id: int, user_data: UserData) -> None:
        """Nothing to refresh: this process is the only writer."""

    async def refresh_chat_data(self, chat_id: int, chat_data: ChatData) -> None:
        """Nothing to refresh: this process is the only writer."""

    async def refresh_bot_data(self, bot_data: BotData) -> None:
        """Nothing to refresh."""

    async def flush(self) -> None:
        """Every write is committed at once; nothing is buffered."""

    async def drop_conversations_of(self, key_part: int) -> None:
        """Forget every conversation state of one person (used by /forget)."""
        async with self._sessions() as session:
            rows = (await session.exec(select(PtbConversation))).all()
            for row in rows:
                if key_part in _text_to_key(row.key):
                    await session.delete(row)
            await session.commit()
