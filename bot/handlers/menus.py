"""What each person sees in /help and in Telegram's command menu: only what their roles allow.

One table (`MENU`) says which capability each command needs; /help and the per-chat command
lists (setMyCommands with BotCommandScopeChat) are both drawn from it, and only commands that
some handler actually answers are ever offered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlmodel import select
from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError
from telegram.ext import Application, BaseHandler, CommandHandler, ConversationHandler

from bot.i18n import LANGUAGES, Translator, translator
from bot.services.roles import NOBODY, Access, Capability, access_for
from storage.models import Person, Role, RoleGrant

if TYPE_CHECKING:
    from telegram import Bot

    from bot.context import AsaApplication

_log = logging.getLogger(__name__)

_AVAILABLE_KEY = "menu_available_commands"

# A config admin who has not registered: admin by the config file alone.
CONFIG_ADMIN = Access(person_id=None, roles=frozenset({Role.ADMIN}), coordinator_zones=frozenset())


@dataclass(frozen=True)
class MenuCommand:
    """A command, the text that describes it, and who may see it."""

    name: str
    key: str
    capability: Capability | None = None
    registered_only: bool = False

    def visible_to(self, access: Access, *, registered: bool) -> bool:
        """Whether a person with this access (registered or not) is offered the command."""
        if self.registered_only and not registered:
            return False
        return self.capability is None or access.can(self.capability)


# In the order people read them: everyday commands first, then each role's tools.
MENU: tuple[MenuCommand, ...] = (
    MenuCommand("start", "menu.cmd.start"),
    MenuCommand("events", "menu.cmd.events"),
    MenuCommand("checkin", "menu.cmd.checkin"),
    MenuCommand("checkout", "menu.cmd.checkout"),
    MenuCommand("profile", "menu.cmd.profile", registered_only=True),
    MenuCommand("mydata", "menu.cmd.mydata", registered_only=True),
    MenuCommand("forget", "menu.cmd.forget", registered_only=True),
    MenuCommand("lang", "menu.cmd.lang"),
    MenuCommand("cancel", "menu.cmd.cancel"),
    MenuCommand("help", "menu.cmd.help"),
    MenuCommand("checkin_for", "menu.cmd.checkin_for", Capability.CHECK_IN_OTHERS),
    MenuCommand("walkin", "menu.cmd.walkin", Capability.REGISTER_WALKINS),
    MenuCommand("newevent", "menu.cmd.newevent", Capability.MANAGE_EVENTS),
    MenuCommand("broadcast", "menu.cmd.broadcast", Capability.BROADCAST),
    MenuCommand("announcements", "menu.cmd.announcements", Capability.BROADCAST),
    MenuCommand("headcount", "menu.cmd.headcount", Capability.VIEW_HEADCOUNT),
    MenuCommand("summary", "menu.cmd.summary", Capability.VIEW_HEADCOUNT),
    MenuCommand("export", "menu.cmd.export", Capability.EXPORT),
    MenuCommand("grant", "menu.cmd.grant", Capability.MANAGE_ROLES),
    MenuCommand("revoke", "menu.cmd.revoke", Capability.MANAGE_ROLES),
    MenuCommand("roles", "menu.cmd.roles", Capability.MANAGE_ROLES),
    MenuCommand("audit", "menu.cmd.audit", Capability.VIEW_AUDIT),
)


def handled_commands(handlers: Iterable[BaseHandler[Any, Any, Any]]) -> frozenset[str]:
    """Commands some handler answers anywhere: plain command handlers and conversation entries."""
    found: set[str] = set()
    for handler in handlers:
        if isinstance(handler, CommandHandler):
            found.update(handler.commands)
        elif isinstance(handler, ConversationHandler):
            found.update(handled_commands(handler.entry_points))
    return frozenset(found)


def available_commands(application: Application[Any, Any, Any, Any, Any, Any]) -> frozenset[str]:
    """Commands this application answers (worked out once per process)."""
    extras = cast("AsaApplication", application).runtime.extras
    cached = extras.get(_AVAILABLE_KEY)
    if not isinstance(cached, frozenset):
        handlers = [h for group in application.handlers.values() for h in group]
        cached = handled_commands(handlers)
        extras[_AVAILABLE_KEY] = cached
    return cached


def visible_commands(
    access: Access, *, registered: bool, available: frozenset[str]
) -> list[MenuCommand]:
    """The commands a person is offered, in menu order."""
    return [
        command
        for command in MENU
        if command.name in available and command.visible_to(access, registered=registered)
    ]


def help_text(t: Translator, commands: Iterable[MenuCommand]) -> str:
    """The /help message: a heading, then one line per command."""
    lines = [t("menu.header")]
    lines += [f"/{command.name} – {t(command.key)}" for command in commands]
    return "\n".join(lines)


def bot_commands(t: Translator, commands: Iterable[MenuCommand]) -> list[BotCommand]:
    """The same commands as Telegram's menu wants them."""
    return [BotCommand(command.name, t(command.key)) for command in commands]


async def set_chat_menu(bot: Bot, *, chat_id: int, commands: list[MenuCommand], lang: str) -> bool:
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
    """Recompute one person's menu after their roles changed."""
    commands = visible_commands(
        access, registered=registered, available=available_commands(application)
    )
    return await set_chat_menu(application.bot, chat_id=chat_id, commands=commands, lang=lang)


async def set_default_menus(application: AsaApplication) -> None:
    """Everyone's menu (a registered volunteer's), in Thai by default and in English."""
    commands = visible_commands(NOBODY, registered=True, available=available_commands(application))
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
    runtime = application.runtime
    config_admins = runtime.settings.bot.admins
    async with runtime.sessions() as session:
        holders = select(RoleGrant.person_id).distinct()
        statement = select(Person).where(
            Person.erased_at.is_(None),  # type: ignore[union-attr]
            Person.telegram_id.is_not(None),  # type: ignore[union-attr]
            Person.id.in_(holders) | Person.telegram_id.in_(config_admins),  # type: ignore[union-attr]
        )
        people = list((await session.exec(statement)).all())
        menus: list[tuple[int, Access, bool, str]] = []
        for person in people:
            access = await access_for(
                session=session,
                person=person,
                telegram_id=person.telegram_id,
                config_admins=config_admins,
            )
            menus.append((person.telegram_id or 0, access, True, person.language))
    known = {chat_id for chat_id, *_ in menus}
    default = runtime.settings.bot.default_language
    for telegram_id in config_admins:
        if telegram_id not in known:
            menus.append((telegram_id, CONFIG_ADMIN, False, default))
    for chat_id, access, registered, lang in menus:
        await refresh_menu(
            application, chat_id=chat_id, access=access, registered=registered, lang=lang
        )


async def on_start(application: AsaApplication) -> None:
    """Post-init hook: the default menu, then every privileged person's own menu."""
    await set_default_menus(application)
    await set_privileged_menus(application)


def install(application: AsaApplication) -> None:
    """Run `on_start` once the bot is connected."""
    hooks = application.runtime.extras.setdefault("post_init_hooks", [])
    hooks.append(on_start)
