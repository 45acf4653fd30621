"""Records the fake keeps: messages the bot sent, API calls, users' messages and files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Which field of an inline button a test most likely wants to see next to its text.
_BUTTON_TARGETS = ("callback_data", "url", "copy_text", "switch_inline_query")


@dataclass(frozen=True)
class ReplyButton:
    """One button of a reply keyboard, with the flags that make Telegram ask for data."""

    text: str
    request_contact: bool = False
    request_location: bool = False


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent; edits update it in place, so keep references to it."""

    message_id: int
    chat_id: int
    date: int
    text: str | None = None  # what the user sees: markup parsed away (None for media)
    caption: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)  # caption entities for media
    reply_markup: dict[str, Any] | None = None
    kind: str = "text"  # "text", "photo", "document", "location", ...
    file_bytes: bytes | None = None
    file_name: str | None = None
    edits: int = 0
    raw_text: str | None = None  # text or caption exactly as the bot sent it
    method: str = "sendMessage"
    media: Any = None  # the JSON of the media field (photo sizes, document, location)
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    deleted: bool = False
    disable_notification: bool = False
    protect_content: bool = False
    link_preview_options: dict[str, Any] | None = None

    @property
    def shown_text(self) -> str:
        """The text or caption, "" when there is none."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def has_inline_keyboard(self) -> bool:
        """Whether the message carries an inline keyboard."""
        return bool(self.reply_markup and "inline_keyboard" in self.reply_markup)

    @property
    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Inline keyboard rows as (text, callback_data or url) pairs; [] without one."""
        if not self.has_inline_keyboard:
            return []
        assert self.reply_markup is not None
        return [
            [(button["text"], _button_target(button)) for button in row]
            for row in self.reply_markup["inline_keyboard"]
        ]

    @property
    def button_texts(self) -> list[str]:
        """The texts of all inline buttons, row by row."""
        return [text for row in self.buttons for text, _ in row]

    @property
    def inline_buttons(self) -> list[dict[str, Any]]:
        """The raw inline button objects, row by row."""
        if not self.has_inline_keyboard:
            return []
        assert self.reply_markup is not None
        return [button for row in self.reply_markup["inline_keyboard"] for button in row]

    @property
    def keyboard(self) -> list[list[ReplyButton]] | None:
        """Reply keyboard rows, or None when the message shows no reply keyboard."""
        if not self.reply_markup or "keyboard" not in self.reply_markup:
            return None
        return [[_reply_button(button) for button in row] for row in self.reply_markup["keyboard"]]

    @property
    def keyboard_texts(self) -> list[str]:
        """The texts of all reply keyboard buttons; [] without a reply keyboard."""
        return [button.text for row in self.keyboard or [] for button in row]

    @property
    def removes_keyboard(self) -> bool:
        """Whether the message removes the reply keyboard."""
        return bool(self.reply_markup and self.reply_markup.get("remove_keyboard"))

    @property
    def forces_reply(self) -> bool:
        """Whether the message asks the client to reply to it."""
        return bool(self.reply_markup and self.reply_markup.get("force_reply"))

    def summary(self) -> str:
        """A one-line description for assertion messages."""
        parts = [f"#{self.message_id} {self.kind}: {self.shown_text!r}"]
        if self.has_inline_keyboard:
            parts.append(f"buttons={self.button_texts}")
        if self.keyboard is not None:
            parts.append(f"keyboard={self.keyboard_texts}")
        if self.removes_keyboard:
            parts.append("remove_keyboard")
        if self.edits:
            parts.append(f"edited x{self.edits}")
        if self.deleted:
            parts.append("deleted")
        return " ".join(parts)


def _button_target(button: dict[str, Any]) -> str | None:
    """What an inline button does: its callback_data, url, ..., or None."""
    for key in _BUTTON_TARGETS:
        value = button.get(key)
        if isinstance(value, str):
            return value
    web_app = button.get("web_app")
    return web_app.get("url") if isinstance(web_app, dict) else None


def _reply_button(button: str | dict[str, Any]) -> ReplyButton:
    """Normalise a reply keyboard button, which may be a bare string."""
    if isinstance(button, str):
        return ReplyButton(button)
    return ReplyButton(
        text=button["text"],
        request_contact=bool(button.get("request_contact")),
        request_location=bool(button.get("request_location")),
    )


@dataclass
class UploadedFile:
    """A file part of a multipart request."""

    name: str
    data: bytes
    content_type: str


@dataclass
class ApiCall:
    """One HTTP request to the fake, whatever its outcome."""

    method: str  # canonical spelling when the method is known
    params: dict[str, Any]  # JSON-typed fields already decoded
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int | None = None  # None: dropped without an answer (a "timeout" fault)
    description: str | None = None  # the error description, None when ok
    result: Any = None

    @property
    def ok(self) -> bool:
        """Whether Telegram answered ok."""
        return self.status == 200


@dataclass
class UserMessage:
    """A message a person (or a channel) sent; `payload` is its Bot API JSON."""

    message_id: int
    chat_id: int
    sender_id: int | None
    payload: dict[str, Any]
    deleted: bool = False

    @property
    def text(self) -> str | None:
        """The message text, if it is a text message."""
        text = self.payload.get("text")
        return text if isinstance(text, str) else None


@dataclass
class StoredFile:
    """A file known to the fake, downloadable through getFile and the file URL."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_name: str | None
    mime_type: str | None
    file_path: str
