"""Everything the fake Telegram knows: chats, users, messages both ways, files, updates."""

from __future__ import annotations

import itertools
import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any

from .models import SentMessage, StoredFile, UserMessage
from .updates import Signal, UpdateQueue

_FILE_PREFIXES = {"photo": "AgACAgUAAxkBAAI", "document": "BQACAgUAAxkBAAI"}
_FILE_FOLDERS = {"photo": "photos", "document": "documents", "voice": "voice"}


@dataclass
class CallbackQueryRecord:
    """A callback query the fake issued, waiting for answerCallbackQuery."""

    query_id: str
    user_id: int
    data: str | None
    message: SentMessage | None
    answer: dict[str, Any] | None = None


@dataclass
class World:
    """The shared state that method handlers and simulated people act on."""

    bot_user: dict[str, Any]
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    sent: list[SentMessage] = field(default_factory=list)
    bot_messages: dict[tuple[int, int], SentMessage] = field(default_factory=dict)
    user_messages: dict[tuple[int, int], UserMessage] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQueryRecord] = field(default_factory=dict)
    callback_answers: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    chat_actions: list[tuple[int, str]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    messages_changed: Signal = field(default_factory=Signal)
    updates_changed: Signal = field(default_factory=Signal)  # arrivals, poll and webhook changes
    changed: Signal = field(default_factory=Signal)  # anything FakeTelegram.quiescent() reads
    _message_ids: dict[int, int] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.updates = UpdateQueue(self.updates_changed, self.changed)

    @staticmethod
    def now() -> int:
        """Unix time in seconds, the unit of every Bot API date."""
        return int(time.time())

    def serial(self) -> int:
        """A fresh number for ids that only need to be unique."""
        return next(self._counter)

    def next_message_id(self, chat_id: int) -> int:
        """Message ids are per chat and shared by both sides of it, like on Telegram."""
        message_id = self._message_ids.get(chat_id, 0) + 1
        self._message_ids[chat_id] = message_id
        return message_id

    def known_chat(self, chat_id: int) -> dict[str, Any] | None:
        """The chat object of a chat the bot has seen, else None."""
        return self.chats.get(chat_id)

    def chat_by_username(self, username: str) -> dict[str, Any] | None:
        """Find a chat by "@username"."""
        wanted = username.removeprefix("@").lower()
        return next(
            (chat for chat in self.chats.values() if chat.get("username", "").lower() == wanted),
            None,
        )

    def store_file(
        self, data: bytes, *, kind: str, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        """Keep bytes under a fresh file_id so getFile and downloads work."""
        n = self.serial()
        extension = ""
        if file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        elif mime_type:
            extension = mimetypes.guess_extension(mime_type) or ""
        stored = StoredFile(
            file_id=f"{_FILE_PREFIXES.get(kind, 'CQACAgUAAxkBAAI')}{n:08d}AAF",
            file_unique_id=f"AQAD{n:06d}",
            data=data,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{_FILE_FOLDERS.get(kind, kind + 's')}/file_{n}{extension}",
        )
        self.files[stored.file_id] = stored
        return stored

    def add_bot_message(self, message: SentMessage) -> None:
        """Record a message the bot sent and wake whoever waits for replies."""
        self.sent.append(message)
        self.bot_messages[(message.chat_id, message.message_id)] = message
        self.messages_changed.fire()

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to `chat_id`, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    def message_json(self, message: SentMessage, *, with_reply: bool = True) -> dict[str, Any]:
        """The Bot API Message object for a bot message, as it is now."""
        chat = self.chats[message.chat_id]
        data: dict[str, Any] = {"message_id": message.message_id}
        if chat["type"] == "channel":
            data["sender_chat"] = chat
        else:
            data["from"] = self.bot_user
        data.update(chat=chat, date=message.date)
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if with_reply and message.reply_to_message_id is not None:
            replied = self.replied_json(message.chat_id, message.reply_to_message_id)
            if replied is not None:
                data["reply_to_message"] = replied
        _add_content(data, message)
        return data

    def replied_json(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The JSON of a message being replied to, without its own reply chain."""
        key = (chat_id, message_id)
        if key in self.bot_messages:
            return self.message_json(self.bot_messages[key], with_reply=False)
        if key in self.user_messages:
            payload = dict(self.user_messages[key].payload)
            payload.pop("reply_to_message", None)
            return payload
        return None

    def message_exists(self, chat_id: int, message_id: int) -> bool:
        """Whether a not-deleted message with this id is in the chat."""
        key = (chat_id, message_id)
        bot = self.bot_messages.get(key)
        user = self.user_messages.get(key)
        return (bot is not None and not bot.deleted) or (user is not None and not user.deleted)


def _add_content(data: dict[str, Any], message: SentMessage) -> None:
    """Add the text or media part and the inline keyboard to a Message object."""
    if message.kind == "text":
        data["text"] = message.text
        if message.entities:
            data["entities"] = message.entities
        if message.link_preview_options:
            data["link_preview_options"] = message.link_preview_options
    else:
        data[message.kind] = message.media
        if message.caption:
            data["caption"] = message.caption
            if message.entities:
                data["caption_entities"] = message.entities
    # Telegram echoes only inline keyboards back; reply keyboards live in the client.
    if message.has_inline_keyboard:
        data["reply_markup"] = message.reply_markup
