"""Webhook replicas against the polling bot: check-in throughput, latency, and losing a replica.

`python -m bench webhook` (PostgreSQL only: replicas share one database) runs three set-ups at
once, each with its own fake Telegram (rate limits off) and its own scratch database:
  - polling: one `python -m bot run` process polling its fake, the usual bench set-up;
  - webhook, 1 replica, and webhook, 3 replicas: real `python -m bot run` processes in webhook
    mode behind a round-robin proxy (tests/replicas.py), the fake pushing each update to the
    proxy as Telegram would to a load balancer; any replica processes any update through the
    inbox table.
Every bot has its outgoing limiter raised to 1,000/s, as in bench/checkin.py's asa run.

1. Throughput: rounds of N registered people sending `/checkin CODE` at once and waiting for
   the reply (bench/checkin.py's burst, same N), interleaved polling, 1 replica, 3 replicas;
   medians of the rounds, and ratios to polling as medians of each round's ratio to the
   polling round next to it (same machine load).
2. Latency, open loop: check-ins offered at 50 a second (Poisson arrivals, the same schedule
   for every set-up) for 20 s (5 s with --quick), interleaved; from the update being queued
   at the fake to the reply arriving there.
3. Losing a replica: with 3 replicas, the same offered load, and one replica SIGKILLed halfway
   through. Its claimed updates wait for their lease to run out (bot/intake.py) before another
   replica takes them, so this cell drains longer. Afterwards the database must hold exactly
   one check-in row per person who sent one: none lost, none doubled.

The fake servers and the proxy run in the bench's own process, on the same two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from bench import checkin, lifecycle
from bench.checkin import Size, paired_ratio, round_deadline
from bench.common import (
    BenchError,
    Report,
    fmt_ratio,
    machine,
    median,
    percentile,
    scratch_database,
)
from bench.latency import Plan
from bench.process import CLOCK_TICKS, Arrivals, asa_builder, seat
from bot.intake import LEASE
from storage.database import create_engine
from storage.models import CheckIn, InboxUpdate, Person
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as Chatter
from tests.replicas import ReplicaSet

DATABASE = "postgresql"
RATE = 50.0  # check-ins offered a second in the open-loop cells
SEED = 20261213
WARMUP = 12  # untimed check-ins at once on each set-up before the rounds (every replica warms)
WARMUP_TIMEOUT = 60.0
WEBHOOK_SET_TIMEOUT = 30.0
SETTLE_TIMEOUT = 120.0  # after a cell that left replies owed: for the backlog to drain
# After the kill, updates the dead replica had claimed wait out their lease, then are claimed
# again; the cell gives them that long plus this much after its last arrival.
KILL_MARGIN = 15.0
SETUPS = (
    ("polling", "polling, 1 process", 0),
    ("webhook1", "webhook, 1 replica", 1),
    ("webhook3", "webhook, 3 replicas", 3),
)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far; nan once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return math.nan
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def load_average() -> float:
    """The machine's one-minute load average now."""
    return os.getloadavg()[0]


@dataclass
class Cell:
    """One open-loop run on one set-up."""

    setup: str
    killed: bool = False
    latencies: list[float] = field(default_factory=list)  # seconds; inf: no reply in time
    user_ids: list[int] = field(default_factory=list)
    sending_seconds: float = 0.0
    drain: float = 0.0
    cpu_ms: float = math.nan
    harness_ms: float = math.nan  # the bench's own process: fake, proxy, senders
    complete: bool = True
    duplicates: int = 0  # replies beyond the first, per person
    unexpected: int = 0  # first replies without the event's title
    # From the database, after every process stopped (the kill cell only).
    rows: int | None = None
    people_with_rows: int | None = None
    lost: int | None = None
    doubled: int | None = None
    processed_again: int | None = None
    unanswered_recorded: int | None = None  # no reply, yet the check-in row is there

    @property
    def sent(self) -> int:
        """Check-ins sent."""
        return len(self.latencies)

    @property
    def replied(self) -> int:
        """Check-ins answered within the drain time."""
        return sum(math.isfinite(latency) for latency in self.latencies)

    @property
    def offered(self) -> float:
        """The rate actually offered: arrivals over the time it took to send them."""
        return (self.sent - 1) / self.sending_seconds if self.sending_seconds > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        """Raw figures for --json (milliseconds; null: a percentile fell on no reply)."""

        def ms(seconds: float) -> float | None:
            return seconds * 1000 if math.isfinite(seconds) else None

        return {
            "setup": self.setup,
            "replica_killed": self.killed,
            "offered_per_s": self.offered,
            "sent": self.sent,
            "replied": self.replied,
            "no_reply": self.sent - self.replied,
            "drain_s": self.drain,
            "complete": self.complete,
            "p50_ms": ms(median(self.latencies)),
            "p99_ms": ms(percentile(self.latencies, 99)),
            "cpu_ms_per_checkin": self.cpu_ms,
            "bench_cpu_ms_per_checkin": self.harness_ms,
            "duplicate_replies": self.duplicates,
            "unexpected_replies": self.unexpected,
            "checkin_rows": self.rows,
            "people_with_rows": self.people_with_rows,
            "lost": self.lost,
            "doubled": self.doubled,
            "updates_processed_again": self.processed_again,
            "no_reply_but_recorded": self.unanswered_recorded,
        }


@dataclass
class Setup:
    """One way of running the bot: its fake, its processes, its people and its figures."""

    key: str
    label: str
    fake: FakeTelegram
    arrivals: Arrivals
    url: str
    text: str
    pids: Callable[[], list[int]]  # the bot processes running now
    halt: Callable[[], Awaitable[None]]  # stop them at once (a backlog would load the others)
    replicas: ReplicaSet | None = None
    next_user: int = checkin.FIRST_USER_ID
    chats: list[int] = field(default_factory=list)  # everyone who sent a check-in
    throughputs: list[float] = field(default_factory=list)
    round_cpu_ms: list[float] = field(default_factory=list)
    round_harness_ms: list[float] = field(default_factory=list)  # the bench's own process
    burst_latencies: list[float] = field(default_factory=list)
    round_complete: list[bool] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # rounds cut short by their deadline
    active: bool = True
    duplicates: int = 0
    unexpected: int = 0
    lost: int | None = None
    doubled: int | None = None

    def people(self, count: int) -> list[Chatter]:
        """`count` registered people who have not checked in yet."""
        ids = list(range(self.next_user, self.next_user + count))
        self.next_user += count
        return checkin.chatters(self.fake, ids)

    def cpu(self) -> float:
        """CPU seconds of every bot process of this set-up so far."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    async def retire(self, why: str) -> None:
        """A deadline passed: keep what was measured, stop the bot, skip the rest."""
        self.incomplete.append(why)
        self.active = False
        await self.halt()


# ---------------------------------------------------------------------------------------------
# Starting the set-ups


class _Replicas(ReplicaSet):
    """tests/replicas.py's set, with its processes known to bench/lifecycle.py."""

    async def __aenter__(self) -> _Replicas:
        try:
            await super().__aenter__()
        except BaseException as error:
            await self.__aexit__(None, None, None)
            if isinstance(error, AssertionError):  # a replica exited or never got ready
                raise BenchError(f"a webhook replica did not start: {error}") from error
            raise
        for replica in self.replicas:
            if replica.process is not None:
                lifecycle.adopt_child(replica.process.pid)
        return self

    async def __aexit__(self, *_: object) -> None:
        try:
            await super().__aexit__(None, None, None)
        finally:
            for replica in self.replicas:
                if replica.process is not None:
                    lifecycle.release_child(replica.process.pid)


@contextlib.asynccontextmanager
async def polling_setup(
    key: str, label: str, url: str, text: str, workdir: Path
) -> AsyncIterator[Setup]:
    """The usual bench bot: one process polling its own fake."""
    build = asa_builder(workdir, key, url, rate_limit=checkin.RAISED_RATE_LIMIT)
    async with seat(key, build) as place:
        process = place.process

        def pids() -> list[int]:
            return [process.pid] if process.running else []

        async def halt() -> None:
            await process.stop(graceful=False)

        yield Setup(key, label, place.fake, place.arrivals, url, text, pids, halt)


@contextlib.asynccontextmanager
async def webhook_setup(
    key: str, label: str, url: str, text: str, workdir: Path, count: int
) -> AsyncIterator[Setup]:
    """`count` webhook replicas behind the proxy, on `url`, fed by their own fake."""
    directory = workdir / key
    directory.mkdir()
    async with FakeTelegram(rate_limits=False) as fake:
        arrivals = Arrivals(fake)
        async with _Replicas(fake, url, directory, count=count) as replicas:
            if not await fake.changed.wait_until(
                lambda: bool(fake.webhook.url), WEBHOOK_SET_TIMEOUT
            ):
                raise BenchError(f"{label}: no replica set the webhook:\n{replicas.logs()}")

            def pids() -> list[int]:
                return [r.process.pid for r in replicas.replicas if r.running and r.process]

            async def halt() -> None:
                for replica in replicas.replicas:
                    replica.stop_now()

            yield Setup(key, label, fake, arrivals, url, text, pids, halt, replicas=replicas)


# ---------------------------------------------------------------------------------------------
# Measuring


async def _warm_up(setup: Setup) -> None:
    """A few check-ins at once, untimed: every process pays its first-use costs here."""
    people = setup.people(WARMUP)
    for chatter in people:
        await chatter.send(setup.text)
    setup.chats += [chatter.chat_id for chatter in people]
    if not await setup.arrivals.wait_for({c.chat_id for c in people}, WARMUP_TIMEOUT):
        raise BenchError(
            f"{setup.label}: the warm-up check-ins got no reply within {WARMUP_TIMEOUT:g} s"
        )


async def _burst(setup: Setup, size: Size, number: int) -> None:
    """One round: N people send their check-in at once, timed at the fake (bench/checkin.py)."""
    group = setup.people(size.people)
    arrivals = setup.arrivals
    deadline = round_deadline(size.people, None)
    cpu_before, harness_before = setup.cpu(), process_time()
    queued: dict[int, float] = {}
    for chatter in group:
        queued[chatter.chat_id] = perf_counter()
        await chatter.send(setup.text)
    setup.chats += list(queued)
    complete = await arrivals.wait_for(set(queued), timeout=deadline)
    cpu_spent, harness_spent = setup.cpu() - cpu_before, process_time() - harness_before
    answered = [chat for chat in queued if chat in arrivals.first]
    setup.round_complete.append(complete)
    if answered:
        last_reply = max(arrivals.first[chat] for chat in answered)
        setup.throughputs.append(len(answered) / (last_reply - min(queued.values())))
        setup.round_cpu_ms.append(cpu_spent * 1000 / len(answered))
        setup.round_harness_ms.append(harness_spent * 1000 / len(answered))
        setup.burst_latencies += [arrivals.first[chat] - queued[chat] for chat in answered]
    if not complete:
        await setup.retire(
            f"{setup.label}: round {number + 1} answered {len(answered):,} of {len(group):,} "
            f"within its {deadline:.0f} s deadline; it sat out the rest"
        )


def _kill(replicas: ReplicaSet) -> None:
    """SIGKILL the first replica: a lost machine, mid-work, no goodbye."""
    victim = replicas.replicas[0]
    victim.kill()
    if victim.process is not None:
        lifecycle.release_child(victim.process.pid)


async def _cell(
    setup: Setup, offsets: list[float], drain: float, *, kill_at: float | None = None
) -> Cell:
    """Offer `offsets` arrivals without waiting for replies; SIGKILL a replica at `kill_at`."""
    cell = Cell(setup=setup.key, killed=kill_at is not None, drain=drain)
    people = setup.people(len(offsets))
    sent_at: dict[int, float] = {}
    cpu, harness = setup.cpu(), process_time()
    started = perf_counter()
    for chatter, offset in zip(people, offsets, strict=True):
        delay = started + offset - perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the arrival process itself, not a wait for the bot
        if kill_at is not None and offset >= kill_at and setup.replicas is not None:
            _kill(setup.replicas)
            kill_at = None
        sent_at[chatter.chat_id] = perf_counter()
        await chatter.send(setup.text)
    if sent_at:
        cell.sending_seconds = max(sent_at.values()) - min(sent_at.values())
    setup.chats += list(sent_at)
    cell.user_ids = list(sent_at)  # private chats: the chat id is the person's Telegram id
    arrivals = setup.arrivals
    cell.complete = await arrivals.wait_for(set(sent_at), timeout=drain)
    replied = [chat for chat in sent_at if chat in arrivals.first]
    if replied and not cell.killed:  # a killed process's CPU time cannot be read any more
        cell.cpu_ms = (setup.cpu() - cpu) * 1000 / len(replied)
    if replied:
        cell.harness_ms = (process_time() - harness) * 1000 / len(replied)
    cell.latencies = [arrivals.first.get(chat, math.inf) - at for chat, at in sent_at.items()]
    setup.cells.append(cell)
    # Late replies stay "no reply" in this cell, but a backlog must not spill into the next
    # cell: let it drain, untimed, or stop this set-up.
    settled = cell.complete or cell.killed
    if not settled and not await arrivals.wait_for(set(sent_at), timeout=SETTLE_TIMEOUT):
        setup.active = False
        await setup.halt()
    return cell


def _count_replies(setup: Setup) -> None:
    """After every process exited: replies beyond the first, and replies not expected.

    The set-up's figures leave out the kill cell, where a second reply is allowed: the killed
    replica may have answered before it could mark the update done.
    """
    arrivals = setup.arrivals

    def extra(chats: list[int]) -> int:
        return sum(max(0, arrivals.counts[chat] - 1) for chat in chats)

    def odd(chats: list[int]) -> int:
        return sum(
            chat in arrivals.texts and checkin.EVENT_TITLE not in arrivals.texts[chat]
            for chat in chats
        )

    for cell in setup.cells:
        cell.duplicates, cell.unexpected = extra(cell.user_ids), odd(cell.user_ids)
    spared = {chat for cell in setup.cells if cell.killed for chat in cell.user_ids}
    chats = [chat for chat in setup.chats if chat not in spared]
    setup.duplicates, setup.unexpected = extra(chats), odd(chats)


async def _recorded(url: str) -> tuple[dict[int, int], int]:
    """Check-in rows per person's Telegram id, and inbox updates processed more than once."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            query = (
                select(col(Person.telegram_id), func.count(col(CheckIn.id)))
                .join(CheckIn, col(CheckIn.person_id) == col(Person.id))
                .group_by(col(Person.telegram_id))
            )
            result = (await connection.execute(query)).all()
            rows = {int(tid): int(n) for tid, n in result if tid is not None}
            again = (
                select(func.count()).select_from(InboxUpdate).where(col(InboxUpdate.attempts) > 1)
            )
            processed_again = int((await connection.execute(again)).scalar_one())
    finally:
        await engine.dispose()
    return rows, processed_again


async def _check_database(setup: Setup) -> None:
    """Everyone who sent a check-in has exactly one row; the kill cell's own figures."""
    rows, processed_again = await _recorded(setup.url)
    setup.lost = sum(rows.get(chat, 0) == 0 for chat in setup.chats)
    setup.doubled = sum(rows.get(chat, 0) > 1 for chat in setup.chats)
    for cell in setup.cells:
        if cell.killed:
            counts = [rows.get(chat, 0) for chat in cell.user_ids]
            cell.rows = sum(counts)
            cell.people_with_rows = sum(n > 0 for n in counts)
            cell.lost = sum(n == 0 for n in counts)
            cell.doubled = sum(n > 1 for n in counts)
            cell.unanswered_recorded = sum(
                n > 0 and not math.isfinite(latency)
                for n, latency in zip(counts, cell.latencies, strict=True)
            )
            cell.processed_again = processed_again


@dataclass
class Outcome:
    """Every set-up's figures, and the machine's load around each measure."""

    size: Size
    plan: Plan
    kill_drain: float
    setups: list[Setup]
    load: dict[str, float]


async def measure(*, size: Size, plan: Plan, workdir: Path) -> Outcome:
    """Start every set-up, run the rounds, then the open-loop cells, then the kill."""
    rng = random.Random(SEED)
    offsets = plan.schedule(RATE, rng)
    kill_offsets = plan.schedule(RATE, rng)
    kill_drain = max(plan.drain, LEASE.total_seconds() + KILL_MARGIN)
    people = WARMUP + size.people * size.rounds + len(offsets) + len(kill_offsets)
    now = datetime.now(UTC)
    load: dict[str, float] = {}
    async with contextlib.AsyncExitStack() as databases:
        urls: dict[str, str] = {}
        texts: dict[str, str] = {}
        for key, _, _ in SETUPS:
            urls[key] = await databases.enter_async_context(scratch_database(DATABASE))
            texts[key] = f"/checkin {await checkin.seed(urls[key], people=people, now=now)}"
        setups: list[Setup] = []
        async with contextlib.AsyncExitStack() as running:
            for key, label, count in SETUPS:
                context = (
                    webhook_setup(key, label, urls[key], texts[key], workdir, count)
                    if count
                    else polling_setup(key, label, urls[key], texts[key], workdir)
                )
                setups.append(await running.enter_async_context(context))
            for setup in setups:
                await _warm_up(setup)
            load["throughput_before"] = load_average()
            for number in range(size.rounds):
                for setup in setups:
                    if setup.active:
                        await _burst(setup, size, number)
            load["throughput_after"] = load["latency_before"] = load_average()
            for setup in setups:
                if setup.active:
                    await _cell(setup, offsets, plan.drain)
            load["latency_after"] = load["kill_before"] = load_average()
            three = setups[-1]
            if three.active:
                await _cell(three, kill_offsets, kill_drain, kill_at=plan.duration / 2)
            load["kill_after"] = load_average()
        # Every process has exited: nothing more can arrive, and the database is final.
        for setup in setups:
            _count_replies(setup)
            await _check_database(setup)
    return Outcome(size=size, plan=plan, kill_drain=kill_drain, setups=setups, load=load)


# ---------------------------------------------------------------------------------------------
# Tables


def _load(outcome: Outcome, part: str) -> str:
    """ "machine load 1.23 -> 2.34" for a part of the run."""
    before, after = outcome.load.get(f"{part}_before"), outcome.load.get(f"{part}_after")
    shown = " -> ".join(f"{value:.2f}" for value in (before, after) if value is not None)
    return f"machine load (1-min load average) {shown}"


def _common_notes(outcome: Outcome) -> list[str]:
    """What every table shares."""
    return [
        "every bot: `python -m bot run` in its own process(es), limiter raised to "
        f"{checkin.RAISED_RATE_LIMIT:,.0f}/s, each set-up on its own fake Telegram and scratch "
        "PostgreSQL database; the replicas sit behind a round-robin proxy that, like the "
        "fakes, runs in the bench's own process on the same cores",
        "latency: from the update being queued at the fake server to the reply reaching it",
        f"measured on {machine()['platform']}, Python {machine()['python']}, "
        f"{machine()['cores']} cores, other work on the machine included (see the load)",
    ]


def _checks(setups: list[Setup]) -> dict[str, bool]:
    """Nobody lost or doubled, and the replies are what they should be."""
    checks: dict[str, bool] = {}
    for setup in setups:
        if setup.active:  # a set-up stopped at a deadline leaves its backlog unprocessed
            checks[f"{setup.label}: one check-in row per person who sent one"] = (
                setup.lost == 0 and setup.doubled == 0
            )
        checks[f"{setup.label}: nobody answered twice, every reply the expected one"] = (
            setup.duplicates == 0 and setup.unexpected == 0
        )
    return checks


def throughput_report(outcome: Outcome) -> Report:
    """Check-ins a second per set-up, as ratios to polling."""
    size, setups = outcome.size, outcome.setups
    polling = setups[0]
    rows = []
    for setup in setups:
        complete = all(setup.round_complete) and len(setup.round_complete) == size.rounds
        rows.append(
            [
                setup.label + ("" if complete else " [INCOMPLETE]"),
                f"{sum(setup.round_complete)}/{size.rounds}",
                median(setup.throughputs),
                fmt_ratio(paired_ratio(setup.throughputs, polling.throughputs)),
                median(setup.burst_latencies) * 1000,
                percentile(setup.burst_latencies, 99) * 1000,
                median(setup.round_cpu_ms),
                fmt_ratio(paired_ratio(setup.round_cpu_ms, polling.round_cpu_ms)),
                median(setup.round_harness_ms),
            ]
        )
    return Report(
        name="webhook-throughput",
        title=(
            f"Webhook throughput: {size.people:,} people send /checkin CODE at once, "
            f"{size.rounds} rounds per set-up, interleaved; {_load(outcome, 'throughput')}"
        ),
        database=DATABASE,
        columns=[
            "set-up",
            "rounds",
            "check-ins/s",
            "÷polling",
            "p50 ms",
            "p99 ms",
            "bot CPU ms",
            "÷polling",
            "bench CPU ms",
        ],
        rows=rows,
        data={
            "machine": machine(),
            "load_average_1min": outcome.load,
            "people_per_round": size.people,
            "rounds": size.rounds,
            "setups": {
                setup.key: {
                    "label": setup.label,
                    "throughputs_per_s": setup.throughputs,
                    "throughput_per_s_median": median(setup.throughputs),
                    "ratio_to_polling": paired_ratio(setup.throughputs, polling.throughputs),
                    "cpu_ms_per_checkin": setup.round_cpu_ms,
                    "bench_cpu_ms_per_checkin": setup.round_harness_ms,
                    "burst_latency_ms_median": median(setup.burst_latencies) * 1000,
                    "burst_latency_ms_p99": percentile(setup.burst_latencies, 99) * 1000,
                    "rounds_complete": setup.round_complete,
                    "lost": setup.lost,
                    "doubled": setup.doubled,
                }
                for setup in setups
            },
        },
        checks=_checks(setups),
        incomplete=[why for setup in setups for why in setup.incomplete],
        notes=[
            "check-ins/s: answered over the time from the first check-in queued to the last "
            "reply, median of the rounds; ÷polling: the median of each round's figure over the "
            "polling round next to it (same machine load)",
            "bot CPU ms: user + system CPU time of all the set-up's bot processes over a round, "
            "per reply; bench CPU ms: the same for the bench's own process (the fake Telegram, "
            "the proxy and the senders), which shares the cores with the bots",
            "p50/p99: each check-in's time to its reply in the bursts (mostly waiting in line)",
            *_common_notes(outcome),
        ],
    )


def _cell_row(setup: Setup, cell: Cell) -> list[Any]:
    """The columns both open-loop tables share."""
    return [
        setup.label + ("" if cell.complete or cell.killed else " [INCOMPLETE]"),
        cell.offered,
        cell.sent,
        cell.replied,
        cell.sent - cell.replied,
        median(cell.latencies) * 1000,
        percentile(cell.latencies, 99) * 1000,
    ]


def latency_report(outcome: Outcome) -> Report:
    """p50/p99 at 50 check-ins a second offered, per set-up."""
    plan = outcome.plan
    pairs = [(s, c) for s in outcome.setups for c in s.cells if not c.killed]
    return Report(
        name="webhook-latency",
        title=(
            f"Webhook latency, open loop: {RATE:g} check-ins/s offered (Poisson arrivals), "
            f"{plan.duration:g} s per set-up, interleaved; {_load(outcome, 'latency')}"
        ),
        database=DATABASE,
        columns=[
            "set-up",
            "offered/s",
            "sent",
            "replied",
            "no reply",
            "p50 ms",
            "p99 ms",
            "bot CPU ms",
            "bench CPU ms",
        ],
        rows=[[*_cell_row(setup, cell), cell.cpu_ms, cell.harness_ms] for setup, cell in pairs],
        data={
            "machine": machine(),
            "load_average_1min": outcome.load,
            "rate_per_s": RATE,
            "duration_s": plan.duration,
            "drain_s": plan.drain,
            "cells": [cell.summary() for _, cell in pairs],
        },
        checks={
            f"{setup.label}: nobody answered twice, every reply the expected one": (
                cell.duplicates == 0 and cell.unexpected == 0
            )
            for setup, cell in pairs
        },
        incomplete=[
            f"{setup.label}: {cell.sent - cell.replied:,} of {cell.sent:,} got no reply within "
            f"{cell.drain:g} s of the last arrival"
            for setup, cell in pairs
            if not cell.complete
        ],
        notes=[
            "the sender never waits for replies (a closed loop would slow down with the bot and "
            "hide its queue); every set-up gets the same arrival times; 'offered/s': the rate "
            "actually sent",
            f"no reply: check-ins unanswered {plan.drain:g} s after the last arrival (a "
            "percentile that falls on one reads 'no reply')",
            "bot CPU ms: CPU time of all the set-up's bot processes over the cell, per reply; "
            "bench CPU ms: the same for the bench's own process (fake, proxy, senders)",
            *_common_notes(outcome),
        ],
    )


def kill_report(outcome: Outcome) -> Report:
    """The cell with a replica SIGKILLed halfway: latency, and nothing lost or doubled."""
    plan, setup = outcome.plan, outcome.setups[-1]
    killed = [cell for cell in setup.cells if cell.killed]
    rows = [
        [
            *_cell_row(setup, cell),
            cell.rows,
            cell.people_with_rows,
            cell.lost,
            cell.doubled,
            cell.duplicates,
            cell.processed_again,
        ]
        for cell in killed
    ]
    checks = {
        "the kill cell ran": bool(killed),
        "no check-in lost (a row for everyone who sent one)": bool(killed)
        and all(cell.lost == 0 for cell in killed),
        "no check-in doubled (at most one row per person)": bool(killed)
        and all(cell.doubled == 0 and cell.rows == cell.people_with_rows for cell in killed),
    }
    lease = LEASE.total_seconds()
    return Report(
        name="webhook-kill",
        title=(
            f"Webhook, 3 replicas, one SIGKILLed {plan.duration / 2:g} s into {plan.duration:g} s "
            f"of {RATE:g} check-ins/s offered (Poisson); {outcome.kill_drain:g} s drain; "
            f"{_load(outcome, 'kill')}"
        ),
        database=DATABASE,
        columns=[
            "set-up",
            "offered/s",
            "sent",
            "replied",
            "no reply",
            "p50 ms",
            "p99 ms",
            "rows",
            "people",
            "lost",
            "doubled",
            "replied twice",
            "processed again",
        ],
        rows=rows,
        data={
            "machine": machine(),
            "load_average_1min": outcome.load,
            "rate_per_s": RATE,
            "duration_s": plan.duration,
            "killed_at_s": plan.duration / 2,
            "drain_s": outcome.kill_drain,
            "lease_s": lease,
            "cells": [cell.summary() for cell in killed],
        },
        checks=checks,
        notes=[
            f"no reply: check-ins unanswered {outcome.kill_drain:g} s after the last arrival; "
            f"updates the killed replica had claimed wait out their {lease:g} s lease "
            "(bot/intake.py) before another replica takes them, hence the long drain",
            "rows: check-in rows in the database for the people of this cell; people: how many "
            "of them have one; lost: people who sent a check-in and have no row; doubled: "
            "people with more than one row (both must be 0)",
            "replied twice: people answered twice (the killed replica may have replied before it "
            "could mark the update done); processed again: inbox updates claimed more than once",
            "the killed replica stays in the proxy's rotation: the proxy skips a backend that "
            "refuses connections, and Telegram (the fake) retries a delivery that got a 502",
            *[
                f"{cell.sent - cell.replied:,} of {cell.sent:,} check-ins got no reply within "
                f"{outcome.kill_drain:g} s of the last arrival, yet the database has a check-in "
                f"row for {cell.unanswered_recorded or 0:,} of them: the killed replica recorded "
                "them and died before answering, and the replica that took the update over "
                "found it applied and only asks an open flow's question again "
                "(bot/handlers/scope.py), which a one-line /checkin CODE does not have"
                for cell in killed
                if cell.sent > cell.replied
            ],
            *_common_notes(outcome),
        ],
    )


async def run(
    *,
    quick: bool,
    n: int | None = None,
    rounds: int | None = None,
    duration: float | None = None,
) -> list[Report]:
    """Measure everything on PostgreSQL, in a scratch directory for configs and logs."""
    size = Size.of(quick=quick, n=n, rounds=rounds)
    plan = Plan.of(quick=quick, rates=(RATE,), duration=duration)
    with tempfile.TemporaryDirectory(prefix="asa-bench-webhook-") as directory:
        outcome = await measure(size=size, plan=plan, workdir=Path(directory))
    return [throughput_report(outcome), latency_report(outcome), kill_report(outcome)]
