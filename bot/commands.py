"""The one command registry: every command's name, who may use it, its menu and help text.

This table drives the handler registration, /help, the per-person command menus and the
permission guard (bot/handlers/dispatch.py), so a command cannot be added to one of them
without the others: `register_all` refuses to start when a handler module answers a command
this table does not list, or the table lists one nobody answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from bot.services.access import Access, Capability


class InFlow(Enum):
    """What a command does to a flow the person is in."""

    ENDS = "ends"  # the flow is dropped (the person is told), then the command runs
    KEEPS = "keeps"  # the command answers, then the flow's question is asked again
    CANCELS = "cancels"  # /cancel: the flow is dropped, and that is the whole answer


@dataclass(frozen=True)
class Command:
    """One command and the rules around it."""

    name: str
    help_key: str
    capability: Capability | None = None
    registered: bool = False  # only for people who have registered
    menu: bool = True  # offered in /help and Telegram's command menu
    in_flow: InFlow = InFlow.ENDS
    # With an argument this command is a check-in (`/checkin CODE`, a scanned `/start ci-…`):
    # idempotent, so an update taken over from a dead replica runs again and answers with the
    # one check-in there is, rather than only "received and recorded" (bot/handlers/scope.py).
    reruns_with_argument: bool = False

    def allowed(self, access: Access, *, registered: bool) -> bool:
        """Whether a person with this access may use the command at all."""
        if self.capability is not None and not access.can(self.capability):
            return False
        return registered or not self.registered

    def offered(self, access: Access, *, registered: bool) -> bool:
        """Whether the command is shown to this person."""
        return self.menu and self.allowed(access, registered=registered)


# In the order people read them: everyday commands first, then each role's tools.
COMMANDS: tuple[Command, ...] = (
    Command("start", "menu.cmd.start", reruns_with_argument=True),
    Command("events", "menu.cmd.events"),
    Command("checkin", "menu.cmd.checkin", reruns_with_argument=True),
    Command("checkout", "menu.cmd.checkout", registered=True),
    Command("profile", "menu.cmd.profile", registered=True),
    Command("mydata", "menu.cmd.mydata", registered=True),
    Command("forget", "menu.cmd.forget", registered=True),
    Command("lang", "menu.cmd.lang", in_flow=InFlow.KEEPS),
    Command("cancel", "menu.cmd.cancel", in_flow=InFlow.CANCELS),
    Command("help", "menu.cmd.help", in_flow=InFlow.KEEPS),
    Command("checkin_for", "menu.cmd.checkin_for", Capability.CHECK_IN_OTHERS),
    Command("walkin", "menu.cmd.walkin", Capability.REGISTER_WALKINS),
    Command("merge", "menu.cmd.merge", Capability.REGISTER_WALKINS),
    Command("newevent", "menu.cmd.newevent", Capability.MANAGE_EVENTS),
    Command("broadcast", "menu.cmd.broadcast", Capability.BROADCAST),
    Command("announcements", "menu.cmd.announcements", Capability.BROADCAST),
    Command("headcount", "menu.cmd.headcount", Capability.VIEW_HEADCOUNT),
    Command("summary", "menu.cmd.summary", Capability.VIEW_HEADCOUNT),
    Command("screen", "menu.cmd.screen", Capability.VIEW_HEADCOUNT),
    Command("dashboard", "menu.cmd.dashboard", Capability.VIEW_HEADCOUNT),
    Command("export", "menu.cmd.export", Capability.EXPORT),
    Command("grant", "menu.cmd.grant", Capability.MANAGE_ROLES),
    Command("revoke", "menu.cmd.revoke", Capability.MANAGE_ROLES),
    Command("roles", "menu.cmd.roles", Capability.MANAGE_ROLES),
    Command("audit", "menu.cmd.audit", Capability.VIEW_AUDIT),
)

BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}


def command(name: str) -> Command:
    """The registry entry of a command (KeyError for one that does not exist)."""
    return BY_NAME[name]


def offered(access: Access, *, registered: bool) -> list[Command]:
    """The commands a person is offered, in menu order."""
    return [entry for entry in COMMANDS if entry.offered(access, registered=registered)]


def names(commands: Iterable[Command]) -> list[str]:
    """The names, in order."""
    return [entry.name for entry in commands]
