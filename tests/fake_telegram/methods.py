"""Bot API method handlers: validate parameters as Telegram does and act on the World."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError, bad_request, chat_not_found, forbidden_blocked
from .formatting import parse_formatted
from .markup import parse_reply_markup
from .models import SentMessage, StoredFile, UploadedFile
from .params import Params
from .state import World
from .webhook import DEFAULT_MAX_CONNECTIONS, WebhookPusher

Handler = Callable[[Params], Awaitable[Any]]


@dataclass
class Described:
    """An ok result that Telegram sends with a description ("Webhook was set")."""

    result: Any
    description: str


MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_COMMANDS = 100
MAX_SECRET_TOKEN = 256
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]*")
# Methods that deliver or change messages; only these are flood-controlled.
LIMITED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendLocation",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_THUMB_SIDE = 90
_PHOTO_SIDE = 1280
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_BAD_WEBHOOK_PORT = "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
_ENDED_BY_SET_WEBHOOK = "Conflict: terminated by setWebhook request"
_POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


def command_scope_key(scope: dict[str, Any] | None = None, language_code: str = "") -> str:
    """The key of FakeTelegram.commands for a command scope and language."""
    return json.dumps(
        {"language_code": language_code or "", "scope": scope or {"type": "default"}},
        sort_keys=True,
        ensure_ascii=False,
    )


class BotApi:
    """The implemented methods, looked up case-insensitively like Telegram does."""

    def __init__(
        self,
        world: World,
        bot_profile: dict[str, Any],
        closing: Callable[[], bool],
        webhook: WebhookPusher,
    ) -> None:
        self.world = world
        self.webhook = webhook
        self.bot_profile = bot_profile
        self._closing = closing
        self._poll_generation = 0
        self.held_polls = 0  # getUpdates calls waiting for updates right now
        table: dict[str, Handler] = {
            "getMe": self.get_me,
            "logOut": self.ok,
            "close": self.ok,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setMyDescription": self._setter("description"),
            "getMyDescription": self._getter("description"),
            "setMyShortDescription": self._setter("short_description"),
            "getMyShortDescription": self._getter("short_description"),
            "setMyName": self._setter("name"),
            "getMyName": self._getter("name"),
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
            "sendMessage": self.send_message,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "sendLocation": self.send_location,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendChatAction": self.send_chat_action,
            "getChat": self.get_chat,
            "getFile": self.get_file,
        }
        self._handlers = {name.lower(): (name, handler) for name, handler in table.items()}

    def lookup(self, method: str) -> tuple[str, Handler] | None:
        """The canonical name and handler of a method, any case; None if unknown."""
        return self._handlers.get(method.lower())

    def chat_id_of(self, params: Params) -> int | None:
        """The numeric chat a request targets, without raising (for faults and limits)."""
        raw = params.text("chat_id")
        if raw is None:
            return None
        if raw.startswith("@"):
            chat = self.world.chat_by_username(raw)
            return chat["id"] if chat else None
        try:
            return int(raw)
        except ValueError:
            return None

    # ------------------------------------------------------------------ helpers

    def _chat(self, params: Params, *, check_blocked: bool = True) -> dict[str, Any]:
        """The target chat, which must be known to the bot and must not have blocked it."""
        if not params.text("chat_id"):
            raise bad_request("chat_id is empty")
        chat_id = self.chat_id_of(params)
        chat = self.world.known_chat(chat_id) if chat_id is not None else None
        if chat is None:
            raise chat_not_found()
        if check_blocked and chat["id"] in self.world.blocked:
            raise forbidden_blocked()
        return chat

    def _formatted(
        self, params: Params, text_field: str, entities_field: str
    ) -> tuple[str, str, list[dict[str, Any]]]:
        """(source, visible text, entities) of a text or caption field."""
        source = params.text(text_field) or ""
        entities = params.json(entities_field)
        if entities is not None and not isinstance(entities, list):
            raise bad_request(f"can't parse {entities_field} JSON object")
        text, parsed = parse_formatted(source, params.text("parse_mode"), entities)
        return source, text, parsed

    def _message_text(self, params: Params) -> tuple[str, str, list[dict[str, Any]]]:
        """A message text: 1-4096 characters after entity parsing."""
        if not (params.text("text") or "").strip():
            raise bad_request("message text is empty")
        source, text, entities = self._formatted(params, "text", "entities")
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return source, text, entities

    def _caption(self, params: Params) -> tuple[str, str, list[dict[str, Any]]]:
        """A caption: up to 1024 characters after entity parsing."""
        source, text, entities = self._formatted(params, "caption", "caption_entities")
        if len(text) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return source, text, entities

    def _reply_to(self, params: Params, chat_id: int) -> int | None:
        """The message being replied to, via reply_parameters or reply_to_message_id."""
        reply = params.json("reply_parameters")
        if reply is not None and not isinstance(reply, dict):
            raise bad_request("can't parse reply parameters JSON object")
        message_id = reply.get("message_id") if reply else params.integer("reply_to_message_id")
        if message_id is None:
            return None
        if self.world.message_exists(chat_id, message_id):
            return int(message_id)
        lenient = (reply or {}).get("allow_sending_without_reply") or params.flag(
            "allow_sending_without_reply"
        )
        if lenient:
            return None
        raise bad_request("message to be replied not found")

    def _new_message(self, params: Params, chat_id: int, **fields: Any) -> SentMessage:
        """Build, record and return a message the bot just sent."""
        message = SentMessage(
            message_id=self.world.next_message_id(chat_id),
            chat_id=chat_id,
            date=self.world.now(),
            parse_mode=params.text("parse_mode"),
            disable_notification=params.flag("disable_notification"),
            protect_content=params.flag("protect_content"),
            **fields,
        )
        self.world.add_bot_message(message)
        return message

    def _input_file(self, params: Params, field: str, kind: str) -> tuple[StoredFile, bool]:
        """An uploaded file, a known file_id or a URL; True when it was just uploaded."""
        upload = params.files.get(field)
        if upload is not None:
            return self._store_upload(upload, kind), True
        reference = params.text(field)
        if not reference:
            raise bad_request(f"there is no {field} in the request")
        if reference in self.world.files:
            return self.world.files[reference], False
        if reference.startswith(("http://", "https://")):
            # Telegram would download it; the fake keeps the URL's file name and no bytes.
            name = reference.rsplit("/", 1)[-1] or None
            return self.world.store_file(b"", kind=kind, file_name=name, mime_type=None), False
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _store_upload(self, upload: UploadedFile, kind: str) -> StoredFile:
        """Keep an uploaded file; Telegram refuses empty files and non-image photos."""
        if not upload.data:
            raise bad_request("file must be non-empty")
        if kind == "photo" and not _looks_like_image(upload.data):
            raise bad_request("IMAGE_PROCESS_FAILED")
        return self.world.store_file(
            upload.data, kind=kind, file_name=upload.name, mime_type=upload.content_type
        )

    def _photo_sizes(self, stored: StoredFile) -> list[dict[str, Any]]:
        """PhotoSize objects: a thumbnail plus the (capped) full size, as Telegram returns."""
        width, height = _image_size(stored.data)
        thumb = self.world.store_file(
            stored.data, kind="photo", file_name=stored.file_name, mime_type=stored.mime_type
        )
        sizes = []
        for file, side in ((thumb, _THUMB_SIDE), (stored, _PHOTO_SIDE)):
            scale = min(1.0, side / max(width, height))
            sizes.append(
                {
                    "file_id": file.file_id,
                    "file_unique_id": file.file_unique_id,
                    "file_size": len(file.data),
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                }
            )
        return sizes

    def _editable(self, params: Params) -> SentMessage:
        """The bot message an edit targets."""
        if params.text("inline_message_id"):
            raise bad_request("message to edit not found")  # inline mode is not simulated
        chat = self._chat(params)
        message_id = params.integer("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        key = (chat["id"], message_id)
        message = self.world.bot_messages.get(key)
        if message is not None and not message.deleted:
            return message
        if key in self.world.user_messages:
            raise bad_request("message can't be edited")
        raise bad_request("message to edit not found")

    def _apply_edit(self, message: SentMessage, new_markup: dict[str, Any] | None) -> Any:
        """Finish an edit: keyboard, counters, waiters; returns the edited Message."""
        # Edits replace the inline keyboard (omitting it removes it); reply keyboards stay.
        if new_markup is not None or message.has_inline_keyboard:
            message.reply_markup = new_markup
        message.edits += 1
        message.edit_date = self.world.now()
        self.world.messages_changed.fire()
        return self.world.message_json(message)

    # ------------------------------------------------------------------ bot & updates

    async def ok(self, params: Params) -> bool:
        """Methods that just succeed here (logOut, close)."""
        return True

    async def get_me(self, params: Params) -> dict[str, Any]:
        """The bot's User object with the bot-only fields PTB reads."""
        return self.bot_profile

    async def get_updates(self, params: Params) -> list[dict[str, Any]]:
        """Long polling: confirm by offset, then wait up to `timeout` seconds for updates."""
        if self.webhook.url:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        self._poll_generation += 1
        generation = self._poll_generation
        self.world.updates_changed.fire()  # an older poll learns it has been superseded
        queue = self.world.updates
        self._subscribe(params)
        offset = params.integer("offset")
        if offset:
            queue.confirm(offset)
        limit = min(max(params.integer("limit") or 100, 1), 100)
        timeout = max(params.number("timeout") or 0.0, 0.0)

        def superseded() -> bool:
            return generation != self._poll_generation

        def over() -> bool:
            return queue.has_deliverable() or superseded() or bool(self.webhook.url)

        if timeout > 0:
            self._hold(1)
            try:
                await self.world.updates_changed.wait_until(
                    lambda: over() or self._closing(), timeout
                )
            finally:
                self._hold(-1)
        if self.webhook.url:
            raise ApiError(409, _ENDED_BY_SET_WEBHOOK)
        if superseded():
            raise ApiError(409, _POLL_CONFLICT)
        return queue.take(limit)

    def _hold(self, delta: int) -> None:
        """Count long polls waiting for updates (they do not keep the fake busy)."""
        self.held_polls += delta
        self.world.changed.fire()

    def _subscribe(self, params: Params) -> None:
        """Apply allowed_updates when given (getUpdates and setWebhook share the setting)."""
        allowed = params.json("allowed_updates")
        if isinstance(allowed, list):
            self.world.updates.set_allowed([str(kind) for kind in allowed])

    async def set_webhook(self, params: Params) -> Described:
        """Start pushing updates to an URL; getUpdates then conflicts, as on Telegram.

        Validated as Telegram does (HTTPS, ports 80/88/443/8443, secret token of 1-256
        letters, digits, _ and -; max_connections clamped to 1-100), except that loopback
        hosts may use plain HTTP and any port, as with a local Bot API server. The fake does
        not check that the URL answers; certificate is accepted and ignored.
        """
        url = params.text("url") or ""
        if not url:
            return await self.delete_webhook(params)
        url = _webhook_url(url)
        secret_token = params.text("secret_token") or ""
        if len(secret_token) > MAX_SECRET_TOKEN:
            raise bad_request("secret token is too long")
        if not _SECRET_TOKEN.fullmatch(secret_token):
            raise bad_request("secret token contains unallowed characters")
        max_connections = _clamped(params.text("max_connections"), DEFAULT_MAX_CONNECTIONS)
        ip_address = params.text("ip_address") or _loopback_address(url)
        hook, drop = self.webhook, params.flag("drop_pending_updates")
        self._subscribe(params)
        current = (hook.url, hook.secret_token, hook.max_connections, hook.ip_address)
        if current == (url, secret_token, max_connections, ip_address) and not drop:
            return Described(True, "Webhook is already set")
        if drop:
            self.world.updates.clear()
        hook.configure(
            url=url,
            secret_token=secret_token,
            max_connections=max_connections,
            ip_address=ip_address,
        )
        self.world.updates_changed.fire()  # a waiting long poll ends with 409
        return Described(True, "Webhook was set")

    async def delete_webhook(self, params: Params) -> Described:
        """Stop pushing, optionally dropping pending updates; getUpdates works again."""
        if params.flag("drop_pending_updates"):
            self.world.updates.clear()
        if not self.webhook.url:
            return Described(True, "Webhook is already deleted")
        self.webhook.remove()
        return Described(True, "Webhook was deleted")

    async def get_webhook_info(self, params: Params) -> dict[str, Any]:
        """The webhook's state, with the fields Telegram includes only when they apply."""
        hook = self.webhook
        info: dict[str, Any] = {
            "url": hook.url,
            "has_custom_certificate": False,
            "pending_update_count": self.world.updates.pending,
        }
        if hook.last_error_date:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
        if hook.url:
            info["max_connections"] = hook.max_connections
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
        if self.world.updates.allowed is not None:
            info["allowed_updates"] = self.world.updates.allowed
        return info

    # ------------------------------------------------------------------ bot settings

    def _scope_key(self, params: Params) -> str:
        """Validate scope and language_code and build the commands key."""
        scope = params.json("scope")
        if scope is not None and (
            not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES
        ):
            raise bad_request("can't parse BotCommandScope JSON object")
        if isinstance(scope, dict) and scope["type"].startswith("chat"):
            self._chat(Params({"chat_id": str(scope.get("chat_id", ""))}, {}))
        language = params.text("language_code") or ""
        if language and (len(language) != 2 or not language.isalpha()):
            raise bad_request("invalid language code specified")
        return command_scope_key(scope, language)

    async def set_my_commands(self, params: Params) -> bool:
        """Store the command list of a scope and language."""
        commands = params.json("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > MAX_COMMANDS:
            raise bad_request("too many commands specified")
        for command in commands:
            _check_command(command)
        self.world.commands[self._scope_key(params)] = commands
        return True

    async def get_my_commands(self, params: Params) -> list[dict[str, Any]]:
        """The command list of a scope and language."""
        return self.world.commands.get(self._scope_key(params), [])

    async def delete_my_commands(self, params: Params) -> bool:
        """Forget the command list of a scope and language."""
        self.world.commands.pop(self._scope_key(params), None)
        return True

    def _setter(self, name: str) -> Handler:
        """setMyDescription and friends: remember the value per language."""

        async def handler(params: Params) -> bool:
            language = params.text("language_code") or ""
            self.world.settings.setdefault(name, {})[language] = params.text(name) or ""
            return True

        return handler

    def _getter(self, name: str) -> Handler:
        """getMyDescription and friends."""

        async def handler(params: Params) -> dict[str, Any]:
            values = self.world.settings.get(name, {})
            language = params.text("language_code") or ""
            return {name: values.get(language, values.get("", ""))}

        return handler

    async def set_chat_menu_button(self, params: Params) -> bool:
        """Remember the menu button, per private chat or as the default."""
        chat_id = self._chat(params)["id"] if params.text("chat_id") else None
        button = params.json("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise bad_request("can't parse menu button JSON object")
        self.world.settings.setdefault("menu_button", {})[chat_id] = button
        return True

    async def get_chat_menu_button(self, params: Params) -> dict[str, Any]:
        """The menu button of a chat, falling back to the default one."""
        buttons = self.world.settings.get("menu_button", {})
        chat_id = self._chat(params)["id"] if params.text("chat_id") else None
        button: dict[str, Any] = buttons.get(chat_id) or buttons.get(None) or {"type": "commands"}
        return button

    # ------------------------------------------------------------------ sending

    async def send_message(self, params: Params) -> dict[str, Any]:
        """sendMessage."""
        chat = self._chat(params)
        source, text, entities = self._message_text(params)
        markup = parse_reply_markup(params.text("reply_markup"))
        reply_to = self._reply_to(params, chat["id"])
        message = self._new_message(
            params,
            chat["id"],
            text=text,
            raw_text=source,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            link_preview_options=params.json("link_preview_options"),
        )
        return self.world.message_json(message)

    async def send_photo(self, params: Params) -> dict[str, Any]:
        """sendPhoto: an upload, a known file_id or a URL."""
        return self._send_media(params, "photo", "sendPhoto")

    async def send_document(self, params: Params) -> dict[str, Any]:
        """sendDocument: an upload, a known file_id or a URL."""
        return self._send_media(params, "document", "sendDocument")

    def _send_media(self, params: Params, kind: str, method: str) -> dict[str, Any]:
        """The shared part of sendPhoto and sendDocument."""
        chat = self._chat(params)
        source, caption, entities = self._caption(params)
        markup = parse_reply_markup(params.text("reply_markup"))
        reply_to = self._reply_to(params, chat["id"])
        stored, _ = self._input_file(params, kind, kind)
        media: Any = self._photo_sizes(stored) if kind == "photo" else _document_json(stored)
        message = self._new_message(
            params,
            chat["id"],
            kind=kind,
            method=method,
            caption=caption or None,
            raw_text=source or None,
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            media=media,
            file_bytes=stored.data,
            file_name=stored.file_name,
        )
        return self.world.message_json(message)

    async def send_location(self, params: Params) -> dict[str, Any]:
        """sendLocation."""
        chat = self._chat(params)
        latitude, longitude = params.number("latitude"), params.number("longitude")
        if latitude is None or not -90 <= latitude <= 90:
            raise bad_request("wrong latitude specified")
        if longitude is None or not -180 <= longitude <= 180:
            raise bad_request("wrong longitude specified")
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if params.integer("live_period"):
            location["live_period"] = params.integer("live_period")
        message = self._new_message(
            params,
            chat["id"],
            kind="location",
            method="sendLocation",
            media=location,
            reply_markup=parse_reply_markup(params.text("reply_markup")),
            reply_to_message_id=self._reply_to(params, chat["id"]),
        )
        return self.world.message_json(message)

    async def send_chat_action(self, params: Params) -> bool:
        """sendChatAction ("typing", ...)."""
        chat = self._chat(params)
        action = params.text("action") or ""
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.world.chat_actions.append((chat["id"], action))
        return True

    # ------------------------------------------------------------------ editing

    async def edit_message_text(self, params: Params) -> Any:
        """editMessageText; omitting reply_markup removes the inline keyboard."""
        message = self._editable(params)
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        source, text, entities = self._message_text(params)
        markup = parse_reply_markup(params.text("reply_markup"), inline_only=True)
        current = message.reply_markup if message.has_inline_keyboard else None
        if text == message.text and entities == message.entities and markup == current:
            raise bad_request(_NOT_MODIFIED)
        message.text, message.raw_text, message.entities = text, source, entities
        message.parse_mode = params.text("parse_mode")
        return self._apply_edit(message, markup)

    async def edit_message_caption(self, params: Params) -> Any:
        """editMessageCaption."""
        message = self._editable(params)
        if message.kind == "text":
            raise bad_request("there is no caption in the message to edit")
        source, caption, entities = self._caption(params)
        markup = parse_reply_markup(params.text("reply_markup"), inline_only=True)
        current = message.reply_markup if message.has_inline_keyboard else None
        same_caption = (caption or None) == message.caption and entities == message.entities
        if same_caption and markup == current:
            raise bad_request(_NOT_MODIFIED)
        message.caption, message.raw_text, message.entities = caption or None, source, entities
        message.parse_mode = params.text("parse_mode")
        return self._apply_edit(message, markup)

    async def edit_message_reply_markup(self, params: Params) -> Any:
        """editMessageReplyMarkup; no markup removes the inline keyboard."""
        message = self._editable(params)
        markup = parse_reply_markup(params.text("reply_markup"), inline_only=True)
        current = message.reply_markup if message.has_inline_keyboard else None
        if markup == current:
            raise bad_request(_NOT_MODIFIED)
        return self._apply_edit(message, markup)

    async def delete_message(self, params: Params) -> bool:
        """deleteMessage: bots may delete both sides of a private chat."""
        chat = self._chat(params)
        message_id = params.integer("message_id")
        key = (chat["id"], message_id or 0)
        if not self.world.message_exists(*key):
            raise bad_request("message to delete not found")
        target = self.world.bot_messages.get(key) or self.world.user_messages[key]
        target.deleted = True
        self.world.messages_changed.fire()
        return True

    # ------------------------------------------------------------------ callbacks, chats, files

    async def answer_callback_query(self, params: Params) -> bool:
        """answerCallbackQuery: each issued query can be answered once."""
        query_id = params.text("callback_query_id") or ""
        record = self.world.callback_queries.get(query_id)
        if record is None or record.answer is not None:
            raise bad_request(_QUERY_TOO_OLD)
        text = params.text("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answer = {
            "callback_query_id": query_id,
            "data": record.data,
            "text": text,
            "show_alert": params.flag("show_alert"),
            "url": params.text("url"),
            "cache_time": params.integer("cache_time"),
        }
        self.world.callback_answers.setdefault(record.user_id, []).append(record.answer)
        self.world.messages_changed.fire()
        return True

    async def get_chat(self, params: Params) -> dict[str, Any]:
        """getChat: a ChatFullInfo with the fields PTB requires."""
        chat = self._chat(params, check_blocked=False)
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def get_file(self, params: Params) -> dict[str, Any]:
        """getFile: where to download a file from base_file_url."""
        stored = self.world.files.get(params.text("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }


def _check_command(command: Any) -> None:
    """A BotCommand: 1-32 of [a-z0-9_], description 1-256 characters."""
    if not isinstance(command, dict):
        raise bad_request("can't parse BotCommand JSON object")
    name, description = command.get("command"), command.get("description")
    valid_name = (
        isinstance(name, str)
        and 1 <= len(name) <= 32
        and all(c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in name)
    )
    if not valid_name:
        raise bad_request("BOT_COMMAND_INVALID")
    if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
        raise bad_request("command description must be non-empty")


def _looks_like_image(data: bytes) -> bool:
    """Telegram rejects photos it cannot decode; check the magic bytes."""
    is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return is_webp or data.startswith(_IMAGE_MAGIC)


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG; other formats get a plausible default."""
    if data.startswith(_PNG_MAGIC) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return max(1, int(width)), max(1, int(height))
    return 512, 512


def _document_json(stored: StoredFile) -> dict[str, Any]:
    """A Document object."""
    document: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }
    if stored.file_name:
        document["file_name"] = stored.file_name
    if stored.mime_type:
        document["mime_type"] = stored.mime_type
    return document


def _webhook_url(url: str) -> str:
    """Check a webhook URL as Telegram does (loopback excepted); no scheme means HTTPS."""
    full = url if "://" in url else f"https://{url}"
    try:
        parts = urlsplit(full)
        port = parts.port
    except ValueError:
        raise bad_request("invalid webhook URL specified") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("invalid webhook URL specified")
    if parts.hostname not in _LOOPBACK_HOSTS:
        if parts.scheme != "https":
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if (port or 443) not in WEBHOOK_PORTS:
            raise bad_request(_BAD_WEBHOOK_PORT)
    return full


def _loopback_address(url: str) -> str | None:
    """The IP address of a loopback webhook host (the fake resolves no other name)."""
    host = urlsplit(url).hostname
    return "127.0.0.1" if host == "localhost" else host if host in _LOOPBACK_HOSTS else None


def _clamped(raw: str | None, default: int, low: int = 1, high: int = 100) -> int:
    """An integer as Telegram reads it: default when empty, 0 if not a number, then clamped."""
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    return max(low, min(high, value))
