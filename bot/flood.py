"""Per-person flood control, decided before an update takes any lock or concurrency slot.

Someone sending more than `[bot] flood_max_updates` updates within `flood_window_seconds` is
told once to slow down and then ignored for `flood_mute_seconds`; nobody else is slowed. The
counters live in this process's memory: a restart forgives everyone, which is fine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

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
