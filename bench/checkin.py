"""Check-in throughput and latency: rounds of N registered people sending `/checkin CODE` at once.

Four bots, each in its own process polling its own fake Telegram (rate limits off at the fake):
  - asa with its outgoing limiter raised to 1,000/s: what the bot itself can do;
  - asa as shipped ([telegram] rate_limit, 29/s): what people will see, since Telegram caps a
    bot's replies at about 30 a second anyway;
  - the echo bot (bench/echo.py): bare python-telegram-bot, the ceiling the framework sets;
  - PTB plus one INSERT per update (bench/echo.py --database-url): the least a bot that records
    a check-in pays, on the same kind of database.
The rounds are interleaved (asa, asa shipped, echo, insert, asa, ...) so that load from other
work on the machine drifts over all four alike; figures are medians of the rounds, and ratios
are medians of the per-round ratios of neighbouring rounds. Each round, N people who have not
checked in yet send their `/checkin CODE` in one burst; we time from each update being queued at
the fake server to the bot's reply arriving there, and read the bot's CPU time from /proc before
and after the round. Before the rounds, a few people check in one at a time (interleaved too,
after one untimed warm-up check-in): the latency of one check-in on an otherwise idle bot.

A round that misses its deadline is reported as measured so far and marked incomplete; that bot
is then stopped (its backlog would load the others' rounds) and sits out the remaining rounds.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import func, select, table

from bench.common import (
    MIB,
    Report,
    bulk_insert,
    finish_load,
    fmt_ratio,
    median,
    percentile,
    ratio,
    scratch_database,
)
from bench.echo import DEFAULT_CONCURRENCY, REPLY_TABLE
from bench.process import (
    REPO,
    Build,
    Seat,
    asa_builder,
    python_command,
    reference_builder,
    seat,
    sniffio_in_children,
    wait_quiescent,
)
from bot.config import TelegramSettings
from bot.services import codes
from storage.database import create_engine
from storage.models import CheckIn, Event, Person
from tests.fake_telegram import FakeTelegram
from tests.fake_telegram import Person as Chatter

FIRST_USER_ID = 5_000_001
EVENT_TITLE = "สัมมนาอาสาสมัครแรงงาน กรุงเทพมหานคร"
RAISED_RATE_LIMIT = 1000.0  # the most the settings allow
SHIPPED_RATE_LIMIT = TelegramSettings().rate_limit
TELEGRAM_CAP = 30  # replies a second, per bot token
TELEGRAM_CAP_SENTENCE = (
    f"Telegram caps a bot's replies at about {TELEGRAM_CAP} a second, so in production no bot "
    f"answers a crowd faster than that; asa ships with its limiter at {SHIPPED_RATE_LIMIT:g}/s, "
    "and the raised limiter only shows what the bot itself could do."
)
SINGLE_TIMEOUT = 30.0  # one check-in on an idle bot
ROUND_GRACE = 30.0
SECONDS_PER_REPLY = 0.05  # a round's deadline allows 20 replies a second at worst, plus grace
SETTLE_TIMEOUT = 60.0
WARMUP = 1  # an untimed first check-in on each bot


@dataclass(frozen=True)
class Size:
    """How much work one run does."""

    people: int  # per burst round
    rounds: int
    sequential: int  # people checking in one at a time before the bursts

    @classmethod
    def of(cls, *, quick: bool, n: int | None, rounds: int | None) -> Size:
        """2,000 people in each of 3 rounds (30 when quick), with overrides."""
        people = n or (30 if quick else 2000)
        return cls(people=people, rounds=rounds or 3, sequential=min(5 if quick else 100, people))

    @property
    def total(self) -> int:
        """Everyone who checks in during one bot's run."""
        return WARMUP + self.sequential + self.people * self.rounds


@dataclass(frozen=True)
class Contender:
    """One of the bots the rounds go through."""

    key: str
    label: str
    rate_limit: float | None  # its own outgoing limiter (None: none)
    rows: str | None  # the table it writes a row per update into, counted afterwards
    checkout: Path = REPO  # the source tree asa runs from (another for --baseline)

    @property
    def is_asa(self) -> bool:
        """asa, from this checkout or the baseline's, not a reference bot."""
        return self.key.startswith("asa") or self.key == BASELINE


CHECKINS = str(CheckIn.__tablename__)
CONTENDERS = (
    Contender("asa", f"asa, limiter {RAISED_RATE_LIMIT:,.0f}/s", RAISED_RATE_LIMIT, CHECKINS),
    Contender(
        "asa_shipped", f"asa, shipped {SHIPPED_RATE_LIMIT:g}/s", SHIPPED_RATE_LIMIT, CHECKINS
    ),
    Contender("echo", "echo (bare PTB)", None, None),
    Contender("insert", "PTB + 1 INSERT", None, REPLY_TABLE),
)
REFERENCES = ("echo", "insert")
BASELINE = "baseline"


def contenders(baseline: Path | None) -> tuple[Contender, ...]:
    """The bots of a run: with `baseline`, also asa from that source tree (another commit's
    checkout), limiter raised, as a bot of the same interleaved run: the one comparison of two
    versions that machine load does not swamp, since their rounds run side by side."""
    if baseline is None:
        return CONTENDERS
    label = f"asa at {baseline.name}, limiter {RAISED_RATE_LIMIT:,.0f}/s"
    other = Contender(BASELINE, label, RAISED_RATE_LIMIT, CHECKINS, checkout=baseline)
    return (CONTENDERS[0], other, *CONTENDERS[1:])


@dataclass
class Run:
    """What one bot did with its share of the traffic."""

    throughputs: list[float] = field(default_factory=list)  # per round, replies per second
    cpu_ms: list[float] = field(default_factory=list)  # per round, CPU ms per reply
    round_complete: list[bool] = field(default_factory=list)
    burst_latencies: list[float] = field(default_factory=list)  # seconds, every round pooled
    idle_latencies: list[float] = field(default_factory=list)
    idle_cpu_ms: float = float("nan")  # CPU ms per one-at-a-time check-in
    rss_idle_kib: int = 0
    rss_after_kib: int = 0
    rss_peak_kib: int = 0
    sent: int = 0
    replies: int = 0
    no_duplicates: bool = False
    expected_replies: int = 0  # replies with the expected text
    recorded: int | None = None  # rows in its database afterwards
    incomplete: list[str] = field(default_factory=list)
    same_interpreter: bool = False
    checkout: Path | None = None  # where its process ran (its code's source tree)

    @property
    def complete(self) -> bool:
        """Every person it was sent got a reply in time."""
        return not self.incomplete

    def summary(self) -> dict[str, Any]:
        """Raw numbers for --json (seconds become milliseconds)."""
        return {
            "complete": self.complete,
            "incomplete": self.incomplete,
            "rounds_complete": self.round_complete,
            "throughput_per_s_median": median(self.throughputs),
            "throughput_per_s_rounds": self.throughputs,
            "cpu_ms_per_update_median": median(self.cpu_ms),
            "cpu_ms_per_update_rounds": self.cpu_ms,
            "cpu_ms_per_single_checkin": self.idle_cpu_ms,
            "burst_latency_ms_median": median(self.burst_latencies) * 1000,
            "burst_latency_ms_p99": percentile(self.burst_latencies, 99) * 1000,
            "idle_latency_ms_median": median(self.idle_latencies) * 1000,
            "idle_latency_ms_p99": percentile(self.idle_latencies, 99) * 1000,
            "rss_idle_mib": self.rss_idle_kib / MIB,
            "rss_after_mib": self.rss_after_kib / MIB,
            "rss_peak_mib": self.rss_peak_kib / MIB,
            "sent": self.sent,
            "replies": self.replies,
            "expected_replies": self.expected_replies,
            "no_duplicate_replies": self.no_duplicates,
            "rows_recorded": self.recorded,
        }


@dataclass
class Outcome:
    """Every bot on one database."""

    database: str
    size: Size
    runs: dict[str, Run]
    sniffio: bool
    contenders: tuple[Contender, ...] = CONTENDERS

    @property
    def asa(self) -> Run:
        """asa with the raised limiter."""
        return self.runs["asa"]

    @property
    def echo(self) -> Run:
        """The echo bot."""
        return self.runs["echo"]


async def seed(url: str, *, people: int, now: datetime) -> str:
    """`people` registered volunteers and one event open for check-in; the event's code."""
    names = ("id", "telegram_id", "full_name", "phone", "language", "registered_at")
    persons = (
        (i + 1, FIRST_USER_ID + i, f"อาสา ทดสอบ {i + 1}", f"08{i:08d}", "th", now)
        for i in range(people)
    )
    await bulk_insert(url, Person.__table__, names, persons)  # type: ignore[attr-defined]
    code = await add_open_event(url, event_id=1, now=now)
    await finish_load(url, [Person.__table__, Event.__table__])  # type: ignore[attr-defined]
    return code


async def add_open_event(url: str, *, event_id: int, now: datetime) -> str:
    """An event starting in half an hour (open for check-in, nobody late); its code."""
    code = codes.new_code()
    starts = now + timedelta(minutes=30)  # inside the default hour-before window
    event = (event_id, EVENT_TITLE, "ศาลาว่าการกรุงเทพมหานคร", starts, starts + timedelta(hours=3))
    values = (*event, code, codes.new_token(), now, now, now)
    columns = ("id", "title", "venue", "starts_at", "ends_at", "code", "token")
    all_columns = (*columns, "code_rotated_at", "created_at", "updated_at")
    await bulk_insert(url, Event.__table__, all_columns, [values])  # type: ignore[attr-defined]
    return code


def chatters(fake: FakeTelegram, user_ids: list[int]) -> list[Chatter]:
    """The people in the fake, with the Telegram ids the database knows them by."""
    return [
        fake.person(user_id=user_id, first_name=f"Asa{user_id}", language_code="th")
        for user_id in user_ids
    ]


async def count_rows(url: str, name: str) -> int:
    """Rows in a table."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            query = select(func.count()).select_from(table(name))
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def check_in_once(
    place: Seat,
    chatter: Chatter,
    text: str,
    timeout: float = SINGLE_TIMEOUT,  # noqa: ASYNC109
) -> float | None:
    """One person's check-in on an otherwise idle bot: seconds to the reply, None if none came."""
    sent = perf_counter()
    await chatter.send(text)
    if not await place.arrivals.wait_for({chatter.chat_id}, timeout=timeout):
        return None
    return place.arrivals.first[chatter.chat_id] - sent


@dataclass
class _Lane:
    """One contender's bot, people and figures during a run."""

    contender: Contender
    place: Seat
    people: list[Chatter]
    text: str
    expected: str
    url: str | None
    run: Run = field(default_factory=Run)
    active: bool = True

    async def retire(self, why: str) -> None:
        """A deadline passed: keep the figures, stop the bot (its backlog would load others)."""
        self.run.incomplete.append(why)
        self.active = False
        await self.place.process.stop(graceful=False)


async def _one_at_a_time(lanes: list[_Lane], size: Size) -> None:
    """Each person in turn checks in on each bot in turn, on otherwise idle bots.

    The first person is a warm-up, untimed: a process's first update pays for lazy imports
    and first-use set-up that no later check-in pays.
    """
    cpu: dict[str, float] = {}
    for index in range(WARMUP + size.sequential):
        for lane in (lane for lane in lanes if lane.active):
            if index == WARMUP:
                cpu[lane.contender.key] = lane.place.process.cpu_seconds()
            lane.run.sent += 1
            latency = await check_in_once(lane.place, lane.people[index], lane.text)
            if latency is None:
                label = lane.contender.label
                await lane.retire(f"{label}: a check-in got no reply within {SINGLE_TIMEOUT:.0f} s")
            elif index >= WARMUP:
                lane.run.idle_latencies.append(latency)
    for lane in lanes:
        if lane.active and lane.run.idle_latencies:
            spent = lane.place.process.cpu_seconds() - cpu[lane.contender.key]
            lane.run.idle_cpu_ms = spent * 1000 / len(lane.run.idle_latencies)


def round_deadline(people: int, rate_limit: float | None) -> float:
    """Seconds a burst round may take: generous, and longer for a bot that paces its replies."""
    paced = people / rate_limit if rate_limit else 0.0
    return ROUND_GRACE + people * SECONDS_PER_REPLY + paced


async def _burst(lane: _Lane, size: Size, number: int) -> None:
    """One round: everyone in this round's group at once, timed at the fake."""
    start = WARMUP + size.sequential + number * size.people
    group = lane.people[start : start + size.people]
    arrivals, process = lane.place.arrivals, lane.place.process
    deadline = round_deadline(size.people, lane.contender.rate_limit)
    cpu_before = process.cpu_seconds()
    queued: dict[int, float] = {}
    for chatter in group:
        queued[chatter.chat_id] = perf_counter()
        await chatter.send(lane.text)
    lane.run.sent += len(group)
    complete = await arrivals.wait_for(set(queued), timeout=deadline)
    cpu_spent = process.cpu_seconds() - cpu_before
    answered = [chat for chat in queued if chat in arrivals.first]
    lane.run.round_complete.append(complete)
    if answered:
        last_reply = max(arrivals.first[chat] for chat in answered)
        lane.run.throughputs.append(len(answered) / (last_reply - min(queued.values())))
        lane.run.cpu_ms.append(cpu_spent * 1000 / len(answered))
        lane.run.burst_latencies += [arrivals.first[chat] - queued[chat] for chat in answered]
    if not complete:
        await lane.retire(
            f"{lane.contender.label}: round {number + 1} answered {len(answered):,} of "
            f"{len(group):,} within its {deadline:.0f} s deadline; it sat out the rest"
        )


async def _finish(lane: _Lane) -> None:
    """Settle (the fake quiescent), read memory, stop the bot, then count what it sent."""
    process, arrivals = lane.place.process, lane.place.arrivals
    if lane.active:
        if not await wait_quiescent(lane.place.fake, SETTLE_TIMEOUT):
            lane.run.incomplete.append(
                f"{lane.contender.label}: the fake not quiescent after {SETTLE_TIMEOUT:.0f} s"
            )
        lane.run.rss_after_kib = process.rss_kib()
        lane.run.rss_peak_kib = process.peak_rss_kib()
    # Once the process has exited nothing more can arrive: a late duplicate is counted now.
    await process.stop()
    everyone = [chatter.chat_id for chatter in lane.people[: lane.run.sent]]
    run = lane.run
    run.replies = sum(arrivals.counts[chat] for chat in everyone)
    run.no_duplicates = all(arrivals.counts[chat] <= 1 for chat in everyone)
    run.expected_replies = sum(lane.expected in arrivals.texts.get(chat, "") for chat in everyone)


def _builder(contender: Contender, url: str | None, workdir: Path, database: str) -> Build:
    """How to start this contender's bot for a given fake server."""
    name = f"{contender.key}-{database}"
    if contender.is_asa:
        return asa_builder(
            workdir, name, url or "", checkout=contender.checkout, rate_limit=contender.rate_limit
        )
    return reference_builder(workdir, name, url if contender.rows else None)


async def measure(
    *, database: str, size: Size, workdir: Path, baseline: Path | None = None
) -> Outcome:
    """Every contender fed the same traffic, interleaved round by round."""
    now = datetime.now(UTC)
    user_ids = [FIRST_USER_ID + i for i in range(size.total)]
    bots = contenders(baseline)
    async with contextlib.AsyncExitStack() as stack:
        lanes: list[_Lane] = []
        for contender in bots:
            url: str | None = None
            text = expected = "/checkin AAAAAA"  # the reference bots echo it
            if contender.is_asa:
                url = await stack.enter_async_context(scratch_database(database))
                text, expected = (
                    f"/checkin {await seed(url, people=size.total, now=now)}",
                    EVENT_TITLE,
                )
            elif contender.rows:
                url = await stack.enter_async_context(scratch_database(database, schema=False))
            place = await stack.enter_async_context(
                seat(contender.key, _builder(contender, url, workdir, database))
            )
            people = chatters(place.fake, user_ids)
            lanes.append(_Lane(contender, place, people, text, expected, url))
        prefix = python_command()
        for lane in lanes:
            process = lane.place.process
            lane.run.same_interpreter = process.command_line()[: len(prefix)] == prefix
            lane.run.checkout = process.working_directory()
            lane.run.rss_idle_kib = process.rss_kib()
        await _one_at_a_time(lanes, size)
        for number in range(size.rounds):
            for lane in lanes:
                if lane.active:
                    await _burst(lane, size, number)
        for lane in lanes:
            await _finish(lane)
            if lane.url is not None and lane.contender.rows is not None:
                lane.run.recorded = await count_rows(lane.url, lane.contender.rows)
    return Outcome(
        database=database,
        size=size,
        runs={lane.contender.key: lane.run for lane in lanes},
        sniffio=sniffio_in_children(),
        contenders=bots,
    )


def paired_ratio(values: list[float], references: list[float]) -> float:
    """The median of round-by-round ratios (rounds ran next to each other, under the same load)."""
    return median([ratio(v, r) for v, r in zip(values, references, strict=False) if r])


def _checks(outcome: Outcome) -> dict[str, bool]:
    """What must hold for the figures to mean anything."""
    checks: dict[str, bool] = {
        "every bot runs this interpreter, flags and environment": all(
            run.same_interpreter for run in outcome.runs.values()
        ),
        "sniffio is importable there (the echo bot's environment is asa's)": outcome.sniffio,
    }
    for contender in outcome.contenders:
        run = outcome.runs[contender.key]
        name = contender.label
        checks[f"{name}: runs the code of {contender.checkout}"] = (
            run.checkout == contender.checkout.resolve()
        )
        checks[f"{name}: nobody got two replies"] = run.no_duplicates
        checks[f"{name}: every reply is the expected one"] = (
            run.expected_replies == run.replies and run.replies > 0
        )
        if run.recorded is not None:
            # A bot stopped at a deadline may have written rows whose replies it never sent.
            exact = run.recorded == run.replies if run.complete else run.recorded >= run.replies
            checks[f"{name}: one row recorded per reply"] = exact
    return checks


def report(outcome: Outcome) -> Report:
    """The check-in table: one row per bot, with ratios to each reference bot."""
    size, runs = outcome.size, outcome.runs
    rows = []
    for contender in outcome.contenders:
        run = runs[contender.key]
        s = run.summary()
        rows.append(
            [
                contender.label + ("" if run.complete else " [INCOMPLETE]"),
                f"{sum(run.round_complete)}/{size.rounds}",
                s["throughput_per_s_median"],
                *[
                    fmt_ratio(paired_ratio(run.throughputs, runs[k].throughputs))
                    for k in REFERENCES
                ],
                s["burst_latency_ms_median"],
                s["burst_latency_ms_p99"],
                s["idle_latency_ms_median"],
                s["idle_latency_ms_p99"],
                s["cpu_ms_per_update_median"],
                *[fmt_ratio(paired_ratio(run.cpu_ms, runs[k].cpu_ms)) for k in REFERENCES],
                s["cpu_ms_per_single_checkin"],
            ]
        )
    asa, echo, insert = runs["asa"], runs["echo"], runs["insert"]
    return Report(
        name="checkin",
        title=(
            f"Check-in: {size.people:,} people send /checkin CODE at once, {size.rounds} rounds "
            f"per bot, interleaved; {size.sequential} one at a time first; fake rate limits off"
        ),
        database=outcome.database,
        columns=[
            "bot",
            "rounds",
            "replies/s",
            "÷echo",
            "÷insert",
            "burst p50",
            "p99",
            "single p50",
            "p99",
            "CPU/update",
            "÷echo",
            "÷insert",
            "CPU single",
        ],
        rows=rows,
        data={
            "people_per_round": size.people,
            "rounds": size.rounds,
            "one_at_a_time": size.sequential,
            "bots": {
                c.key: {"label": c.label, **runs[c.key].summary()} for c in outcome.contenders
            },
            "throughput_ratio": paired_ratio(asa.throughputs, echo.throughputs),
            "throughput_ratio_to_insert": paired_ratio(asa.throughputs, insert.throughputs),
            "cpu_ratio": paired_ratio(asa.cpu_ms, echo.cpu_ms),
            "cpu_ratio_to_insert": paired_ratio(asa.cpu_ms, insert.cpu_ms),
            "checkins_recorded": asa.recorded,
            **_baseline_ratios(runs),
        },
        checks=_checks(outcome),
        incomplete=[why for run in runs.values() for why in run.incomplete],
        notes=[
            TELEGRAM_CAP_SENTENCE,
            "latencies and CPU in milliseconds; replies/s and CPU: medians of the rounds; "
            "÷echo and ÷insert: the median of each round's figure over the reference bot's "
            "round next to it (same machine load)",
            "CPU/update: user + system CPU time of the bot's process (/proc/<pid>/stat) over a "
            "burst round, per reply; 'CPU single': the same for the one-at-a-time check-ins",
            "latency: from the update being queued at the fake server to the reply reaching it; "
            "under a burst every update is queued at once, so burst latency is mostly waiting "
            "in line, and 'single' is the cost of one check-in",
            f"all bots process up to {DEFAULT_CONCURRENCY} updates at once; the INSERT bot and "
            "asa use the same engine settings (storage.database.create_engine), each on its "
            f"own scratch {outcome.database} database",
            *_baseline_notes(runs),
        ],
    )


def _baseline_ratios(runs: dict[str, Run]) -> dict[str, float]:
    """With --baseline: this asa over the baseline's, round by round."""
    if BASELINE not in runs:
        return {}
    asa, baseline = runs["asa"], runs[BASELINE]
    return {
        "throughput_ratio_to_baseline": paired_ratio(asa.throughputs, baseline.throughputs),
        "cpu_ratio_to_baseline": paired_ratio(asa.cpu_ms, baseline.cpu_ms),
    }


def _baseline_notes(runs: dict[str, Run]) -> list[str]:
    """With --baseline: the comparison this run exists for, in words."""
    ratios = _baseline_ratios(runs)
    if not ratios:
        return []
    return [
        "this asa over the baseline's, the median of round-by-round ratios: replies/s "
        f"{fmt_ratio(ratios['throughput_ratio_to_baseline'])}, CPU per update "
        f"{fmt_ratio(ratios['cpu_ratio_to_baseline'])}"
    ]


async def run(
    *,
    database: str,
    quick: bool,
    n: int | None,
    rounds: int | None = None,
    baseline: Path | None = None,
) -> Outcome:
    """Measure, in a scratch directory for configs and logs."""
    size = Size.of(quick=quick, n=n, rounds=rounds)
    with tempfile.TemporaryDirectory(prefix="asa-bench-checkin-") as directory:
        return await measure(
            database=database, size=size, workdir=Path(directory), baseline=baseline
        )
