"""Check-in throughput and latency: N registered people send `/checkin CODE` at once.

The real bot runs as `python -m bot run` in its own process (bench/process.py says why),
polling the fake Telegram in this process over HTTP, with the fake's rate limits off and the
bot's own limiter at its maximum. Each round, N people who have not checked in yet send their
`/checkin CODE` in one burst; we time from each update being queued at the fake server to the
bot's reply arriving there. Before the rounds, a few people check in one at a time, which is
the latency of one check-in on an otherwise idle bot. The same is then done against a minimal
python-telegram-bot echo bot (bench/echo.py): the ceiling the framework sets.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from bench.common import (
    MIB,
    BenchError,
    Report,
    bulk_insert,
    finish_load,
    fmt_ratio,
    median,
    percentile,
    ratio,
    scratch_database,
)
from bench.echo import DEFAULT_CONCURRENCY
from bench.process import Arrivals, BotProcess, telegram_section, write_config
from bot.services import codes
from storage.database import create_engine, session_factory
from storage.models import CheckIn, Event, Person
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as Chatter

FIRST_USER_ID = 5_000_001
EVENT_TITLE = "สัมมนาอาสาสมัครแรงงาน กรุงเทพมหานคร"
# The bot's own limiter is capped at 1,000 messages a second by the settings.
BOT_RATE_LIMIT = 1000
SECONDS_PER_REPLY = 0.05  # a generous deadline for a round: 20 replies a second at worst


@dataclass(frozen=True)
class Size:
    """How much work one run does."""

    people: int  # per burst round
    rounds: int
    sequential: int  # people checking in one at a time before the bursts

    @classmethod
    def of(cls, *, quick: bool, n: int | None, rounds: int | None) -> Size:
        """The default (2,000 people, 3 rounds) or quick size, with overrides."""
        people = n or (50 if quick else 2000)
        return cls(
            people=people,
            rounds=rounds or (1 if quick else 3),
            sequential=min(10 if quick else 100, people),
        )

    @property
    def total(self) -> int:
        """Everyone who checks in during one bot's run."""
        return self.people * self.rounds + self.sequential


@dataclass
class Run:
    """What one bot (asa or echo) did with the same traffic."""

    throughputs: list[float] = field(default_factory=list)  # per round, replies per second
    burst_latencies: list[float] = field(default_factory=list)  # seconds, every round pooled
    idle_latencies: list[float] = field(default_factory=list)
    rss_idle_kib: int = 0
    rss_after_kib: int = 0
    rss_peak_kib: int = 0
    replies: int = 0
    exactly_one: bool = False
    expected_replies: int = 0  # replies with the expected text

    def summary(self) -> dict[str, Any]:
        """Raw numbers for --json (seconds become milliseconds)."""
        return {
            "throughput_per_s_median": median(self.throughputs),
            "throughput_per_s_rounds": self.throughputs,
            "burst_latency_ms_median": median(self.burst_latencies) * 1000,
            "burst_latency_ms_p99": percentile(self.burst_latencies, 99) * 1000,
            "idle_latency_ms_median": median(self.idle_latencies) * 1000,
            "idle_latency_ms_p99": percentile(self.idle_latencies, 99) * 1000,
            "rss_idle_mib": self.rss_idle_kib / MIB,
            "rss_after_mib": self.rss_after_kib / MIB,
            "rss_peak_mib": self.rss_peak_kib / MIB,
            "replies": self.replies,
            "expected_replies": self.expected_replies,
            "exactly_one_reply_each": self.exactly_one,
        }


@dataclass
class Outcome:
    """Both bots on one database."""

    database: str
    size: Size
    asa: Run
    echo: Run
    checkins_recorded: int


async def seed(url: str, *, people: int, now: datetime) -> str:
    """`people` registered volunteers and one event open for check-in; the event's code."""
    names = ("id", "telegram_id", "full_name", "phone", "language", "registered_at")
    persons = (
        (i + 1, FIRST_USER_ID + i, f"อาสา ทดสอบ {i + 1}", f"08{i:08d}", "th", now)
        for i in range(people)
    )
    await bulk_insert(url, Person.__table__, names, persons)  # type: ignore[attr-defined]
    code = codes.new_code()
    starts = now + timedelta(minutes=30)  # inside the default hour-before window, not late
    event = (1, EVENT_TITLE, "ศาลาว่าการกรุงเทพมหานคร", starts, starts + timedelta(hours=3))
    event_values = (*event, code, codes.new_token(), now, now, now)
    columns = ("id", "title", "venue", "starts_at", "ends_at", "code", "token")
    all_columns = (*columns, "code_rotated_at", "created_at", "updated_at")
    await bulk_insert(url, Event.__table__, all_columns, [event_values])  # type: ignore[attr-defined]
    await finish_load(url, [Person.__table__, Event.__table__])  # type: ignore[attr-defined]
    return code


async def _drive(
    fake: FakeTelegram, chatters: list[Chatter], text: str, expected: str, size: Size, run: Run
) -> None:
    """The one-at-a-time check-ins, then the burst rounds, timed at the fake server."""
    arrivals = Arrivals(fake)
    for chatter in chatters[: size.sequential]:
        sent = perf_counter()
        await chatter.send(text)
        await arrivals.wait_for({chatter.chat_id}, timeout=30)
        run.idle_latencies.append(arrivals.first[chatter.chat_id] - sent)
    for number in range(size.rounds):
        start = size.sequential + number * size.people
        group = chatters[start : start + size.people]
        queued: dict[int, float] = {}
        for chatter in group:
            queued[chatter.chat_id] = perf_counter()
            await chatter.send(text)
        timeout = max(60.0, size.people * SECONDS_PER_REPLY)
        await arrivals.wait_for(set(queued), timeout=timeout)
        first_queued = min(queued.values())
        last_reply = max(arrivals.first[chat] for chat in queued)
        run.throughputs.append(len(group) / (last_reply - first_queued))
        run.burst_latencies += [arrivals.first[chat] - at for chat, at in queued.items()]
    # Late duplicates would show up now.
    try:
        await fake.wait_idle(timeout=60, quiet=0.5)
    except AssertionError as error:
        raise BenchError(f"the bot did not go quiet after the run: {error}") from error
    everyone = {chatter.chat_id for chatter in chatters}
    run.replies = sum(arrivals.counts[chat] for chat in everyone)
    run.exactly_one = all(arrivals.counts[chat] == 1 for chat in everyone)
    run.expected_replies = sum(expected in arrivals.texts.get(chat, "") for chat in everyone)


def _chatters(fake: FakeTelegram, count: int) -> list[Chatter]:
    """The people in the fake, with the Telegram ids the database knows them by."""
    return [
        fake.person(user_id=FIRST_USER_ID + i, first_name=f"Asa{i}", language_code="th")
        for i in range(count)
    ]


async def _measure(
    process: BotProcess, fake: FakeTelegram, text: str, expected: str, size: Size
) -> Run:
    """Start a bot, drive the traffic, read its memory, stop it."""
    run = Run()
    chatters = _chatters(fake, size.total)
    await process.start(fake)
    try:
        run.rss_idle_kib = process.rss_kib()
        await _drive(fake, chatters, text, expected, size, run)
        run.rss_after_kib = process.rss_kib()
        run.rss_peak_kib = process.peak_rss_kib()
    except BenchError as error:
        raise BenchError(f"{error}\nlast lines of the bot's log:\n{process.tail()}") from error
    finally:
        await process.stop()
    return run


async def _count_checkins(url: str) -> int:
    """Check-ins the database holds."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return int((await session.exec(select(func.count()).select_from(CheckIn))).one())
    finally:
        await engine.dispose()


async def measure(*, database: str, size: Size, workdir: Path) -> Outcome:
    """asa and the echo bot, each fed the same traffic on its own fresh fake server."""
    async with scratch_database(database) as url:
        code = await seed(url, people=size.total, now=datetime.now(UTC))
        text = f"/checkin {code}"
        async with FakeTelegram(rate_limits=False) as fake:
            config = write_config(
                workdir / "asa.toml",
                {
                    "telegram": telegram_section(fake, rate_limit=BOT_RATE_LIMIT, poll_timeout=10),
                    "database": {"url": url},
                },
            )
            bot = BotProcess.asa(config=config, log_path=workdir / f"asa-{database}.log")
            asa = await _measure(bot, fake, text, EVENT_TITLE, size)
        recorded = await _count_checkins(url)
    async with FakeTelegram(rate_limits=False) as fake:
        echo_bot = BotProcess.echo(
            fake=fake, concurrency=DEFAULT_CONCURRENCY, log_path=workdir / "echo.log"
        )
        echo = await _measure(echo_bot, fake, text, text, size)
    return Outcome(database=database, size=size, asa=asa, echo=echo, checkins_recorded=recorded)


def report(outcome: Outcome) -> Report:
    """The check-in table: asa next to the echo bot, and asa as a share of it."""
    asa, echo, size = outcome.asa, outcome.echo, outcome.size
    a, e = asa.summary(), echo.summary()

    def row(label: str, key: str) -> list[Any]:
        return [label, a[key], e[key], fmt_ratio(ratio(a[key], e[key]))]

    rows = [
        row("throughput, median of rounds (replies/s)", "throughput_per_s_median"),
        row("latency under burst, median (ms)", "burst_latency_ms_median"),
        row("latency under burst, p99 (ms)", "burst_latency_ms_p99"),
        row("latency one at a time, median (ms)", "idle_latency_ms_median"),
        row("latency one at a time, p99 (ms)", "idle_latency_ms_p99"),
    ]
    title = (
        f"Check-in: {size.people:,} people send /checkin CODE at once, "
        f"{size.rounds} round(s); fake rate limits off"
    )
    return Report(
        name="checkin",
        title=title,
        database=outcome.database,
        columns=["", "asa", "echo bot", "asa / echo"],
        rows=rows,
        data={
            "people_per_round": size.people,
            "rounds": size.rounds,
            "one_at_a_time": size.sequential,
            "asa": a,
            "echo": e,
            "throughput_ratio": ratio(a["throughput_per_s_median"], e["throughput_per_s_median"]),
            "checkins_recorded": outcome.checkins_recorded,
        },
        checks={
            "every person got exactly one reply (asa)": asa.exactly_one,
            "every reply confirms the check-in": asa.expected_replies == size.total,
            "check-ins recorded = people": outcome.checkins_recorded == size.total,
            "every person got exactly one echo": echo.exactly_one
            and echo.expected_replies == size.total,
        },
        notes=[
            "latency: from the update being queued at the fake server to the reply reaching it",
            f"each bot runs in its own process; both process up to {DEFAULT_CONCURRENCY} "
            "updates at once; asa's own rate limiter is set to its maximum "
            f"({BOT_RATE_LIMIT}/s)",
            "under a burst every update is queued at once, so burst latency is mostly waiting "
            "in line; 'one at a time' is the cost of a single check-in",
        ],
    )


async def run(*, database: str, quick: bool, n: int | None, rounds: int | None = None) -> Outcome:
    """Measure, in a scratch directory for configs and logs."""
    size = Size.of(quick=quick, n=n, rounds=rounds)
    with tempfile.TemporaryDirectory(prefix="asa-bench-checkin-") as directory:
        return await measure(database=database, size=size, workdir=Path(directory))
