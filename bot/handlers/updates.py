"""Typed, cleaned access to what an update carries: the edge where raw input becomes values.

Text and arguments lose control characters here (a NUL breaks PostgreSQL, and none belongs in
a name, a code or a notice), and ids parsed from button data are bounded to what the database
can hold, so bad input is answered as such instead of reaching the database raw.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from telegram import CallbackQuery, Message, Update, User

from bot.context import AsaContext

# Database ids are 32-bit; button data with a longer number is forged or corrupt.
MAX_ID_DIGITS = 9
_KEPT_CONTROLS = frozenset("\n")


class UnexpectedUpdate(RuntimeError):
    """A handler received an update its filters should have kept away."""


def clean_text(text: str) -> str:
    """The text without control characters (line breaks kept, tabs made spaces)."""
    text = text.replace("\t", " ")
    return "".join(
        ch
        for ch in text
        if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in ("Cc", "Cs", "Co")
    )


def message_of(update: Update) -> Message:
    """The message this update carries (new or edited)."""
    if update.effective_message is None:
        raise UnexpectedUpdate("update has no message")
    return update.effective_message


def text_of(update: Update) -> str:
    """The message's text, cleaned ("" for a message without text)."""
    message = update.effective_message
    return clean_text(message.text or "") if message is not None else ""


def formatted_text_of(update: Update) -> tuple[str, list[dict[str, Any]]]:
    """The message's text cleaned as `text_of` cleans it, and its formatting (bold, links...)
    as entity dicts whose offsets still point at the same words."""
    message = update.effective_message
    if message is None or message.text is None:
        return "", []
    kept: list[str] = []
    # Telegram counts offsets in UTF-16 code units: where each old offset lands now.
    moved: dict[int, int] = {}
    old = new = 0
    for ch in message.text:
        moved[old] = new
        width = 2 if ord(ch) > 0xFFFF else 1
        old += width
        cleaned = clean_text(ch)
        if cleaned:
            kept.append(cleaned)
            new += width
    moved[old] = new
    entities = []
    for entity in message.entities:
        start = moved.get(entity.offset)
        end = moved.get(entity.offset + entity.length)
        if start is None or end is None or end <= start:
            continue
        entities.append({**entity.to_dict(), "offset": start, "length": end - start})
    return "".join(kept), entities


def args_of(context: AsaContext) -> list[str]:
    """A command's arguments, cleaned, empty ones dropped."""
    return [cleaned for arg in context.args or [] if (cleaned := clean_text(arg).strip())]


def user_of(update: Update) -> User:
    """The person who sent this update."""
    if update.effective_user is None:
        raise UnexpectedUpdate("update has no user")
    return update.effective_user


def parse_id(text: str) -> int | None:
    """A database id written in button data, or None if it cannot be one."""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_ID_DIGITS:
        return None
    return int(text)


def trailing_id(data: str) -> int | None:
    """The record id at the end of button data such as "ev:open:12"; None if it is not one."""
    return parse_id(data.rsplit(":", 1)[-1])


def trailing_ids(data: str, count: int) -> tuple[int, ...] | None:
    """The last `count` ids of button data such as "cf:12:34"; None unless all are ids."""
    parts = data.split(":")[-count:]
    if len(parts) != count:
        return None
    ids = tuple(parse_id(part) for part in parts)
    return None if any(value is None for value in ids) else tuple(v for v in ids if v is not None)


def query_of(update: Update) -> tuple[CallbackQuery, str]:
    """The pressed button and its data."""
    query = update.callback_query
    if query is None or query.data is None:
        raise UnexpectedUpdate("update has no callback data")
    return query, query.data
