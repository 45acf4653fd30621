"""Logging set-up: readable lines, and no secrets or personal data.

The bot token is part of every Bot API URL, and httpx logs URLs at INFO; we keep httpx at
WARNING and also scrub anything that looks like a token from every record, as a second lock.
"""

from __future__ import annotations

import logging
import re

TOKEN_IN_TEXT = re.compile(r"\d{3,15}:[A-Za-z0-9_-]{30,64}")


class RedactTokens(logging.Filter):
    """Replace bot tokens in log messages and arguments with a placeholder."""

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


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr with times; quiet the chatty HTTP libraries."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiosqlite", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # python-telegram-bot's DEBUG lines carry whole updates and API calls (names, phone
    # numbers, message texts, and the Bot API URL with the token): never below INFO.
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
