"""Validation of reply_markup the way Telegram rejects it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request

MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_URL_SCHEMES = ("http", "https", "tg")


def parse_reply_markup(raw: str | None, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Decode and validate a reply_markup field; None when absent."""
    if raw is None or raw == "":
        return None
    try:
        markup = json.loads(raw)
    except ValueError:
        raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
    elif inline_only:
        raise bad_request("inline keyboard expected")
    elif "keyboard" in markup:
        _check_reply_keyboard(markup["keyboard"])
    elif markup.get("remove_keyboard") is not True and markup.get("force_reply") is not True:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup


def _rows(rows: Any, field: str, object_name: str) -> list[list[Any]]:
    """Check that `rows` is an array of arrays."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f'field "{field}" of the {object_name} must be an Array of Arrays')
    return rows


def _check_inline_keyboard(rows: Any) -> None:
    """Every inline button needs text and exactly one action."""
    checked = _rows(rows, "inline_keyboard", "InlineKeyboardMarkup")
    if sum(len(row) for row in checked) > MAX_INLINE_BUTTONS:
        raise bad_request("reply markup is too long")
    for row in checked:
        for button in row:
            _check_inline_button(button)


def _check_inline_button(button: Any) -> None:
    """Validate one InlineKeyboardButton."""
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse inline keyboard button: Text is not specified")
    actions = [key for key in _INLINE_ACTIONS if key in button]
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        _check_callback_data(button["callback_data"])
    if "url" in button:
        _check_url(button["url"])


def _check_callback_data(data: Any) -> None:
    """callback_data must be 1-64 bytes of UTF-8, not 64 characters."""
    if not isinstance(data, str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "callback_data" must be of type String'
        )
    size = len(data.encode("utf-8"))
    if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
        raise bad_request("BUTTON_DATA_INVALID")


def _check_url(url: Any) -> None:
    """Inline button URLs must be absolute http(s) or tg:// links."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in _URL_SCHEMES or not parts.netloc:
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _check_reply_keyboard(rows: Any) -> None:
    """Every reply button is a non-empty string or an object with non-empty text."""
    for row in _rows(rows, "keyboard", "ReplyKeyboardMarkup"):
        for button in row:
            text = button if isinstance(button, str) else None
            if isinstance(button, dict):
                text = button.get("text")
            if not isinstance(text, str) or not text:
                raise bad_request("keyboard button text must be non-empty")
