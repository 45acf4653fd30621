"""Core commands every person has: /lang, /help, /cancel, and the guards and fallbacks."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_GUARDS, GROUP_MAIN
from bot.handlers.common import current_access
from bot.handlers.menus import refresh_menu
from bot.handlers.updates import message_of, query_of, user_of
from bot.i18n import LANGUAGES, translator
from bot.services import people

LANG_CALLBACK_PREFIX = "lang:"


def language_keyboard(prefix: str = LANG_CALLBACK_PREFIX) -> InlineKeyboardMarkup:
    """Thai first (the default), each language named in itself."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(translator(lang)("lang.name"), callback_data=f"{prefix}{lang}")
                for lang in LANGUAGES
            ]
        ]
    )


async def ignore_non_private(update: Update, context: AsaContext) -> None:
    """Stay silent in groups and channels: personal data never goes to a shared chat."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        raise ApplicationHandlerStop


async def note_activity(update: Update, context: AsaContext) -> None:
    """Keep last activity current; a person who wrote to us is reachable again."""
    user = update.effective_user
    if user is None:
        return
    now = context.clock.now()
    recent = people.recently_touched(context.runtime.extras)
    last = recent.get(user.id)
    # One write per person per interval, not per update: the door gets hundreds a minute.
    if last is not None and now - last < people.TOUCH_INTERVAL:
        return
    recent[user.id] = now
    async with context.sessions() as session:
        await people.touch(session=session, telegram_id=user.id, now=now)


async def lang_command(update: Update, context: AsaContext) -> None:
    """Offer the two languages."""
    await message_of(update).reply_text(context.t("lang.choose"), reply_markup=language_keyboard())


async def lang_chosen(update: Update, context: AsaContext) -> None:
    """Switch the person's language and confirm in the new one."""
    query, data = query_of(update)
    lang = data.removeprefix(LANG_CALLBACK_PREFIX)
    if lang not in LANGUAGES:
        await query.answer(context.t("error.stale_button"))
        return
    context.set_lang(lang)
    await people_set_language(update, context, lang)
    await query.answer()
    await query.edit_message_text(context.t("lang.changed"))


async def people_set_language(update: Update, context: AsaContext, lang: str) -> None:
    """Store the language on the person (broadcasts reach them in it) and redo their menu."""
    user = user_of(update)
    async with context.sessions() as session:
        person = await people.set_language(session=session, telegram_id=user.id, lang=lang)
        access = await current_access(update, context, session, person)
    await refresh_menu(
        context.application,
        chat_id=user.id,
        access=access,
        registered=person is not None,
        lang=lang,
    )


async def help_command(update: Update, context: AsaContext) -> None:
    """The commands this person's roles allow, and only those."""
    # Imported here so this module's imports stay as the other families left them.
    from bot.handlers import menus
    from bot.handlers.common import current_access, current_person

    async with context.sessions() as session:
        person = await current_person(update, session)
        access = await current_access(update, context, session, person)
    commands = menus.visible_commands(
        access,
        registered=person is not None,
        available=menus.available_commands(context.application),
    )
    await message_of(update).reply_text(menus.help_text(context.t, commands))


async def cancel_command(update: Update, context: AsaContext) -> None:
    """Nothing is in progress outside a conversation; say so kindly."""
    await message_of(update).reply_text(context.t("cancel.nothing"))


async def unknown_command(update: Update, context: AsaContext) -> None:
    """A command we do not have."""
    await message_of(update).reply_text(context.t("fallback.unknown_command"))


async def anything_else(update: Update, context: AsaContext) -> None:
    """Text, stickers, photos... that no flow is waiting for."""
    message = update.effective_message
    if message is None or update.edited_message is not None:
        return
    await message.reply_text(context.t("fallback.not_understood"))


async def stale_button(update: Update, context: AsaContext) -> None:
    """A button from an old message, or one nobody handles any more."""
    query, _ = query_of(update)
    await query.answer(context.t("error.stale_button"), show_alert=False)


def register(application: AsaApplication) -> None:
    """Guards first, then the core commands."""
    application.add_handler(TypeHandler(Update, ignore_non_private), group=GROUP_GUARDS)
    application.add_handler(TypeHandler(Update, note_activity), group=GROUP_GUARDS + 1)
    application.add_handlers(
        [
            CommandHandler("lang", lang_command),
            CallbackQueryHandler(lang_chosen, pattern=f"^{LANG_CALLBACK_PREFIX}"),
            CommandHandler("help", help_command),
        ],
        group=GROUP_MAIN,
    )


def register_fallbacks(application: AsaApplication) -> None:
    """Last in the main group, so they answer only what no other handler took."""
    application.add_handlers(
        [
            # Here, not with the core commands: a conversation's own /cancel (registered
            # later in the same group) must win while that conversation is in progress.
            CommandHandler("cancel", cancel_command),
            MessageHandler(filters.COMMAND, unknown_command),
            MessageHandler(filters.ALL, anything_else),
            CallbackQueryHandler(stale_button),
        ],
        group=GROUP_MAIN,
    )
