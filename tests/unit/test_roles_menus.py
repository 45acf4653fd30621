"""/help and the command menu offer each person exactly what their roles allow."""

from __future__ import annotations

import re

import pytest

from bot.commands import COMMANDS, Command, offered
from bot.handlers import admin, menus
from bot.i18n import LANGUAGES, terms, translator
from bot.services.access import NOBODY, Access
from bot.services.audit import AuditAction
from storage.models import Role

EVERYONE = ["start", "events", "checkin", "lang", "cancel", "help"]
REGISTERED = ["start", "events", "checkin", "checkout", "profile", "mydata", "forget"]
REGISTERED += ["lang", "cancel", "help"]


def access(*roles: Role) -> Access:
    """An Access with these roles."""
    return Access(person_id=1, roles=frozenset(roles), coordinator_zones=frozenset({3}))


def names(commands: list[Command]) -> list[str]:
    """Just the command names."""
    return [command.name for command in commands]


def test_unregistered_and_registered_people_see_only_everyday_commands() -> None:
    assert names(offered(NOBODY, registered=False)) == EVERYONE
    assert names(offered(NOBODY, registered=True)) == REGISTERED


@pytest.mark.parametrize(
    ("role", "extra"),
    [
        (Role.STAFF, ["checkin_for", "walkin", "merge"]),
        (
            Role.COORDINATOR,
            [
                "checkin_for",
                "broadcast",
                "announcements",
                "headcount",
                "summary",
                "screen",
                "dashboard",
            ],
        ),
        (
            Role.ORGANISER,
            [
                "checkin_for",
                "walkin",
                "merge",
                "newevent",
                "broadcast",
                "announcements",
                "headcount",
                "summary",
                "screen",
                "dashboard",
                "export",
            ],
        ),
        (Role.ADMIN, [c.name for c in COMMANDS if c.name not in REGISTERED]),
    ],
)
def test_each_role_sees_its_own_tools(role: Role, extra: list[str]) -> None:
    shown = names(offered(access(role), registered=True))
    assert shown == REGISTERED + extra


def test_the_registry_and_the_handlers_agree(database_url: str) -> None:
    """Every listed command is answered, and no handler answers an unlisted one."""
    from bot.app import build_application
    from bot.config import Settings

    settings = Settings.model_validate(
        {"telegram": {"token": "123456:" + "A" * 35}, "database": {"url": database_url}}
    )
    application = build_application(settings)  # raises if they disagree
    tops = [handler for handlers in application.handlers.values() for handler in handlers]
    inner = [entry for handler in tops for entry in getattr(handler, "entry_points", ())]
    commands = {name for handler in tops + inner for name in getattr(handler, "commands", ())}
    assert {entry.name for entry in COMMANDS} <= commands


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_menu_role_and_action_text_exists(lang: str) -> None:
    t = translator(lang)
    keys = [command.help_key for command in COMMANDS] + ["menu.header"]
    keys += [terms.access_role(role) for role in Role] + list(admin.ACTION_KEYS.values())
    assert [key for key in keys if not t.has(key)] == []
    # Telegram's menu: descriptions of 1-256 characters.
    assert all(1 <= len(t(command.help_key)) <= 256 for command in COMMANDS)


def test_every_audit_action_has_its_own_words() -> None:
    """A member added to AuditAction is named in /audit, never shown as its code."""
    assert set(admin.ACTION_KEYS) == set(AuditAction)
    for lang in LANGUAGES:
        t = translator(lang)
        shown = [t(admin.ACTION_KEYS[action]) for action in AuditAction]
        assert len(set(shown)) == len(shown), f"two actions read the same in {lang}"
        pairs = zip(AuditAction, shown, strict=True)
        assert all(action.value not in text for action, text in pairs)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_hints_name_only_commands_the_reader_may_use(lang: str) -> None:
    """Texts everyone may read name only everyday commands; admin-only texts may name more."""
    t = translator(lang)
    everyday = {command.name for command in offered(NOBODY, registered=True)} | {"start"}
    # Read by people who may have no role at all (the person whose role changed, a flooder).
    for key in (
        "flood.slow_down",
        "admin.you_were_granted",
        "admin.you_were_granted_zones",
        "admin.your_zones_changed",
        "admin.you_were_revoked",
    ):
        named = set(re.findall(r"/([a-z_]+)", t(key)))
        assert named <= everyday, (key, named - everyday)


def test_help_text_lists_one_line_per_command() -> None:
    commands = offered(access(Role.STAFF), registered=True)
    text = menus.help_text(translator("en"), commands)
    assert text.splitlines()[0] == "Commands you can use:"
    assert "/walkin – register and check in a walk-in" in text.splitlines()
    assert "/grant" not in text
