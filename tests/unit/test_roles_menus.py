"""/help and the command menu offer each person exactly what their roles allow."""

from __future__ import annotations

import pytest
from telegram.ext import CommandHandler, ConversationHandler, MessageHandler, filters

from bot.handlers import admin, menus
from bot.i18n import LANGUAGES, translator
from bot.services.roles import NOBODY, Access
from storage.models import Role

ALL = frozenset(command.name for command in menus.MENU)
EVERYONE = ["start", "events", "checkin", "checkout", "lang", "cancel", "help"]
REGISTERED = ["start", "events", "checkin", "checkout", "profile", "mydata", "forget"]
REGISTERED += ["lang", "cancel", "help"]


def access(*roles: Role) -> Access:
    """An Access with these roles."""
    return Access(person_id=1, roles=frozenset(roles), coordinator_zones=frozenset({3}))


def names(commands: list[menus.MenuCommand]) -> list[str]:
    """Just the command names."""
    return [command.name for command in commands]


def test_unregistered_and_registered_people_see_only_everyday_commands() -> None:
    assert names(menus.visible_commands(NOBODY, registered=False, available=ALL)) == EVERYONE
    assert names(menus.visible_commands(NOBODY, registered=True, available=ALL)) == REGISTERED


@pytest.mark.parametrize(
    ("role", "extra"),
    [
        (Role.STAFF, ["checkin_for", "walkin"]),
        (
            Role.COORDINATOR,
            ["checkin_for", "broadcast", "announcements", "headcount", "summary"],
        ),
        (
            Role.ORGANISER,
            [
                "checkin_for",
                "walkin",
                "newevent",
                "broadcast",
                "announcements",
                "headcount",
                "summary",
                "export",
            ],
        ),
        (Role.ADMIN, [c.name for c in menus.MENU if c.name not in REGISTERED]),
    ],
)
def test_each_role_sees_its_own_tools(role: Role, extra: list[str]) -> None:
    shown = names(menus.visible_commands(access(role), registered=True, available=ALL))
    assert shown == REGISTERED + extra


def test_commands_nobody_answers_are_never_offered() -> None:
    shown = menus.visible_commands(
        access(Role.ADMIN), registered=True, available=frozenset({"help"})
    )
    assert names(shown) == ["help"]


def test_handled_commands_looks_inside_conversations() -> None:
    async def noop(*_: object) -> None:
        """Nothing."""

    handlers = [
        CommandHandler(["help", "start"], noop),
        ConversationHandler(entry_points=[CommandHandler("grant", noop)], states={}, fallbacks=[]),
        MessageHandler(filters.TEXT, noop),
    ]
    assert menus.handled_commands(handlers) == {"help", "start", "grant"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_menu_role_and_action_text_exists(lang: str) -> None:
    t = translator(lang)
    keys = [command.key for command in menus.MENU] + ["menu.header"]
    keys += list(admin.ROLE_KEYS.values()) + list(admin.ACTION_KEYS.values())
    assert [key for key in keys if not t.has(key)] == []
    # Telegram's menu: descriptions of 1-256 characters.
    assert all(1 <= len(t(command.key)) <= 256 for command in menus.MENU)


def test_help_text_lists_one_line_per_command() -> None:
    commands = menus.visible_commands(access(Role.STAFF), registered=True, available=ALL)
    text = menus.help_text(translator("en"), commands)
    assert text.splitlines()[0] == "Commands you can use:"
    assert "/walkin – register and check in a walk-in" in text.splitlines()
    assert "/grant" not in text
