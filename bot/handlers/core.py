"""Core commands every person has: /lang, /help, /cancel, and the fallbacks."""

from __future__ import annotations

import dataclasses

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.commands import offered
from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_MAIN
from bot.handlers.dispatch import Callback, reask_open_flow, route_message
from bot.handlers.menus import help_text, refresh_menu
from bot.handlers.updates import message_of, query_of
from bot.i18n import LANGUAGES, translator
from bot.usecases.people import set_language

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


async def lang_command(update: Update, context: AsaContext) -> None:
    """Offer the two languages."""
    await message_of(update).reply_text(context.t("lang.choose"), reply_markup=language_keyboard())


async def lang_chosen(update: Update, context: AsaContext) -> None:
    """Switch the person's language, confirm in the new one, and redo their command menu."""
    query, data = query_of(update)
    lang = data.removeprefix(LANG_CALLBACK_PREFIX)
    if lang not in LANGUAGES:
        await query.answer(context.t("error.stale_button"))
        return
    await change_language(context, lang)
    await query.answer()
    await query.edit_message_text(context.t("lang.changed"))
    # A question asked before the switch is asked again in the new language.
    await reask_open_flow(update, context)


async def change_language(context: AsaContext, lang: str) -> None:
    """Store the language (notices reach the person in it) and redo their command menu."""
    actor = context.actor
    await set_language(context.db, telegram_id=actor.telegram_id, lang=lang)
    context.set_lang(lang)
    context.actor = dataclasses.replace(context.actor, lang=lang, language_chosen=True)
    await refresh_menu(
        context.application,
        chat_id=actor.telegram_id,
        access=actor.access,
        registered=actor.registered,
        lang=lang,
    )


async def help_command(update: Update, context: AsaContext) -> None:
    """The commands this person may use, and only those."""
    actor = context.actor
    commands = offered(actor.access, registered=actor.registered)
    await message_of(update).reply_text(help_text(context.t, commands))


async def cancel_command(update: Update, context: AsaContext) -> None:
    """/cancel with nothing in progress (a flow's /cancel is answered before this runs)."""
    await message_of(update).reply_text(context.t("cancel.nothing"))


async def unknown_command(update: Update, context: AsaContext) -> None:
    """A command we do not have."""
    await message_of(update).reply_text(context.t("fallback.unknown_command"))


async def stale_button(update: Update, context: AsaContext) -> None:
    """A button from an old message, or one nobody handles any more."""
    query, _ = query_of(update)
    await query.answer(context.t("error.stale_button"), show_alert=False)


COMMANDS: dict[str, Callback] = {
    "lang": lang_command,
    "help": help_command,
    "cancel": cancel_command,
}


def register(application: AsaApplication) -> None:
    """The language buttons."""
    application.add_handler(
        CallbackQueryHandler(lang_chosen, pattern=f"^{LANG_CALLBACK_PREFIX}"), group=GROUP_MAIN
    )


def register_fallbacks(application: AsaApplication) -> None:
    """Last in the main group, so they answer only what no other handler took."""
    application.add_handlers(
        [
            MessageHandler(filters.COMMAND, unknown_command),
            MessageHandler(filters.ALL, route_message),
            CallbackQueryHandler(stale_button),
        ],
        group=GROUP_MAIN,
    )
