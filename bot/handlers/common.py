"""Small things most handlers need: who is asking, what they may do, and error replies."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import CallbackQuery, InlineKeyboardMarkup, Update
from telegram.constants import MessageLimit
from telegram.error import BadRequest

from bot.context import AsaContext
from bot.handlers.updates import message_of
from bot.services import people
from bot.services.access import Access, access_for
from bot.services.errors import DomainError
from storage.models import Person


async def current_person(update: Update, session: AsyncSession) -> Person | None:
    """The registered person who sent this update, if any."""
    user = update.effective_user
    if user is None:
        return None
    return await people.by_telegram_id(session=session, telegram_id=user.id)


async def current_access(
    update: Update, context: AsaContext, session: AsyncSession, person: Person | None
) -> Access:
    """What the sender may do."""
    user = update.effective_user
    return await access_for(
        session=session,
        person=person,
        telegram_id=user.id if user is not None else None,
        config_admins=context.settings.bot.admins,
    )


async def sender_access(update: Update, context: AsaContext, session: AsyncSession) -> Access:
    """What the sender of this update may do."""
    person = await current_person(update, session)
    return await current_access(update, context, session, person)


async def reply_domain_error(update: Update, context: AsaContext, error: DomainError) -> None:
    """Say, in the person's language, why a rule refused."""
    text = context.t(error.key, **error.values)
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
        return
    await message_of(update).reply_text(text)


async def edit_markup(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    """Replace a message's buttons; pressing the same button twice changes nothing (Telegram
    refuses an edit to the same buttons with "message is not modified", which is fine here)."""
    message = query.message
    current = getattr(message, "reply_markup", None)
    if current == markup or (current is None and markup is None):
        return
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            raise


# The one message-length limit: Telegram's, in characters.
MESSAGE_LIMIT = MessageLimit.MAX_TEXT_LENGTH


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut a long text into messages Telegram accepts, at line breaks where possible."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current or not parts:
        parts.append(current)
    return parts
