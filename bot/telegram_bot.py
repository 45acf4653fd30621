"""Our Bot: python-telegram-bot's ExtBot, hardened in two places.

- A malformed update (a field the library cannot parse) is logged, at a bounded rate, and
  replaced by an empty update with the same id, so the offset moves on and everyone else keeps
  being served. Without this, one such update makes every later getUpdates fail the same way.
- Every request checks that the calling task holds no database session: a Telegram call inside
  a transaction holds SQLite's one connection (or a pool slot) for as long as Telegram takes.
  With `ASA_STRICT_SESSIONS=1` (the test suite) such a call fails loudly.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import timedelta
from http import HTTPStatus
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter, Defaults, ExtBot
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot import metrics
from storage.database import session_is_open

_log = logging.getLogger(__name__)

# python-telegram-bot 22 reports "retry after" as a timedelta when asked to (and warns about
# its int otherwise); asa always asks.
os.environ.setdefault("PTB_TIMEDELTA", "true")

DEFAULT_NONE = BaseRequest.DEFAULT_NONE
STRICT_SESSIONS_ENV = "ASA_STRICT_SESSIONS"
# The loggers python-telegram-bot dumps unparsable updates to (Bot's and ExtBot's).
RAW_DUMP_LOGGERS = ("telegram.Bot", "telegram.ext.ExtBot")
# At most one log line per this many seconds for each kind of repeated problem.
LOG_EVERY_SECONDS = 10.0


def retry_after_seconds(error: RetryAfter) -> float:
    """How long Telegram asked to wait, in seconds."""
    value: object = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) if isinstance(value, int | float) else 1.0


def _not_modified(error: BadRequest) -> bool:
    """Telegram's answer to an edit that changes nothing."""
    return "message is not modified" in str(error).lower()


class SessionOpenDuringRequest(RuntimeError):
    """A Telegram request was made while the same task held a database session."""


class Throttled:
    """Logs a repeated problem at most once per interval, counting what it left out."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self.every = every
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        """Log now, or count the line if one of this kind was logged recently."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.every:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        skipped = self._skipped.pop(kind, 0)
        self._last[kind] = now
        suffix = f" ({skipped} more like it not logged)" if skipped else ""
        _log.warning(message + suffix, *args)


class GuardedRequest(HTTPXRequest):
    """HTTPXRequest that refuses (strict) or reports a call made inside a database session."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strict = os.environ.get(STRICT_SESSIONS_ENV, "") not in ("", "0")
        self._throttle = Throttled()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = DEFAULT_NONE,
        write_timeout: Any = DEFAULT_NONE,
        connect_timeout: Any = DEFAULT_NONE,
        pool_timeout: Any = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Check the calling task, then send."""
        if session_is_open():
            # The URL holds the token: only the Bot API method's name is ever mentioned.
            api_method = url.rsplit("/", 1)[-1]
            if self.strict:
                raise SessionOpenDuringRequest(
                    f"{api_method} called while a database session is open in this task"
                )
            self._throttle.warning(
                "session", "%s called while a database session is open", api_method
            )
        try:
            code, payload = await super().do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except NetworkError:
            metrics.TELEGRAM_ERRORS.labels("network").inc()
            raise
        kind = metrics.telegram_error_kind(code)
        if kind is not None:
            metrics.TELEGRAM_ERRORS.labels(kind).inc()
        return code, payload


class PollRequest(GuardedRequest):
    """The request getUpdates uses; after a parse failure it replaces unreadable updates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sanitize_next = False
        self.malformed = 0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = DEFAULT_NONE,
        write_timeout: Any = DEFAULT_NONE,
        connect_timeout: Any = DEFAULT_NONE,
        pool_timeout: Any = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send; when asked to, make every update in the answer one the library can read."""
        code, payload = await super().do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if self.sanitize_next and code == HTTPStatus.OK and url.endswith("/getUpdates"):
            self.sanitize_next = False
            payload = self._sanitized(payload)
        return code, payload

    def _sanitized(self, payload: bytes) -> bytes:
        """The same answer, each unreadable update replaced by an empty one with its id."""
        try:
            answer = json.loads(payload)
        except ValueError:
            return payload
        updates = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(updates, list):
            return payload
        answer["result"] = [self._readable(item) for item in updates]
        return json.dumps(answer).encode()

    def _readable(self, item: Any) -> Any:
        """The update if it parses, else only its id (so the offset moves past it)."""
        try:
            Update.de_json(item, None)
        except Exception as error:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                raise
            self.malformed += 1
            # Never the update itself: it holds names and texts.
            _log.warning(
                "update %s could not be parsed (%s); skipped", update_id, type(error).__name__
            )
            return {"update_id": update_id}
        return item


class _DropRawUpdateDumps(logging.Filter):
    """python-telegram-bot logs the raw updates it could not parse (names, texts): drop that."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every other record."""
        return not str(record.msg).startswith("Error while parsing updates")


class AsaBot(ExtBot[None]):
    """ExtBot whose getUpdates survives an update it cannot parse (see the module docstring)."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        base_file_url: str,
        request: HTTPXRequest,
        poll_request: PollRequest,
        defaults: Defaults,
        rate_limiter: BaseRateLimiter[Any],
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            base_file_url=base_file_url,
            request=request,
            get_updates_request=poll_request,
            defaults=defaults,
            rate_limiter=rate_limiter,
        )
        self._poll = poll_request
        self._throttle = Throttled()
        for name in RAW_DUMP_LOGGERS:
            raw_dumps = logging.getLogger(name)
            if not any(isinstance(f, _DropRawUpdateDumps) for f in raw_dumps.filters):
                raw_dumps.addFilter(_DropRawUpdateDumps())

    async def answer_callback_query(self, *args: Any, **kwargs: Any) -> bool:
        """Answer a button press; a press that can no longer be answered (too old, or answered
        already by a replica that died) is logged and skipped, never fatal: the answer only
        stops the button's spinner, and the work behind the press must still be done."""
        try:
            return await super().answer_callback_query(*args, **kwargs)
        except BadRequest as error:
            if "query is too old" not in str(error).lower():
                raise
            self._throttle.warning("old-query", "a button press could not be answered any more")
            return False

    async def edit_message_text(self, *args: Any, **kwargs: Any) -> Message | bool:
        """Edit a message's text; an edit to what it already says is done, not an error (a
        second press of a button, or an update processed again after its replica died):
        False then says that nothing changed."""
        try:
            return await super().edit_message_text(*args, **kwargs)
        except BadRequest as error:
            if not _not_modified(error):
                raise
            return False

    async def edit_message_reply_markup(self, *args: Any, **kwargs: Any) -> Message | bool:
        """Replace a message's buttons; the same buttons again are done, not an error (False:
        nothing changed)."""
        try:
            return await super().edit_message_reply_markup(*args, **kwargs)
        except BadRequest as error:
            if not _not_modified(error):
                raise
            return False

    @property
    def malformed_updates(self) -> int:
        """How many updates could not be parsed since start-up."""
        return self._poll.malformed

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        """Fetch updates; if one cannot be parsed, fetch again with it replaced."""
        try:
            return await super().get_updates(*args, **kwargs)
        except TelegramError:
            raise
        except Exception as error:
            self._throttle.warning(
                "malformed", "an update could not be parsed (%s)", type(error).__name__
            )
            self._poll.sanitize_next = True
            return await super().get_updates(*args, **kwargs)
