"""Growth curves: how a check-in and a headcount cost grow as the database grows.

Three databases, each ten times the one before: 1,000, 10,000 and 100,000 people with ten
check-ins each (10,000, 100,000 and 1,000,000 check-ins), loaded as the headcount benchmark
loads them (bench/headcount.py), with events of about 100 people each and one event of a fixed
size (500 attendees; so the headcount's own answer does not grow, only the haystack). `--quick`
uses 100, 1,000 and 10,000 people.

On each: asa, as shipped, in its own process on a fake Telegram, takes a few check-ins one at a
time to a new event (latency and CPU per check-in, as in the check-in benchmark, after one
untimed); then the headcount of the fixed-size event is timed on new connections (first run,
and runs 6 onwards). Both are interleaved over the sizes (a check-in on each in turn, then a
connection on each in turn), so the machine's load drifts over all sizes alike.
The growth factor per 10× is each figure over the one from the database ten times smaller:
about 1 means flat, about log(10n)/log(n) (1.2 to 1.33 here) logarithmic, and 10 linear.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import checkin, headcount
from bench.common import Report, fmt_ratio, median, ratio, scratch_database
from bench.process import Seat, asa_builder, seat
from bot.data.districts import load_geography
from tests.fake_telegram import Person as Chatter

FIRST_TELEGRAM_ID = 10_000_000  # bench/headcount.py gives person k the id 10,000,000 + k - 1
CHECKINS_PER_PERSON = 10


@dataclass(frozen=True)
class Plan:
    """The sizes and how much is timed on each."""

    people: tuple[int, ...]
    attendees: int  # of the event whose headcount is timed, the same at every size
    checkins: int  # one-at-a-time check-ins per size
    connections: int
    runs: int  # headcount runs per connection

    @classmethod
    def of(cls, *, quick: bool) -> Plan:
        """1k, 10k, 100k people (100, 1k, 10k when quick)."""
        if quick:
            return cls(
                people=(100, 1_000, 10_000), attendees=50, checkins=10, connections=2, runs=7
            )
        return cls(
            people=(1_000, 10_000, 100_000), attendees=500, checkins=30, connections=3, runs=10
        )

    def size(self, people: int) -> headcount.Size:
        """The headcount loader's size for `people` (ten check-ins each; >= 11 events)."""
        return headcount.Size(
            people=people,
            events=max(CHECKINS_PER_PERSON + 1, people // 100),
            checkins=people * CHECKINS_PER_PERSON,
            attendees=self.attendees,
            runs=self.runs,
            connections=self.connections,
        )


@dataclass
class Point:
    """The figures at one size."""

    people: int
    checkins: int
    checkin_latency: list[float] = field(default_factory=list)  # seconds
    checkin_cpu_ms: float = math.nan
    confirmed: int = 0
    headcount: list[list[float]] = field(default_factory=list)  # seconds, per connection
    counted: int = 0
    other_sends: int = 0  # messages the bot sent besides the check-in replies

    def figures(self) -> dict[str, float]:
        """The four costs, in milliseconds."""
        first = [times[0] for times in self.headcount if times]
        later = [t for times in self.headcount for t in times[headcount.CUSTOM_PLANS :]]
        return {
            "checkin_ms_median": median(self.checkin_latency) * 1000,
            "checkin_cpu_ms": self.checkin_cpu_ms,
            "headcount_first_run_ms_median": median(first) * 1000,
            "headcount_runs_6_on_ms_median": median(later) * 1000,
        }


@dataclass
class _Size:
    """One database under test: its figures, its bot and the people who check in."""

    point: Point
    url: str
    place: Seat
    text: str
    timed: list[Chatter]
    cpu: float = 0.0


async def _open(
    stack: contextlib.AsyncExitStack, database: str, plan: Plan, people: int, workdir: Path
) -> _Size:
    """Load a database of `people`, start asa on it, and check one person in, untimed."""
    size = plan.size(people)
    now = datetime.now(UTC)
    url = await stack.enter_async_context(scratch_database(database))
    await headcount.load(url, size, load_geography(), now)
    code = await checkin.add_open_event(url, event_id=size.events + 1, now=now)
    build = asa_builder(workdir, f"growth-{database}-{people}", url)
    place = await stack.enter_async_context(seat("asa", build))
    # The last people, who are neither attendees nor no-shows of the timed event.
    user_ids = [FIRST_TELEGRAM_ID + people - 1 - k for k in range(plan.checkins + 1)]
    warmup, *timed = checkin.chatters(place.fake, user_ids)
    text = f"/checkin {code}"
    await checkin.check_in_once(place, warmup, text)  # a process's first update pays extra
    return _Size(Point(people=people, checkins=size.checkins), url, place, text, timed)


async def measure(database: str, plan: Plan, workdir: Path) -> list[Point]:
    """Every size loaded and its bot started; then check-ins and headcounts, interleaved."""
    async with contextlib.AsyncExitStack() as stack:
        sizes = [await _open(stack, database, plan, people, workdir) for people in plan.people]
        for one in sizes:
            one.cpu = one.place.process.cpu_seconds()
        for index in range(plan.checkins):
            for one in sizes:
                latency = await checkin.check_in_once(one.place, one.timed[index], one.text)
                if latency is not None:
                    one.point.checkin_latency.append(latency)
        for one in sizes:
            point, place = one.point, one.place
            spent = place.process.cpu_seconds() - one.cpu
            point.checkin_cpu_ms = spent * 1000 / max(1, len(point.checkin_latency))
            texts = place.arrivals.texts
            point.confirmed = sum(
                checkin.EVENT_TITLE in texts.get(c.chat_id, "") for c in one.timed
            )
            point.other_sends = len(place.fake.calls_of("sendMessage")) - 1 - len(one.timed)
            await place.process.stop()
        for _ in range(plan.connections):
            for one in sizes:
                mode = headcount.connection_modes(one.url)[0]
                times, counted = await headcount.timed_connections(
                    one.url, mode, headcount.count_event, connections=1, runs=plan.runs
                )
                one.point.headcount += times
                one.point.counted = counted.arrived
    return [one.point for one in sizes]


def log_factor(small: int, large: int) -> float:
    """How much a cost growing like log(n) grows from n = small to n = large."""
    return math.log(large) / math.log(small)


def report(database: str, plan: Plan, points: list[Point]) -> Report:
    """One row per size, each figure followed by its growth over the size before."""
    keys = list(Point(people=0, checkins=0).figures())
    rows: list[list[Any]] = []
    factors: list[dict[str, float]] = []
    for index, point in enumerate(points):
        figures = point.figures()
        before = points[index - 1].figures() if index else None
        growth = {key: ratio(figures[key], before[key]) if before else math.nan for key in keys}
        factors.append(growth)
        cells: list[Any] = [point.people, point.checkins]
        for key in keys:
            cells += [figures[key], fmt_ratio(growth[key]) if index else ""]
        rows.append(cells)
    steps = list(itertools.pairwise(point.checkins for point in points))
    log_growth = ", ".join(
        f"×{log_factor(small, large):.2f} from {small:,} to {large:,}" for small, large in steps
    )
    return Report(
        name="growth",
        title=(
            f"Growth: check-in and headcount cost at {', '.join(f'{p:,}' for p in plan.people)} "
            f"people ({CHECKINS_PER_PERSON} check-ins each); headcount of an event of "
            f"{plan.attendees:,} at every size"
        ),
        database=database,
        columns=[
            "people",
            "check-ins",
            "check-in",
            "×/10×",
            "CPU/check-in",
            "×/10×",
            "headcount 1st",
            "×/10×",
            "headcount 6+",
            "×/10×",
        ],
        rows=rows,
        data={
            "points": [{"people": p.people, "checkins": p.checkins, **p.figures()} for p in points],
            "growth_per_10x": factors[1:],
            "logarithmic_growth_per_10x": [log_factor(small, large) for small, large in steps],
        },
        checks={
            "every check-in was confirmed, at every size": all(
                p.confirmed == plan.checkins for p in points
            ),
            "the bot sent nothing else meanwhile (no reminders, no broadcasts)": all(
                p.other_sends == 0 for p in points
            ),
            "the headcount counted the event's attendees, at every size": all(
                p.counted == plan.attendees for p in points
            ),
        },
        notes=[
            "milliseconds; check-in: median latency of one check-in on an idle bot (asa as "
            f"shipped, {plan.checkins} in turn after an untimed one), CPU/check-in from /proc; "
            f"headcount 1st: median of the first run on {plan.connections} new connections, "
            f"6+: median of runs 6 to {plan.runs} on each",
            "×/10×: this size's figure over the previous size's; no faster than logarithmic "
            f"means at most about {log_growth} (linear growth would be ×10)",
        ],
    )


async def run(*, database: str, quick: bool) -> Report:
    """Measure each size in turn and tabulate."""
    plan = Plan.of(quick=quick)
    with tempfile.TemporaryDirectory(prefix="asa-bench-growth-") as directory:
        points = await measure(database, plan, Path(directory))
    return report(database, plan, points)
