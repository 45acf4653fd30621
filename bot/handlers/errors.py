"""The one error handler: log without personal data, and tell the person honestly, once.

A handler that fails has not finished its work: the person is told that this action was not
recorded and to try again (never "nothing was lost"), in their language, as a new message (a
button's own answer may be what failed). The error handler then stops the update, so no later
handler group answers it a second time.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import AsaApplication, AsaContext
from storage.database import DatabaseUnavailable

_log = logging.getLogger("bot.errors")


async def on_error(update: object, context: AsaContext) -> None:
    """Log the exception with the update id only, and apologise in the person's language."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        _log.info("update %s: the person has blocked the bot", update_id)
        raise ApplicationHandlerStop
    if isinstance(error, NetworkError) and not isinstance(update, Update):
        _log.warning("network trouble talking to Telegram: %s", type(error).__name__)
        return
    if isinstance(error, DatabaseUnavailable):
        _log.error("update %s was not processed: the database is unavailable", update_id)
    else:
        # exc_info carries the traceback; never the update itself (names and texts).
        _log.error(
            "update %s failed with %s",
            update_id,
            type(error).__name__,
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )
    if isinstance(update, Update):
        key = "error.not_recorded" if isinstance(error, DatabaseUnavailable) else "error.unexpected"
        await _apologise(update, context, key)
        raise ApplicationHandlerStop


async def _apologise(update: Update, context: AsaContext, key: str) -> None:
    """Tell the person, as a new message; a failure here must not raise again."""
    chat = update.effective_chat
    if chat is None or chat.type != "private":
        return
    # Never the button's answer first: the handler may have given it already, and a second
    # one fails, which would leave the person without the apology.
    try:
        await context.bot.send_message(chat.id, context.t(key))
    except TelegramError:
        _log.warning("update %s: could not tell the person about the error", update.update_id)


def register(application: AsaApplication) -> None:
    """Install the error handler."""
    application.add_error_handler(on_error)
