"""Logging set-up: readable lines, and no secrets or personal data, whatever is logged.

Redaction happens at the last step, on the fully formatted line, tracebacks included:
- an exception's message is kept only for exceptions whose messages are known to carry no
  personal data (our domain errors, Telegram's and the database driver's errors, network
  errors); any other exception shows its type alone, because a `ValueError("สมชาย ...")` from
  deep inside a library could carry a name or a phone number;
- then anything that looks like a bot token or a phone number is replaced in the whole line.
The bot token is also part of every Bot API URL, and httpx logs URLs at INFO: httpx stays at
WARNING.
"""

from __future__ import annotations

import logging
import re
import traceback
from types import TracebackType
from typing import IO

from sqlalchemy.exc import SQLAlchemyError
from telegram.error import TelegramError

from bot.services.errors import DomainError

TOKEN_IN_TEXT = re.compile(r"\d{3,15}:[A-Za-z0-9_-]{30,64}")
# International (+66 8x xxx xxxx, 66812345678) and Thai local forms (081-234-5678,
# 0812345678, 02 123 4567); bare ids such as update numbers have no leading 0 or +66.
PHONE_IN_TEXT = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s-]?\d(?:[\s-]?\d){6,12}|66\d{8,9}|0\d(?:[\s-]?\d){7,8})(?!\w)"
)
# Exceptions whose text is a fixed description, never someone's input.
SAFE_MESSAGES: tuple[type[BaseException], ...] = (
    DomainError,
    TelegramError,
    SQLAlchemyError,
    OSError,
    TimeoutError,
)
HIDDEN = "<message hidden>"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def redact(text: str) -> str:
    """The text with bot tokens and phone numbers replaced."""
    return PHONE_IN_TEXT.sub("<phone>", TOKEN_IN_TEXT.sub("<token>", text))


def _safe_message(error: BaseException) -> str:
    """The exception's own text if its kind is known to be safe, else a placeholder."""
    if isinstance(error, SAFE_MESSAGES):
        return str(error)
    return HIDDEN


def format_exception_safely(error: BaseException) -> str:
    """A traceback (frames and exception types) without untrusted exception messages."""
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = error
    link: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "direct cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "context"
        else:
            current = None
    lines: list[str] = []
    for exc, _ in reversed(chain):
        if lines:
            lines.append("")
            lines.append("The exception above led to the one below.")
            lines.append("")
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in traceback.format_tb(exc.__traceback__))
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        message = _safe_message(exc)
        lines.append(f"{kind}: {message}" if message else kind)
    return "\n".join(lines)


class RedactingFormatter(logging.Formatter):
    """Formats as usual, tracebacks without untrusted messages, then redacts the whole line."""

    def formatException(self, ei: ExcInfo | tuple[None, None, None]) -> str:
        """Frames and exception types; messages only of safe kinds."""
        error = ei[1]
        if error is None:
            return ""
        return format_exception_safely(error)

    def format(self, record: logging.LogRecord) -> str:
        """The finished line, redacted."""
        return redact(super().format(record))


class RedactTokens(logging.Filter):
    """Also scrub tokens from the record itself, for handlers with their own formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub, then let the record through."""
        if isinstance(record.msg, str):
            record.msg = TOKEN_IN_TEXT.sub("<token>", record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                TOKEN_IN_TEXT.sub("<token>", arg) if isinstance(arg, str) else arg for arg in args
            )
        return True


def configure_logging(level: int = logging.INFO, *, stream: IO[str] | None = None) -> None:
    """Log to stderr (or `stream`) with times; quiet the chatty HTTP libraries."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # python-telegram-bot's DEBUG lines carry whole updates and API calls (names, phone
    # numbers, message texts, and the Bot API URL with the token): never below INFO.
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
