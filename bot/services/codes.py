"""Check-in codes people type and deep-link tokens people scan."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

# No 0/O, 1/I: a code read off a projector or a printed sheet must not be mistyped.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
DEEP_LINK_PREFIX = "ci-"
# 24 random bytes: 32 URL-safe characters, far beyond guessing, and "ci-" plus 32 stays well
# inside Telegram's 64-character start payload.
TOKEN_BYTES = 24
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{16,61}")
_CODE_NOISE = re.compile(r"[\s\-_.]")


def new_code() -> str:
    """A random code such as "K7MX2Q"."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_token() -> str:
    """An unguessable deep-link token of URL-safe characters."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def normalise_code(text: str) -> str | None:
    """The code as stored ("k7m-x2q" -> "K7MX2Q"), or None if it cannot be a code."""
    cleaned = _CODE_NOISE.sub("", unicodedata.normalize("NFKC", text)).upper()
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def is_token(text: str) -> bool:
    """Whether text has the shape of a token (so junk never reaches the database)."""
    return _TOKEN_RE.fullmatch(text) is not None


def start_payload(token: str) -> str:
    """The /start payload that checks a person in: "ci-<token>"."""
    return f"{DEEP_LINK_PREFIX}{token}"


def deep_link(bot_username: str, token: str) -> str:
    """The link a QR code holds: https://t.me/<bot>?start=ci-<token>."""
    return f"https://t.me/{bot_username}?start={start_payload(token)}"


def derived_code(secret: str, window: int) -> str:
    """The rotating code of one time window, derived from a secret (HMAC, so unguessable)."""
    digest = hmac.new(secret.encode(), str(window).encode(), hashlib.sha256).digest()
    return "".join(CODE_ALPHABET[byte % len(CODE_ALPHABET)] for byte in digest[:CODE_LENGTH])
