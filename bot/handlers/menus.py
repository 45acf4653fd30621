"""What each person sees in /help and in Telegram's command menu: only what they may use.

Both are drawn from the command registry (bot/commands.py); a person's own menu is set with
setMyCommands for their chat whenever their roles or language change, and at start-up for
everyone who holds a role.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import Application

from bot.commands import Command, offered
from bot.context import AsaApplication
from bot.i18n import LANGUAGES, Translator, translator
from bot.services.access import NOBODY, Access
from bot.usecases.menus import privileged_people

_log = logging.getLogger(__name__)


def help_text(t: Translator, commands: Iterable[Command]) -> str:
    """The /help message: a heading, then one line per command."""
    lines = [t("menu.header")]
    lines += [f"/{command.name} – {t(command.help_key)}" for command in commands]
    return "\n".join(lines)


def bot_commands(t: Translator, commands: Iterable[Command]) -> list[BotCommand]:
    """The same commands as Telegram's menu wants them."""
    return [BotCommand(command.name, t(command.help_key)) for command in commands]


async def set_chat_menu(bot: Bot, *, chat_id: int, commands: list[Command], lang: str) -> bool:
    """Show these commands in one person's menu; False when Telegram refused."""
    try:
        await bot.set_my_commands(
            bot_commands(translator(lang), commands), scope=BotCommandScopeChat(chat_id)
        )
    except TelegramError as error:
        # A person who never opened the bot has no chat yet; their menu is set when roles
        # change again or at the next start-up.
        _log.warning("could not set a chat's command menu: %s", type(error).__name__)
        return False
    return True


async def refresh_menu(
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    chat_id: int,
    access: Access,
    registered: bool,
    lang: str,
) -> bool:
    """Recompute one person's menu after their roles or language changed."""
    commands = offered(access, registered=registered)
    return await set_chat_menu(application.bot, chat_id=chat_id, commands=commands, lang=lang)


async def set_default_menus(application: AsaApplication) -> None:
    """Everyone's menu (a registered volunteer's), in Thai by default and in English."""
    commands = offered(NOBODY, registered=True)
    default = application.runtime.settings.bot.default_language
    try:
        await application.bot.set_my_commands(
            bot_commands(translator(default), commands), scope=BotCommandScopeDefault()
        )
        for lang in LANGUAGES:
            await application.bot.set_my_commands(
                bot_commands(translator(lang), commands),
                scope=BotCommandScopeDefault(),
                language_code=lang,
            )
    except TelegramError as error:
        _log.warning("could not set the default command menu: %s", type(error).__name__)


async def set_privileged_menus(application: AsaApplication) -> None:
    """Menus of config admins and of everyone holding a role, as the database says now."""
    settings = application.runtime.settings
    holders = await privileged_people(
        application.runtime.db,
        config_admins=settings.bot.admins,
        default_language=settings.bot.default_language,
    )
    for holder in holders:
        await refresh_menu(
            application,
            chat_id=holder.chat_id,
            access=holder.access,
            registered=holder.registered,
            lang=holder.lang,
        )


async def on_start(application: AsaApplication) -> None:
    """Start-up: the default menu, then every privileged person's own menu."""
    await set_default_menus(application)
    await set_privileged_menus(application)


def install(application: AsaApplication) -> None:
    """Set the menus once the bot is connected."""
    application.runtime.on_start.append(on_start)
