"""Simulated humans (Person), groups and channels that produce updates for the bot."""

from __future__ import annotations

import enum
import mimetypes
import re
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .formatting import utf16_len
from .models import ReplyButton, SentMessage, StoredFile, UserMessage
from .state import CallbackQueryRecord, World

if TYPE_CHECKING:
    from .server import FakeTelegram

_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")
_FORWARD_AGE = 3600  # forwarded content is older than the forward itself


class _Default(enum.Enum):
    """Sentinel for "the sender's own id"."""

    SELF = "self"


SELF = _Default.SELF


def _tiny_png() -> bytes:
    """A valid 1x1 PNG, so photos a person sends are real images."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


TINY_PNG = _tiny_png()


def command_entities(text: str) -> list[dict[str, Any]]:
    """bot_command entities for every /command in a text, as Telegram clients create them."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for m in _COMMAND.finditer(text)
    ]


def post_message(
    world: World,
    *,
    chat: dict[str, Any],
    sender: dict[str, Any] | None,
    content: dict[str, Any],
    reply_to: SentMessage | UserMessage | None = None,
    update_kind: str = "message",
) -> UserMessage:
    """Store a message from a user (or a channel) and queue its update."""
    message_id = world.next_message_id(chat["id"])
    payload: dict[str, Any] = {"message_id": message_id}
    if sender is not None:
        payload["from"] = sender
    else:
        payload["sender_chat"] = chat
    payload.update(chat=chat, date=world.now(), **content)
    if reply_to is not None:
        replied = world.replied_json(reply_to.chat_id, reply_to.message_id)
        if replied is not None:
            payload["reply_to_message"] = replied
    message = UserMessage(message_id, chat["id"], sender["id"] if sender else None, payload)
    world.user_messages[(chat["id"], message_id)] = message
    world.updates.push(update_kind, payload)
    return message


def text_content(text: str) -> dict[str, Any]:
    """The text part of a message, with command entities."""
    content: dict[str, Any] = {"text": text}
    entities = command_entities(text)
    if entities:
        content["entities"] = entities
    return content


def _file_json(stored: StoredFile) -> dict[str, Any]:
    """The fields every file object shares."""
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }


class Person:
    """A human user in a private chat with the bot.

    `next_reply()` / `replies()` / `wait_for()` read the bot's messages through a cursor, so
    each bot message is returned once; `messages` and `last` show everything regardless.
    """

    def __init__(
        self,
        fake: FakeTelegram,
        *,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> None:
        self.fake = fake
        self.user_id = user_id
        self.chat_id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.sent_messages: list[UserMessage] = []
        self._cursor = 0
        self._seen_edits: dict[int, int] = {}
        self._live_location: UserMessage | None = None
        fake.world.users[user_id] = self.user

    def __repr__(self) -> str:
        return f"Person({self.first_name!r}, user_id={self.user_id})"

    @property
    def world(self) -> World:
        """The fake's shared state."""
        return self.fake.world

    @property
    def user(self) -> dict[str, Any]:
        """The Bot API User object of this person."""
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        user.update({key: value for key, value in optional.items() if value is not None})
        return user

    @property
    def chat(self) -> dict[str, Any]:
        """The private Chat object between this person and the bot."""
        chat: dict[str, Any] = {
            "id": self.chat_id,
            "type": "private",
            "first_name": self.first_name,
        }
        if self.last_name is not None:
            chat["last_name"] = self.last_name
        if self.username is not None:
            chat["username"] = self.username
        return chat

    # ------------------------------------------------------------------ what the bot sent

    @property
    def messages(self) -> list[SentMessage]:
        """Everything the bot sent to this chat, in order."""
        return self.world.messages_to(self.chat_id)

    @property
    def last(self) -> SentMessage | None:
        """The latest bot message to this chat."""
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """answerCallbackQuery calls for this person's button presses, in order."""
        return self.world.callback_answers.setdefault(self.user_id, [])

    @property
    def reply_keyboard(self) -> list[list[ReplyButton]] | None:
        """The reply keyboard the client shows now: the latest one not removed since."""
        for message in reversed(self.messages):
            if message.removes_keyboard:
                return None
            if message.keyboard is not None:
                return message.keyboard
        return None

    def mark_read(self) -> None:
        """Move the reply cursor past everything received so far."""
        self._cursor = len(self.messages)

    async def next_reply(self, timeout: float = 5.0) -> SentMessage:  # noqa: ASYNC109
        """The next bot message not returned by next_reply() yet."""
        arrived = await self.world.messages_changed.wait_until(
            lambda: len(self.messages) > self._cursor, timeout
        )
        if not arrived:
            raise AssertionError(self._report(f"no new bot message within {timeout}s"))
        message = self.messages[self._cursor]
        self._cursor += 1
        return message

    async def replies(self, n: int, timeout: float = 5.0) -> list[SentMessage]:  # noqa: ASYNC109
        """The next `n` bot messages, all within `timeout` seconds."""
        arrived = await self.world.messages_changed.wait_until(
            lambda: len(self.messages) >= self._cursor + n, timeout
        )
        if not arrived:
            got = len(self.messages) - self._cursor
            raise AssertionError(self._report(f"expected {n} new bot messages, got {got}"))
        batch = self.messages[self._cursor : self._cursor + n]
        self._cursor += n
        return batch

    async def wait_for(
        self,
        predicate: Callable[[SentMessage], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> SentMessage:
        """The first bot message from the cursor on that satisfies `predicate`; moves past it."""
        found: list[int] = []

        def scan() -> bool:
            messages = self.messages
            found[:] = [i for i in range(self._cursor, len(messages)) if predicate(messages[i])]
            return bool(found)

        if not await self.world.messages_changed.wait_until(scan, timeout):
            raise AssertionError(self._report("no bot message matched the predicate"))
        self._cursor = found[0] + 1
        return self.messages[found[0]]

    async def wait_for_edit(self, message: SentMessage, timeout: float = 5.0) -> SentMessage:  # noqa: ASYNC109
        """Wait until `message` is edited again (an edit not seen by this method before)."""
        key = message.message_id
        seen = self._seen_edits.get(key, 0)
        if not await self.world.messages_changed.wait_until(lambda: message.edits > seen, timeout):
            raise AssertionError(self._report(f"message #{key} was not edited within {timeout}s"))
        self._seen_edits[key] = message.edits
        return message

    async def wait_for_answer(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """Wait until the bot answers this person's latest button press."""
        count = len(self.callback_answers)
        queries = [q for q in self.world.callback_queries.values() if q.user_id == self.user_id]
        if queries and queries[-1].answer is not None:
            return queries[-1].answer
        if not await self.world.messages_changed.wait_until(
            lambda: len(self.callback_answers) > count, timeout
        ):
            raise AssertionError(self._report("the button press was not answered"))
        return self.callback_answers[-1]

    def _report(self, problem: str) -> str:
        """A timeout message showing what the chat got, failed calls and stuck updates."""
        lines = [f"{self!r}: {problem}.", "Bot messages to this chat so far:"]
        lines += [f"  {m.summary()}" for m in self.messages] or ["  (none)"]
        if self._cursor:
            lines.append(f"(the first {self._cursor} were already consumed by next_reply/wait_for)")
        failed = self.fake.failed_calls[-5:]
        if failed:
            lines.append("Recent failed API calls:")
            lines += [f"  {c.method} -> {c.status} {c.description}" for c in failed]
        if self.world.updates.pending:
            lines.append(self.fake.pending_report())
        return "\n".join(lines)

    # ------------------------------------------------------------------ sending to the bot

    def _post(
        self,
        content: dict[str, Any],
        *,
        reply_to: SentMessage | UserMessage | None = None,
    ) -> UserMessage:
        """Send a message into the private chat; the first one makes the chat known."""
        self.world.chats.setdefault(self.chat_id, self.chat)
        message = post_message(
            self.world, chat=self.chat, sender=self.user, content=content, reply_to=reply_to
        )
        self.sent_messages.append(message)
        return message

    async def send(
        self, text: str, *, reply_to: SentMessage | UserMessage | None = None
    ) -> UserMessage:
        """A text message; /commands get bot_command entities."""
        return self._post(text_content(text), reply_to=reply_to)

    async def tap(self, button: str) -> UserMessage:
        """Tap a plain button of the current reply keyboard (it sends its text)."""
        keyboard = self.reply_keyboard
        texts = [b.text for row in keyboard or [] for b in row]
        chosen = next((b for row in keyboard or [] for b in row if b.text == button), None)
        if chosen is None:
            raise AssertionError(f"no reply keyboard button {button!r}; keyboard shows {texts}")
        if chosen.request_contact or chosen.request_location:
            raise AssertionError(
                f"{button!r} requests a contact/location: use share_contact/share_location"
            )
        return await self.send(button)

    async def forward_from(
        self, other: Person, text: str = "สวัสดีครับ", *, hidden: bool = False
    ) -> UserMessage:
        """Forward to the bot a message `other` wrote; `hidden` mimics forward privacy."""
        origin: dict[str, Any] = {"date": self.world.now() - _FORWARD_AGE}
        if hidden:
            origin.update(type="hidden_user", sender_user_name=other.first_name)
        else:
            origin.update(type="user", sender_user=other.user)
        return self._post({**text_content(text), "forward_origin": origin})

    async def share_contact(
        self,
        phone: str,
        *,
        user_id: int | _Default | None = SELF,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> UserMessage:
        """Share a contact; by default one's own (contact.user_id == sender id).

        Telegram often sends one's own number without the leading "+"; pass it that way
        to test normalisation.
        """
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name or self.first_name,
        }
        if last_name is not None:
            contact["last_name"] = last_name
        owner = self.user_id if user_id is SELF else user_id
        if owner is not None:
            contact["user_id"] = owner
        return self._post({"contact": contact})

    async def share_location(
        self,
        latitude: float,
        longitude: float,
        *,
        live_period: int | None = None,
        forwarded: bool = False,
    ) -> UserMessage:
        """Share a location; `forwarded` marks it as forwarded (an old location)."""
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if live_period is not None:
            location["live_period"] = live_period
        content: dict[str, Any] = {"location": location}
        if forwarded:
            origin_date = self.world.now() - _FORWARD_AGE
            content["forward_origin"] = {
                "type": "user",
                "sender_user": self.user,
                "date": origin_date,
            }
        message = self._post(content)
        if live_period is not None:
            self._live_location = message
        return message

    async def move_to(self, latitude: float, longitude: float) -> None:
        """Move a live location: an edited_message update of the last live location."""
        message = self._live_location
        if message is None:
            raise AssertionError("move_to() needs a live location: share_location(live_period=...)")
        location = {**message.payload["location"], "latitude": latitude, "longitude": longitude}
        self._edit(message, {"location": location})

    async def edit_last(self, new_text: str) -> None:
        """Edit this person's latest text message (an edited_message update)."""
        message = next((m for m in reversed(self.sent_messages) if m.text is not None), None)
        if message is None:
            raise AssertionError(f"{self!r} has sent no text message to edit")
        self._edit(message, {"entities": None, **text_content(new_text)})

    def _edit(self, message: UserMessage, changes: dict[str, Any]) -> None:
        """Apply changes to a sent message and queue edited_message."""
        payload = {**message.payload, **changes, "edit_date": self.world.now()}
        message.payload = {key: value for key, value in payload.items() if value is not None}
        self.world.updates.push("edited_message", message.payload)

    async def send_sticker(self) -> UserMessage:
        """A (regular, static) sticker."""
        stored = self._upload(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "sticker", "sticker.webp")
        sticker = {
            **_file_json(stored),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return self._post({"sticker": sticker})

    async def send_photo(self, caption: str | None = None) -> UserMessage:
        """A photo (a real 1x1 PNG the bot can download)."""
        stored = self._upload(TINY_PNG, "photo", "photo.png")
        content: dict[str, Any] = {"photo": [{**_file_json(stored), "width": 1, "height": 1}]}
        if caption is not None:
            content["caption"] = caption
        return self._post(content)

    async def send_voice(self) -> UserMessage:
        """A two-second voice note."""
        stored = self._upload(b"OggS\x00\x02" + bytes(64), "voice", "voice.ogg")
        voice = {**_file_json(stored), "duration": 2, "mime_type": "audio/ogg"}
        return self._post({"voice": voice})

    async def send_document(self, name: str, data: bytes) -> UserMessage:
        """A file the bot can download with getFile."""
        stored = self._upload(data, "document", name)
        document = {**_file_json(stored), "file_name": name}
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return self._post({"document": document})

    def _upload(self, data: bytes, kind: str, name: str) -> StoredFile:
        """Register a file so the bot can fetch it."""
        mime_type = mimetypes.guess_type(name)[0]
        return self.world.store_file(data, kind=kind, file_name=name, mime_type=mime_type)

    # ------------------------------------------------------------------ buttons

    async def press(self, button: str, *, message: SentMessage | None = None) -> str:
        """Press an inline button by text or callback_data (exact, else a unique substring)."""
        target = message or self._latest_with_keyboard()
        if target is None:
            raise AssertionError(self._report("no bot message with an inline keyboard"))
        chosen = _find_button(target, button)
        data = chosen.get("callback_data")
        if not isinstance(data, str):
            raise AssertionError(f"button {chosen['text']!r} is not a callback button: {chosen}")
        return self._callback(target, data)

    async def press_data(self, data: str, *, message: SentMessage | None = None) -> str:
        """Send any callback_data, as a tampered client could."""
        target = message or self._latest_with_keyboard() or self.last
        if target is None:
            raise AssertionError(self._report("no bot message to attach a callback query to"))
        return self._callback(target, data)

    def _latest_with_keyboard(self) -> SentMessage | None:
        """The latest live bot message in this chat with an inline keyboard."""
        for message in reversed(self.messages):
            if message.has_inline_keyboard and not message.deleted:
                return message
        return None

    def _callback(self, message: SentMessage, data: str) -> str:
        """Queue a callback_query update; returns its id."""
        if message.deleted:
            raise AssertionError(f"message #{message.message_id} was deleted; nothing to press")
        query_id = f"{self.user_id}{self.world.serial():07d}"
        self.world.callback_queries[query_id] = CallbackQueryRecord(
            query_id, self.user_id, data, message
        )
        payload = {
            "id": query_id,
            "from": self.user,
            "message": self.world.message_json(message),
            "chat_instance": str(message.chat_id * 7919 % 10**18),
            "data": data,
        }
        self.world.updates.push("callback_query", payload)
        return query_id

    # ------------------------------------------------------------------ membership

    async def block_bot(self) -> None:
        """Block the bot: later sends get 403, and the bot gets a my_chat_member update."""
        self.fake.block(self.chat_id)
        self._member_update("member", "kicked")

    async def unblock_bot(self) -> None:
        """Unblock the bot (restart it)."""
        self.fake.unblock(self.chat_id)
        self._member_update("kicked", "member")

    def _member_update(self, old: str, new: str) -> None:
        """Queue my_chat_member for a status change of the bot in this chat."""
        self.world.chats.setdefault(self.chat_id, self.chat)
        bot = self.world.bot_user
        payload = {
            "chat": self.chat,
            "from": self.user,
            "date": self.world.now(),
            "old_chat_member": chat_member(bot, old),
            "new_chat_member": chat_member(bot, new),
        }
        self.world.updates.push("my_chat_member", payload)


def chat_member(user: dict[str, Any], status: str, *, until_date: int = 0) -> dict[str, Any]:
    """A ChatMember object with exactly the fields Telegram sends for `status`.

    As the Bot API server writes them: "kicked" always carries until_date (0: for ever),
    "member" only when a subscription ends (until_date > 0), "left" nothing more. Other
    statuses (creator, administrator, restricted) depend on the chat type and rights, and the
    fake never emits them.
    """
    member: dict[str, Any] = {"user": user, "status": status}
    if status == "kicked" or (status == "member" and until_date > 0):
        member["until_date"] = until_date
    elif status not in ("member", "left"):
        raise ValueError(f"the fake does not emit chat members with status {status!r}")
    return member


def _find_button(message: SentMessage, wanted: str) -> dict[str, Any]:
    """The inline button whose text or callback_data is `wanted`, else a unique partial match."""
    buttons = message.inline_buttons
    exact = [b for b in buttons if wanted in (b["text"], b.get("callback_data"))]
    if exact:
        return exact[0]
    partial = [b for b in buttons if wanted in b["text"] or wanted in b.get("callback_data", "")]
    if len(partial) == 1:
        return partial[0]
    problem = "matches several buttons" if partial else "matches no button"
    raise AssertionError(
        f"{wanted!r} {problem} on bot message {message.summary()}; "
        f"available (text, data/url): {message.buttons}"
    )


class Group:
    """A basic group with the bot in it; bots should usually stay quiet here."""

    def __init__(self, fake: FakeTelegram, *, chat_id: int, title: str) -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.title = title
        self.chat: dict[str, Any] = {"id": chat_id, "type": "group", "title": title}
        fake.world.chats[chat_id] = self.chat

    @property
    def messages(self) -> list[SentMessage]:
        """Everything the bot sent to this group."""
        return self.fake.messages_to(self.chat_id)

    async def send(
        self, person: Person, text: str, *, reply_to: SentMessage | UserMessage | None = None
    ) -> UserMessage:
        """`person` writes `text` in the group."""
        return post_message(
            self.fake.world,
            chat=self.chat,
            sender=person.user,
            content=text_content(text),
            reply_to=reply_to,
        )


class Channel:
    """A channel whose posts reach the bot as channel_post updates."""

    def __init__(self, fake: FakeTelegram, *, chat_id: int, title: str) -> None:
        self.fake = fake
        self.chat_id = chat_id
        self.title = title
        self.chat: dict[str, Any] = {"id": chat_id, "type": "channel", "title": title}
        fake.world.chats[chat_id] = self.chat

    @property
    def messages(self) -> list[SentMessage]:
        """Everything the bot posted to this channel."""
        return self.fake.messages_to(self.chat_id)

    async def post(self, text: str) -> UserMessage:
        """A channel post (no `from`, only `sender_chat`)."""
        return post_message(
            self.fake.world,
            chat=self.chat,
            sender=None,
            content=text_content(text),
            update_kind="channel_post",
        )
