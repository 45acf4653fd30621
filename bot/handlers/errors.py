"""The one error handler: log without personal data, tell the person nothing was lost."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, NetworkError, TelegramError

from bot.context import AsaApplication, AsaContext

_log = logging.getLogger("bot.errors")


async def on_error(update: object, context: AsaContext) -> None:
    """Log the exception with the update id only, and apologise in the person's language."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        _log.info("update %s: the person has blocked the bot", update_id)
        return
    if isinstance(error, NetworkError) and not isinstance(update, Update):
        _log.warning("network trouble talking to Telegram: %s", type(error).__name__)
        return
    # exc_info carries the traceback; never the update itself, which holds names and texts.
    _log.error(
        "update %s failed with %s",
        update_id,
        type(error).__name__,
        exc_info=(type(error), error, error.__traceback__) if error else None,
    )
    if isinstance(update, Update):
        await _apologise(update, context)


async def _apologise(update: Update, context: AsaContext) -> None:
    """Tell the person, if we can; a failure here must not raise again."""
    chat = update.effective_chat
    if chat is None or chat.type != "private":
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(chat.id, context.t("error.unexpected"))
    except TelegramError:
        _log.warning("update %s: could not tell the person about the error", update.update_id)


def register(application: AsaApplication) -> None:
    """Install the error handler."""
    application.add_error_handler(on_error)
