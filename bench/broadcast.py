"""Broadcast pace: one announcement to 10,000 people through the outbox, under Telegram's limits.

The fake server enforces the limit (default 30 messages a second overall and 1 a second per
chat) and answers 429 beyond it. The bot runs as `python -m bot run` in its own process, with
its own limiter configured the way the shipped defaults relate to Telegram's (29 of 30 a
second, so the same share of a scaled `--limit`). The announcement and its deliveries are
created through the announcements service before the bot starts; the bot's outbox sends them
and finally reports to the author. The pace is timed from the first recipient's message to the
last one's. A second run has 1% of the recipients blocking the bot and 1% failing once (500,
502 or a timeout) before succeeding.

The run is over when every reachable recipient and the author got their message, the outbox
table has no pending or sending delivery, and the bot has fetched every update; then the bot is
stopped and what arrived is counted. A broadcast that misses its deadline still reports how far
it got, marked incomplete.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any, Literal

from sqlalchemy import func
from sqlmodel import col, select

from bench.common import (
    Report,
    bulk_insert,
    finish_load,
    fmt_ratio,
    ratio,
    scratch_database,
)
from bench.process import Arrivals, BotProcess, asa_config, wait_quiescent
from bot.config import TelegramSettings
from bot.services import announcements
from bot.services.access import Access
from storage.database import create_engine, session_factory
from storage.models import Delivery, DeliveryStatus, ParticipantType, Person, Role
from tests.fake_telegram import FakeTelegram

TELEGRAM_LIMIT = 30.0  # messages a second, overall
PER_CHAT_LIMIT = 1.0
# The shipped bot sends at 29 a second against Telegram's 30: a margin against 429s.
DEFAULT_SHARE = TelegramSettings().rate_limit / TELEGRAM_LIMIT
MAX_BOT_RATE = 1000.0
FAULT_SHARE = 0.01
TRANSIENT_KINDS: tuple[Literal["500", "502", "timeout"], ...] = ("500", "502", "timeout")
AUTHOR_USER_ID = 4_999_999
FIRST_USER_ID = 5_000_001
TEXT = "ประชุมอาสาสมัครแรงงานวันเสาร์นี้ 09.00 น. ที่ศาลาว่าการกรุงเทพมหานคร"
UNSETTLED = {DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value}
SETTLE_TIMEOUT = 60.0
SETTLE_POLL = 0.1
AUDIENCE = {"kind": "types", "values": [ParticipantType.VOLUNTEER.value]}


@dataclass(frozen=True)
class Size:
    """Recipients and the limit the fake enforces."""

    recipients: int
    limit: float

    @classmethod
    def of(cls, *, quick: bool, n: int | None, limit: float | None) -> Size:
        """10,000 recipients at 30/s by default; 200 at 300/s when quick."""
        return cls(
            recipients=n or (200 if quick else 10_000),
            limit=limit or (300.0 if quick else TELEGRAM_LIMIT),
        )

    @property
    def deadline(self) -> float:
        """Seconds the broadcast may take: thrice the pace of the bot's limiter, plus grace."""
        return 120.0 + 3 * self.recipients / self.bot_rate

    @property
    def bot_rate(self) -> float:
        """The bot's own limiter: the shipped share of the limit."""
        return min(MAX_BOT_RATE, round(self.limit * DEFAULT_SHARE, 3))


@dataclass
class Run:
    """One announcement's delivery, as the fake server and the outbox table saw it."""

    faults: bool
    recipients: int
    blocked: int = 0
    transient: int = 0
    seconds: float = 0.0
    delivered: int = 0
    rate: float = 0.0
    too_many_requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    report_received: bool = False
    duplicates: int = 0
    to_blocked: int = 0
    complete: bool = False
    incomplete: str = ""

    def summary(self, limit: float) -> dict[str, Any]:
        """Raw numbers for --json."""
        return {
            "recipients": self.recipients,
            "blocked": self.blocked,
            "failing_once": self.transient,
            "delivered": self.delivered,
            "seconds": self.seconds,
            "messages_per_s": self.rate,
            "ratio_of_limit": ratio(self.rate, limit),
            "http_429": self.too_many_requests,
            "complete": self.complete,
            "duplicates": self.duplicates,
            "messages_to_blocked": self.to_blocked,
            "delivery_statuses": self.statuses,
            "author_report_received": self.report_received,
        }


async def seed(url: str, *, recipients: int, now: datetime) -> int:
    """An admin author and `recipients` volunteers; the announcement's id (already sending)."""
    names = ("id", "telegram_id", "full_name", "participant_type", "language", "registered_at")
    author = (1, AUTHOR_USER_ID, "ผู้ประสานงาน", ParticipantType.OFFICIAL.value, "th", now)
    people = itertools.chain(
        [author],
        (
            (i + 2, FIRST_USER_ID + i, f"อาสา {i + 1}", ParticipantType.VOLUNTEER.value, "th", now)
            for i in range(recipients)
        ),
    )
    await bulk_insert(url, Person.__table__, names, people)  # type: ignore[attr-defined]
    await finish_load(url, [Person.__table__])  # type: ignore[attr-defined]
    access = Access(person_id=1, roles=frozenset({Role.ADMIN}), coordinator_zones=frozenset())
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            announcement = await announcements.create(
                session=session,
                access=access,
                audience=AUDIENCE,
                text=TEXT,
                entities=None,
                send_at=None,
                now=now,
            )
            await session.commit()
            return announcement.id or 0
    finally:
        await engine.dispose()


async def _statuses(url: str, announcement_id: int | None = None) -> dict[str, int]:
    """Deliveries by status: of one announcement, or (None) of the whole outbox."""
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            statement = select(Delivery.status, func.count()).group_by(col(Delivery.status))
            if announcement_id is not None:
                statement = statement.where(col(Delivery.announcement_id) == announcement_id)
            rows = await session.exec(statement)
            return {status: int(count) for status, count in rows.all()}
    finally:
        await engine.dispose()


def _inject_faults(fake: FakeTelegram, chats: list[int], run: Run) -> set[int]:
    """Block 1% of the recipients and make another 1% fail once; the blocked chats."""
    every = round(1 / FAULT_SHARE)
    blocked = set(chats[::every])
    transient = chats[every // 2 :: every]
    for chat in blocked:
        fake.block(chat)
    for chat, kind in zip(transient, itertools.cycle(TRANSIENT_KINDS), strict=False):
        fake.fail_next("sendMessage", kind=kind, chat_id=chat)
    run.blocked, run.transient = len(blocked), len(transient)
    return blocked


async def wait_outbox_settled(url: str, timeout: float) -> bool:  # noqa: ASYNC109
    """Whether the outbox has no pending or sending delivery left within `timeout` seconds.

    The bot tells nobody when its outbox is done, so the table is read until it says so.
    """
    deadline = perf_counter() + timeout
    while True:
        statuses = await _statuses(url)
        if not statuses.keys() & UNSETTLED:
            return True
        if perf_counter() > deadline:
            return False
        await asyncio.sleep(SETTLE_POLL)  # the next look at the table, not a quiet window


async def _send(
    url: str, announcement_id: int, size: Size, *, faults: bool, database: str, workdir: Path
) -> Run:
    """One announcement, start to author's report, against a fake enforcing the limit."""
    run = Run(faults=faults, recipients=size.recipients)
    async with FakeTelegram(
        rate_limits=True, overall_per_second=size.limit, per_chat_per_second=PER_CHAT_LIMIT
    ) as fake:
        author = fake.person(user_id=AUTHOR_USER_ID, first_name="Author")
        chats = []
        for i in range(size.recipients):
            chatter = fake.person(user_id=FIRST_USER_ID + i, first_name=f"Asa{i}")
            # They registered through the bot earlier, so Telegram knows the chats.
            fake.world.chats[chatter.chat_id] = chatter.chat
            chats.append(chatter.chat_id)
        fake.world.chats[author.chat_id] = author.chat
        blocked = _inject_faults(fake, chats, run) if faults else set()
        arrivals = Arrivals(fake)
        label = "faults" if faults else "clean"
        config = asa_config(
            workdir / f"broadcast-{label}.toml", fake, url, rate_limit=size.bot_rate
        )
        bot = BotProcess.asa(config=config, log_path=workdir / f"broadcast-{database}-{label}.log")
        deadline = size.deadline
        try:
            await bot.start(fake)
            reachable = {chat for chat in chats if chat not in blocked} | {author.chat_id}
            run.complete = (
                await arrivals.wait_for(reachable, timeout=deadline)
                and await wait_outbox_settled(url, SETTLE_TIMEOUT)
                and await wait_quiescent(fake, SETTLE_TIMEOUT)
            )
        finally:
            # Stopped before counting: once it has exited, nothing more can arrive.
            await bot.stop(graceful=run.complete)
        reached = [chat for chat in chats if chat in arrivals.first]
        if not run.complete:
            run.incomplete = (
                f"{label}: {len(reached):,} of {len(chats) - len(blocked):,} reachable recipients "
                f"reached, author's report {'' if author.chat_id in arrivals.first else 'not '}"
                f"sent, within the {deadline:.0f} s deadline"
            )
        if len(reached) > 1:
            times = [arrivals.first[chat] for chat in reached]
            run.seconds = max(times) - min(times)
            run.rate = (len(reached) - 1) / run.seconds if run.seconds > 0 else 0.0
        run.delivered = sum(arrivals.counts[chat] for chat in chats)
        run.duplicates = sum(max(0, arrivals.counts[chat] - 1) for chat in chats)
        run.to_blocked = sum(arrivals.counts[chat] for chat in blocked)
        run.too_many_requests = fake.retry_after_count
        run.report_received = arrivals.counts[author.chat_id] == 1
    # The broadcast's own deliveries (the author's report is a delivery of its own).
    run.statuses = await _statuses(url, announcement_id)
    return run


async def measure(*, database: str, size: Size, workdir: Path) -> list[Run]:
    """A clean run and a run with faults, each on a fresh database."""
    runs = []
    for faults in (False, True):
        async with scratch_database(database) as url:
            announcement_id = await seed(url, recipients=size.recipients, now=datetime.now(UTC))
            runs.append(
                await _send(
                    url, announcement_id, size, faults=faults, database=database, workdir=workdir
                )
            )
    return runs


def _checks(run: Run) -> dict[str, bool]:
    """What must hold for the figures to mean anything (as far as the run got)."""
    label = "with 1% blocked + 1% failing once" if run.faults else "clean"
    checks = {
        f"{label}: nobody got the announcement twice, the blocked got nothing": (
            run.duplicates == 0 and run.to_blocked == 0
        ),
    }
    if run.complete:
        expected = Counter({"sent": run.recipients - run.blocked})
        if run.blocked:
            expected["blocked"] = run.blocked
        checks[f"{label}: every reachable recipient got it; outbox rows settled as expected"] = (
            run.delivered == run.recipients - run.blocked and Counter(run.statuses) == expected
        )
        checks[f"{label}: the author got one report"] = run.report_received
    return checks


def report(database: str, size: Size, runs: list[Run]) -> Report:
    """The broadcast table: pace against the limit, 429s, and the exactly-once check."""
    rows = []
    checks: dict[str, bool] = {}
    for run in runs:
        rows.append(
            [
                ("1% blocked, 1% failing once" if run.faults else "clean")
                + ("" if run.complete else " [INCOMPLETE]"),
                run.recipients,
                run.delivered,
                run.seconds,
                run.rate,
                fmt_ratio(ratio(run.rate, size.limit)),
                run.too_many_requests,
            ]
        )
        checks.update(_checks(run))
    return Report(
        incomplete=[run.incomplete for run in runs if not run.complete],
        name="broadcast",
        title=(
            f"Broadcast: {size.recipients:,} recipients, fake limit {size.limit:g}/s overall "
            f"and {PER_CHAT_LIMIT:g}/s per chat; bot limiter {size.bot_rate:g}/s"
        ),
        database=database,
        columns=["run", "recipients", "delivered", "seconds", "msg/s", "of limit", "429s"],
        rows=rows,
        data={
            "limit_per_s": size.limit,
            "bot_rate_limit_per_s": size.bot_rate,
            "runs": [run.summary(size.limit) for run in runs],
        },
        checks=checks,
        notes=[
            "msg/s: recipients reached, from the first recipient's message to the last one's; "
            "short runs can exceed the limit, since both token buckets start with a second's "
            "worth of messages",
            f"the bot's limiter runs at {DEFAULT_SHARE:.0%} of the limit, as the shipped "
            f"defaults do ({TelegramSettings().rate_limit:g} of Telegram's "
            f"{TELEGRAM_LIMIT:g}/s)",
            "failing once: 500, 502 and timeouts in turn; each is retried after the outbox's "
            "backoff",
        ],
    )


async def run(*, database: str, quick: bool, n: int | None, limit: float | None) -> Report:
    """Measure and tabulate."""
    size = Size.of(quick=quick, n=n, limit=limit)
    with tempfile.TemporaryDirectory(prefix="asa-bench-broadcast-") as directory:
        runs = await measure(database=database, size=size, workdir=Path(directory))
    return report(database, size, runs)
