"""Guards that see every update first: per-person flood control.

Someone sending more than `[bot] flood_max_updates` updates within `flood_window_seconds` is
told once to slow down and then ignored for `flood_mute_seconds`; nobody else is slowed. The
counters live in memory (`runtime.extras`): a restart forgives everyone, which is fine.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, TypeHandler

from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_GUARDS

_log = logging.getLogger(__name__)

FLOOD_KEY = "flood_gate"
# Before ignoring groups and channels (GROUP_GUARDS), so a muted person costs nothing more.
GROUP_FLOOD = GROUP_GUARDS - 1
# How many checks between sweeps of people who went quiet (keeps the table small).
SWEEP_EVERY = 1000


class Verdict(Enum):
    """What to do with one update."""

    ALLOW = "allow"
    WARN = "warn"  # the update that crossed the line: say "slow down", then drop it
    DROP = "drop"


@dataclass
class _Tally:
    """One person's recent updates and, if muted, until when."""

    times: deque[datetime] = field(default_factory=deque)
    muted_until: datetime | None = None


class FloodGate:
    """Counts each person's updates in a sliding window and mutes those who exceed it."""

    def __init__(self, *, max_updates: int, window: timedelta, mute: timedelta) -> None:
        self.max_updates = max_updates
        self.window = window
        self.mute = mute
        self._tallies: dict[int, _Tally] = {}
        self._checks = 0

    def check(self, person: int, now: datetime) -> Verdict:
        """Count one update from `person` at `now` and say whether to process it."""
        self._checks += 1
        if self._checks % SWEEP_EVERY == 0:
            self.sweep(now)
        tally = self._tallies.setdefault(person, _Tally())
        if tally.muted_until is not None:
            if now < tally.muted_until:
                return Verdict.DROP
            tally.muted_until = None
            tally.times.clear()
        times = tally.times
        while times and now - times[0] >= self.window:
            times.popleft()
        times.append(now)
        if len(times) <= self.max_updates:
            return Verdict.ALLOW
        tally.muted_until = now + self.mute
        times.clear()
        return Verdict.WARN

    def sweep(self, now: datetime) -> None:
        """Forget people who are neither muted nor active within the window."""
        quiet = [
            person
            for person, tally in self._tallies.items()
            if (tally.muted_until is None or tally.muted_until <= now)
            and (not tally.times or now - tally.times[-1] >= self.window)
        ]
        for person in quiet:
            del self._tallies[person]

    @property
    def checks(self) -> int:
        """How many updates were counted since start-up."""
        return self._checks

    def __len__(self) -> int:
        """How many people are being counted."""
        return len(self._tallies)


def flood_gate(context: AsaContext) -> FloodGate:
    """This process's flood gate, made from the settings on first use."""
    gate = context.runtime.extras.get(FLOOD_KEY)
    if not isinstance(gate, FloodGate):
        bot = context.settings.bot
        gate = FloodGate(
            max_updates=bot.flood_max_updates,
            window=timedelta(seconds=bot.flood_window_seconds),
            mute=timedelta(seconds=bot.flood_mute_seconds),
        )
        context.runtime.extras[FLOOD_KEY] = gate
    return gate


async def flood_guard(update: Update, context: AsaContext) -> None:
    """Let an update through, or stop it (after one "slow down") if its sender floods."""
    user, chat = update.effective_user, update.effective_chat
    # Group and channel updates are dropped by the next guard anyway, and never answered.
    if user is None or chat is None or chat.type != ChatType.PRIVATE:
        return
    verdict = flood_gate(context).check(user.id, context.clock.now())
    if verdict is Verdict.ALLOW:
        return
    if verdict is Verdict.WARN:
        _log.info("update %s: a person is flooding; muted for a while", update.update_id)
        try:
            await context.bot.send_message(chat.id, context.t("flood.slow_down"))
        except TelegramError as error:
            _log.info("could not ask a person to slow down: %s", type(error).__name__)
    raise ApplicationHandlerStop


def register(application: AsaApplication) -> None:
    """Flood control, before every other handler."""
    application.add_handler(TypeHandler(Update, flood_guard), group=GROUP_FLOOD)
