"""Who is asking, on the web: Telegram Mini App data, laptop session cookies, download links.

- Mini App `initData` is checked exactly as Telegram documents it: the data-check-string (every
  field but `hash`, sorted, `key=value` joined by line feeds) signed with HMAC-SHA-256 under
  the key HMAC-SHA-256("WebAppData", bot token); data older than the configured age, or dated
  in the future, is refused.
- A laptop session is a cookie `<telegram id>.<expiry>.<signature>` made when a one-time login
  link is spent; it names the person, and their rights are read again on every request.
- A download link is `<event>.<telegram id>.<expiry>.<signature>`, good for a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from bot.services.screens import sign

# A Mini App's clock may run a little ahead of ours.
FUTURE_SLACK = timedelta(minutes=1)
INIT_DATA_MAX_CHARS = 8192
SESSION_COOKIE = "asa_session"
DOWNLOAD_LIFETIME = timedelta(minutes=1)


@dataclass(frozen=True)
class WebUser:
    """A verified person: their Telegram id, and the language their Telegram app uses."""

    telegram_id: int
    language_code: str | None = None


def init_data_secret(bot_token: str) -> bytes:
    """The key initData is signed with: HMAC-SHA-256 of the token under "WebAppData"."""
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def sign_init_data(fields: dict[str, str], bot_token: str) -> str:
    """initData as Telegram would sign it (for tests and local development)."""
    from urllib.parse import urlencode

    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    digest = hmac.new(init_data_secret(bot_token), check.encode(), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})


def verify_init_data(
    init_data: str, *, bot_token: str, max_age: timedelta, now: datetime
) -> WebUser | None:
    """The person a Mini App's initData names, or None if it is forged, stale or malformed."""
    if not init_data or len(init_data) > INIT_DATA_MAX_CHARS:
        return None
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    if len(fields) != len(pairs):  # a field given twice: not something Telegram signs
        return None
    received = fields.pop("hash", "")
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    expected = hmac.new(init_data_secret(bot_token), check.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(received.lower(), expected):
        return None
    try:
        signed_at = datetime.fromtimestamp(int(fields.get("auth_date", "")), tz=UTC)
        user = json.loads(fields.get("user", ""))
        telegram_id = int(user["id"])
    except (ValueError, TypeError, KeyError, OverflowError, OSError):
        return None
    if now - signed_at > max_age or signed_at - now > FUTURE_SLACK:
        return None
    language = user.get("language_code") if isinstance(user, dict) else None
    return WebUser(telegram_id=telegram_id, language_code=str(language) if language else None)


def session_cookie(secret: bytes, *, telegram_id: int, expires: datetime) -> str:
    """The value of a laptop session cookie."""
    stamp = int(expires.timestamp())
    return f"{telegram_id}.{stamp}.{sign(secret, 'session', telegram_id, stamp)}"


def _signed_fields(value: str, count: int) -> list[str] | None:
    """The dot-separated fields of a signed value (digits), its signature last."""
    parts = value.split(".")
    if len(parts) != count + 1 or not all(p.isascii() and p.isdigit() for p in parts[:-1]):
        return None
    if any(len(p) > 15 for p in parts[:-1]):
        return None
    return parts


def verify_session(value: str, secret: bytes, *, now: datetime) -> WebUser | None:
    """The person a session cookie names, while it lasts."""
    parts = _signed_fields(value, 2)
    if parts is None:
        return None
    telegram_id, stamp, signature = int(parts[0]), int(parts[1]), parts[2]
    if not hmac.compare_digest(signature, sign(secret, "session", telegram_id, stamp)):
        return None
    if now.timestamp() >= stamp:
        return None
    return WebUser(telegram_id=telegram_id)


def download_token(secret: bytes, *, event_id: int, telegram_id: int, now: datetime) -> str:
    """A link part that downloads an event's export for one person, for a minute."""
    stamp = int((now + DOWNLOAD_LIFETIME).timestamp())
    signature = sign(secret, "download", event_id, telegram_id, stamp)
    return f"{event_id}.{telegram_id}.{stamp}.{signature}"


def verify_download(value: str, secret: bytes, *, now: datetime) -> tuple[int, int] | None:
    """(event id, telegram id) of a download link that is genuine and not expired."""
    parts = _signed_fields(value, 3)
    if parts is None:
        return None
    event_id, telegram_id, stamp = int(parts[0]), int(parts[1]), int(parts[2])
    expected = sign(secret, "download", event_id, telegram_id, stamp)
    if not hmac.compare_digest(parts[3], expected) or now.timestamp() >= stamp:
        return None
    return event_id, telegram_id
