"""Web credentials: Mini App initData exactly as Telegram signs it, sessions, download links."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from bot.services.screens import sign, web_secret
from bot.web import auth

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def telegram_signed(fields: dict[str, str]) -> str:
    """initData built independently from Telegram's documentation, not from auth.py."""
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    digest = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return "&".join(f"{k}={quote(v)}" for k, v in [*fields.items(), ("hash", digest)])


def fields(user_id: int = 42, at: datetime = NOW, **extra: str) -> dict[str, str]:
    user = {"id": user_id, "first_name": "สมชาย", "language_code": "th", "allows_write_to_pm": True}
    return {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(user, ensure_ascii=False),
        "auth_date": str(int(at.timestamp())),
        **extra,
    }


def verify(data: str, *, now: datetime = NOW) -> auth.WebUser | None:
    return auth.verify_init_data(data, bot_token=TOKEN, max_age=HOUR, now=now)


def test_genuine_init_data_names_the_person() -> None:
    user = verify(telegram_signed(fields(signature="abc", chat_instance="-1")))
    assert user == auth.WebUser(telegram_id=42, language_code="th")
    assert verify(auth.sign_init_data(fields(), TOKEN)) == user


@pytest.mark.parametrize(
    "data",
    [
        "",
        "hash=",
        "garbage",
        "user=%7B%7D&auth_date=1&hash=00",
        telegram_signed(fields()).replace("42", "43"),  # another person's id
        telegram_signed(fields()) + "&extra=1",  # a field added after signing
        telegram_signed(fields()) + "&user=1",  # a field given twice
        telegram_signed(fields(user_id=0)).replace("hash=", "hash=0"),
        "a=" + "x" * 9000,
    ],
)
def test_forged_or_malformed_init_data_is_refused(data: str) -> None:
    assert verify(data) is None


def test_stale_and_future_init_data_are_refused() -> None:
    assert verify(telegram_signed(fields(at=NOW - HOUR - timedelta(seconds=1)))) is None
    assert verify(telegram_signed(fields(at=NOW - HOUR + timedelta(seconds=5)))) is not None
    assert verify(telegram_signed(fields(at=NOW + timedelta(minutes=5)))) is None


def test_init_data_signed_for_another_bot_is_refused() -> None:
    other = auth.sign_init_data(fields(), "987654321:" + "B" * 35)
    assert verify(other) is None


def test_sessions_last_until_they_expire_and_cannot_be_altered() -> None:
    secret = web_secret(TOKEN)
    cookie = auth.session_cookie(secret, telegram_id=42, expires=NOW + HOUR)
    assert auth.verify_session(cookie, secret, now=NOW) == auth.WebUser(telegram_id=42)
    assert auth.verify_session(cookie, secret, now=NOW + HOUR) is None
    assert auth.verify_session(cookie.replace("42.", "43.", 1), secret, now=NOW) is None
    stamp = str(int((NOW + HOUR).timestamp()))
    longer = cookie.replace(stamp, str(int(stamp) + 86400))
    assert auth.verify_session(longer, secret, now=NOW) is None
    assert auth.verify_session(cookie, web_secret("1:" + "C" * 35), now=NOW) is None
    assert auth.verify_session("42.x.y", secret, now=NOW) is None


def test_download_links_work_for_a_minute_for_one_person() -> None:
    secret = web_secret(TOKEN)
    token = auth.download_token(secret, event_id=7, telegram_id=42, now=NOW)
    assert auth.verify_download(token, secret, now=NOW) == (7, 42)
    assert auth.verify_download(token, secret, now=NOW + timedelta(minutes=1)) is None
    assert auth.verify_download(token.replace("7.", "8.", 1), secret, now=NOW) is None


def test_signatures_depend_on_every_part_and_the_secret() -> None:
    secret = web_secret(TOKEN)
    base = sign(secret, "screen", 1, 2, "nonce")
    assert len(base) == 24
    assert base != sign(secret, "screen", 1, 3, "nonce")
    assert base != sign(secret, "login", 1, 2, "nonce")
    assert base != sign(web_secret(TOKEN + "x"), "screen", 1, 2, "nonce")
    assert web_secret(TOKEN) != TOKEN.encode()
