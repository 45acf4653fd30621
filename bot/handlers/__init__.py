"""Handlers: turn updates into service calls and replies. One module per family."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import AsaApplication

# Handler groups run in this order; a lower group sees every update first.
GROUP_GUARDS = -10  # flood control, ignoring groups and channels
GROUP_MAIN = 0  # conversations, commands, and last of all the fallbacks


def register_all(application: AsaApplication) -> None:
    """Register every family of handlers, in a readable order; fallbacks last."""
    from bot.handlers import (
        admin,
        broadcast,
        checkin,
        core,
        errors,
        events,
        guards,
        registration,
        reports,
        start,
    )

    errors.register(application)
    guards.register(application)
    core.register(application)
    start.register(application)
    registration.register(application)
    checkin.register(application)
    events.register(application)
    broadcast.register(application)
    reports.register(application)
    admin.register(application)
    core.register_fallbacks(application)
