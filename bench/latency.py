"""Open-loop latency: check-ins arrive at a steady offered rate, whether or not replies keep up.

`python -m bench latency` offers 25, 50, 100 and 200 check-ins a second, each rate for a fixed
time (20 s; 5 s with --quick), to asa with its shipped limiter, asa with the limiter raised to
1,000/s, and the echo bot, each in its own process on its own fake Telegram (rate limits off).
Arrivals are a Poisson process (independent people; `--arrivals even` spaces them evenly), and
the sender never waits for a reply: a closed loop, which sends the next request only after a
reply, slows down with the bot and hides its queue. Latency is from the update being queued at
the fake server to the reply arriving there; we print p50, p95, p99 and the share of replies
slower than 50 ms. Cells are interleaved (each rate: asa shipped, asa raised, echo).

After the last arrival of a cell the bot gets as long again (at least 5 s) to answer. A reply
that has not come by then counts as slower than anything measured (a percentile that falls on
one reads "no reply"), the cell is marked incomplete, and the bot is restarted so its backlog
does not spill into the next cell. Each (re)start is followed by one untimed check-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from bench import checkin
from bench.common import Report, median, percentile, scratch_database
from bench.process import Arrivals, Build, Seat, asa_builder, reference_builder, seat
from tests.fake_telegram import Person as Chatter

RATES = (25.0, 50.0, 100.0, 200.0)
SLOW = 0.050  # seconds: the share of replies slower than this is printed
MIN_DRAIN = 5.0
SEED = 20261201
BOTS = (
    ("asa_shipped", f"asa, shipped limiter {checkin.SHIPPED_RATE_LIMIT:g}/s"),
    ("asa", f"asa, limiter {checkin.RAISED_RATE_LIMIT:,.0f}/s"),
    ("echo", "echo (bare PTB)"),
)
ECHO_TEXT = "/checkin AAAAAA"


@dataclass(frozen=True)
class Plan:
    """Rates, how long each is offered, and how arrivals are spaced."""

    rates: tuple[float, ...]
    duration: float
    poisson: bool

    @classmethod
    def of(
        cls,
        *,
        quick: bool,
        rates: tuple[float, ...] | None = None,
        duration: float | None = None,
        arrivals: str = "poisson",
    ) -> Plan:
        """20 s per rate (5 s when quick) at 25, 50, 100 and 200 a second."""
        return cls(
            rates=rates or RATES,
            duration=duration or (5.0 if quick else 20.0),
            poisson=arrivals == "poisson",
        )

    @property
    def drain(self) -> float:
        """Seconds after a cell's last arrival that its replies may still come in."""
        return max(MIN_DRAIN, self.duration)

    def schedule(self, rate: float, rng: random.Random) -> list[float]:
        """Arrival times (seconds from the cell's start) at `rate` a second for `duration`."""
        if not self.poisson:
            return [i / rate for i in range(math.floor(self.duration * rate))]
        times: list[float] = []
        at = rng.expovariate(rate)
        while at < self.duration:
            times.append(at)
            at += rng.expovariate(rate)
        return times


@dataclass
class Cell:
    """One bot at one offered rate."""

    bot: str
    rate: float
    latencies: list[float] = field(default_factory=list)  # seconds; inf: no reply in time
    sending_seconds: float = 0.0
    cpu_ms: float = math.nan
    complete: bool = True
    duplicates: int = 0
    wrong: int = 0

    @property
    def sent(self) -> int:
        """Check-ins sent."""
        return len(self.latencies)

    @property
    def replied(self) -> int:
        """Replies that came in time."""
        return sum(math.isfinite(latency) for latency in self.latencies)

    @property
    def offered(self) -> float:
        """The rate actually offered: arrivals over the time it took to send them."""
        return (self.sent - 1) / self.sending_seconds if self.sending_seconds > 0 else math.nan

    def slow_share(self) -> float:
        """The share of check-ins whose reply took longer than SLOW (or did not come)."""
        return sum(latency > SLOW for latency in self.latencies) / max(1, self.sent)

    def summary(self) -> dict[str, Any]:
        """Milliseconds for --json (null: the percentile fell on a reply that never came)."""

        def ms(seconds: float) -> float | None:
            return seconds * 1000 if math.isfinite(seconds) else None

        return {
            "bot": self.bot,
            "rate_per_s": self.rate,
            "offered_per_s": self.offered,
            "sent": self.sent,
            "replied": self.replied,
            "complete": self.complete,
            "p50_ms": ms(median(self.latencies)),
            "p95_ms": ms(percentile(self.latencies, 95)),
            "p99_ms": ms(percentile(self.latencies, 99)),
            "share_over_50_ms": self.slow_share(),
            "cpu_ms_per_update": self.cpu_ms,
            "duplicate_replies": self.duplicates,
            "unexpected_replies": self.wrong,
        }


@dataclass
class _Lane:
    """One bot across the rates: its seat (restarted after a backlog) and its people."""

    key: str
    label: str
    build: Build
    text: str
    expected: str
    next_user: int
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    place: Seat | None = None
    finished: list[tuple[Arrivals, list[int], Cell]] = field(default_factory=list)

    async def ready(self) -> Seat:
        """The running bot, started (with one untimed check-in) if it is not."""
        if self.place is None:
            self.place = await self.stack.enter_async_context(seat(self.key, self.build))
            (warmup,) = self.people(1)
            await checkin.check_in_once(self.place, warmup, self.text)
        return self.place

    def people(self, count: int) -> list[Chatter]:
        """`count` people who have not checked in yet, in the current fake."""
        if self.place is None:
            raise RuntimeError("no bot running")
        ids = list(range(self.next_user, self.next_user + count))
        self.next_user += count
        return checkin.chatters(self.place.fake, ids)

    async def stop(self, *, graceful: bool) -> None:
        """Stop the bot and its fake; the next cell starts afresh."""
        if self.place is not None and not graceful:
            await self.place.process.stop(graceful=False)
        await self.stack.aclose()
        self.stack = contextlib.AsyncExitStack()
        self.place = None


async def _cell(lane: _Lane, plan: Plan, rate: float, offsets: list[float]) -> Cell:
    """Offer `offsets` arrivals to the lane's bot without waiting; collect the latencies."""
    place = await lane.ready()
    cell = Cell(bot=lane.key, rate=rate)
    people = lane.people(len(offsets))
    sent_at: dict[int, float] = {}
    cpu = place.process.cpu_seconds()
    started = perf_counter()
    for chatter, offset in zip(people, offsets, strict=True):
        delay = started + offset - perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the arrival process itself, not a wait for the bot
        sent_at[chatter.chat_id] = perf_counter()
        await chatter.send(lane.text)
    if sent_at:
        cell.sending_seconds = max(sent_at.values()) - min(sent_at.values())
    arrivals = place.arrivals
    cell.complete = await arrivals.wait_for(set(sent_at), timeout=plan.drain)
    replied = [chat for chat in sent_at if chat in arrivals.first]
    if replied:
        cell.cpu_ms = (place.process.cpu_seconds() - cpu) * 1000 / len(replied)
    cell.latencies = [arrivals.first.get(chat, math.inf) - at for chat, at in sent_at.items()]
    lane.finished.append((arrivals, list(sent_at), cell))
    if not cell.complete:
        await lane.stop(graceful=False)
    return cell


def _count_replies(lane: _Lane) -> None:
    """After the bot has exited: duplicates and unexpected texts, per cell."""
    for arrivals, chats, cell in lane.finished:
        cell.duplicates = sum(max(0, arrivals.counts[chat] - 1) for chat in chats)
        cell.wrong = sum(
            chat in arrivals.texts and lane.expected not in arrivals.texts[chat] for chat in chats
        )


async def measure(*, database: str, plan: Plan, workdir: Path) -> list[Cell]:
    """Every rate, each bot in turn; the cells in the order they ran."""
    rng = random.Random(SEED)
    schedules = {rate: plan.schedule(rate, rng) for rate in plan.rates}
    # Everyone who may check in on one bot: every arrival, plus a warm-up per (re)start.
    people = sum(len(times) for times in schedules.values()) + len(plan.rates) + 1
    now = datetime.now(UTC)
    cells: list[Cell] = []
    async with contextlib.AsyncExitStack() as stack:
        lanes: list[_Lane] = []
        for key, label in BOTS:
            name = f"latency-{key}-{database}"
            if key == "echo":
                lanes.append(
                    _Lane(key, label, reference_builder(workdir, name), ECHO_TEXT, ECHO_TEXT, 1)
                )
                continue
            url = await stack.enter_async_context(scratch_database(database))
            code = await checkin.seed(url, people=people, now=now)
            limit = (
                checkin.SHIPPED_RATE_LIMIT if key == "asa_shipped" else checkin.RAISED_RATE_LIMIT
            )
            build = asa_builder(workdir, name, url, rate_limit=limit)
            text = f"/checkin {code}"
            lanes.append(_Lane(key, label, build, text, checkin.EVENT_TITLE, checkin.FIRST_USER_ID))
        try:
            for rate in plan.rates:
                for lane in lanes:
                    cells.append(await _cell(lane, plan, rate, schedules[rate]))
        finally:
            for lane in lanes:
                await lane.stop(graceful=True)
                _count_replies(lane)
    return cells


def report(database: str, plan: Plan, cells: list[Cell]) -> Report:
    """One row per rate and bot."""
    labels = dict(BOTS)
    rows = [
        [
            f"{cell.rate:>4g}/s  {labels[cell.bot]}" + ("" if cell.complete else " [INCOMPLETE]"),
            cell.offered,
            cell.sent,
            cell.replied,
            median(cell.latencies) * 1000,
            percentile(cell.latencies, 95) * 1000,
            percentile(cell.latencies, 99) * 1000,
            f"{cell.slow_share():.1%}",
            cell.cpu_ms,
        ]
        for cell in cells
    ]
    arrivals = "Poisson" if plan.poisson else "evenly spaced"
    return Report(
        name="latency",
        title=(
            f"Latency, open loop: check-ins offered at a steady rate ({arrivals} arrivals), "
            f"{plan.duration:g} s per rate; fake rate limits off"
        ),
        database=database,
        columns=[
            "  rate  bot",
            "offered/s",
            "sent",
            "replied",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "> 50 ms",
            "CPU/update",
        ],
        rows=rows,
        data={
            "duration_s": plan.duration,
            "arrivals": arrivals,
            "drain_s": plan.drain,
            "cells": [cell.summary() for cell in cells],
        },
        checks={
            f"{labels[key]}: nobody got two replies, every reply the expected one": all(
                cell.duplicates == 0 and cell.wrong == 0 for cell in cells if cell.bot == key
            )
            for key, _ in BOTS
        },
        incomplete=[
            f"{labels[cell.bot]} at {cell.rate:g}/s: {cell.sent - cell.replied:,} of "
            f"{cell.sent:,} got no reply within {plan.drain:g} s of the last arrival"
            for cell in cells
            if not cell.complete
        ],
        notes=[
            checkin.TELEGRAM_CAP_SENTENCE,
            "latency: from the update being queued at the fake server to the reply reaching it; "
            "the sender never waits for replies; 'offered/s': the rate actually sent",
            "> 50 ms: the share of check-ins answered later than 50 ms, or not at all",
            "CPU/update: CPU milliseconds of the bot's process (/proc/<pid>/stat) per reply",
        ],
    )


async def run(*, database: str, plan: Plan) -> Report:
    """Measure, in a scratch directory for configs and logs."""
    with tempfile.TemporaryDirectory(prefix="asa-bench-latency-") as directory:
        cells = await measure(database=database, plan=plan, workdir=Path(directory))
    return report(database, plan, cells)
