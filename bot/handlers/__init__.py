"""Handlers: turn updates into use-case calls and replies. One module per family.

Groups run in order for every update: the guards (private chats only), the scope (who is this:
`context.actor`), then the main group, where one handler answers: a command (through the
registry's guard), a flow's button, a family's button, the open flow's input, a fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import AsaApplication

GROUP_GUARDS = -10  # groups and channels are ignored before anything else
GROUP_SCOPE = -5  # the sender is resolved once: context.actor
GROUP_MAIN = 0  # commands, buttons, flow input, and last of all the fallbacks


def register_all(application: AsaApplication) -> None:
    """Register every family, then the registry's commands, then the fallbacks."""
    from bot.commands import BY_NAME, COMMANDS
    from bot.handlers import (
        admin,
        broadcast,
        checkin,
        core,
        dispatch,
        errors,
        events,
        registration,
        reports,
        scope,
        screen,
        start,
        walkin,
    )
    from bot.handlers.dispatch import Callback

    errors.register(application)
    scope.register(application)
    families = (
        core,
        start,
        registration,
        checkin,
        walkin,
        events,
        broadcast,
        reports,
        admin,
        screen,
    )
    callbacks: dict[str, Callback] = {}
    for family in families:
        family.register(application)
        for name, callback in getattr(family, "COMMANDS", {}).items():
            if name in callbacks:
                raise RuntimeError(f"two families answer /{name}")
            callbacks[name] = callback
    answered, listed = set(callbacks), set(BY_NAME)
    if answered != listed:
        raise RuntimeError(
            "the command registry and the handlers disagree: "
            f"unanswered {sorted(listed - answered)}, unlisted {sorted(answered - listed)}"
        )
    for entry in COMMANDS:
        if entry.name in callbacks:
            application.add_handler(
                dispatch.command_handler(entry, callbacks[entry.name]), group=GROUP_MAIN
            )
    application.add_handler(dispatch.flow_button_handler(), group=GROUP_MAIN)
    core.register_fallbacks(application)
