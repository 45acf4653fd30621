"""Memory after many distinct people: does the bot forget each person once they are answered?

`python -m bench people` (run only when named: minutes) seeds N registered people (100,000; 2,000
with --quick; `--n` to change) and one open event, starts asa with its limiter raised, and has
every person check in once, in batches of 1,000 sent at once; each batch is answered before the
next is sent, so memory is read with nothing in flight. The bot's resident memory (VmRSS of its
process) is read after every tenth of the people. A bot that keeps something per person grows
in a straight line; one that forgets them levels off once its caches are warm. We print the
curve and the growth per 1,000 people over the second half of the run, where warm-up is over.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

from bench import checkin
from bench.common import MIB, Report, scratch_database
from bench.process import asa_builder, seat

BATCH = 1000
SAMPLES = 10
BATCH_TIMEOUT = 300.0  # seconds for a batch of 1,000 to be answered, on a slow machine


@dataclass
class Curve:
    """Resident memory after each tenth of the people."""

    people: int
    points: list[tuple[int, int]] = field(default_factory=list)  # (people answered, KiB)
    idle_kib: int = 0
    seconds: float = 0.0
    missing: int = 0
    incomplete: list[str] = field(default_factory=list)

    def growth_kib_per_thousand(self) -> float:
        """KiB per 1,000 people over the second half of the run (warm-up is over by then)."""
        half = [point for point in self.points if point[0] >= self.people // 2]
        if len(half) < 2:
            return float("nan")
        (first_n, first_kib), (last_n, last_kib) = half[0], half[-1]
        return (last_kib - first_kib) * 1000 / max(1, last_n - first_n)


async def measure(*, database: str, people: int, workdir: Path) -> Curve:
    """Every person checks in once; memory read after each tenth."""
    curve = Curve(people=people)
    now = datetime.now(UTC)
    async with scratch_database(database) as url:
        code = await checkin.seed(url, people=people, now=now)
        name = f"people-{database}"
        build = asa_builder(workdir, name, url, rate_limit=checkin.RAISED_RATE_LIMIT)
        async with seat(name, build) as place:
            everyone = checkin.chatters(
                place.fake, [checkin.FIRST_USER_ID + i for i in range(people)]
            )
            curve.idle_kib = place.process.rss_kib()
            every = max(BATCH, people // SAMPLES)
            started = perf_counter()
            for start in range(0, people, BATCH):
                batch = everyone[start : start + BATCH]
                for person in batch:
                    await person.send(f"/checkin {code}")
                chats = {person.chat_id for person in batch}
                if not await place.arrivals.wait_for(chats, timeout=BATCH_TIMEOUT):
                    curve.missing = place.arrivals.missing(chats)
                    curve.incomplete.append(
                        f"people {start + 1:,}-{start + len(batch):,}: {curve.missing:,} not "
                        f"answered within {BATCH_TIMEOUT:.0f} s"
                    )
                    break
                answered = start + len(batch)
                if answered % every == 0 or answered == people:
                    curve.points.append((answered, place.process.rss_kib()))
            curve.seconds = perf_counter() - started
    return curve


async def run(*, database: str, quick: bool, n: int | None) -> Report:
    """The memory curve of one database."""
    people = n or (2000 if quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="asa-bench-people-") as workdir:
        curve = await measure(database=database, people=people, workdir=Path(workdir))
    return report(database, curve)


def report(database: str, curve: Curve) -> Report:
    """The curve as a table: people answered, resident memory, growth since the last point."""
    rows: list[list[object]] = [["0 (idle, polling)", curve.idle_kib / MIB, ""]]
    previous = curve.idle_kib
    for answered, kib in curve.points:
        rows.append([f"{answered:,}", kib / MIB, f"{(kib - previous) / 1024:+.1f}"])
        previous = kib
    growth = curve.growth_kib_per_thousand()
    rate = curve.points[-1][0] / curve.seconds if curve.points and curve.seconds else 0.0
    return Report(
        name="people",
        title=f"Memory of asa as {curve.people:,} distinct people check in once each",
        database=database,
        columns=["people answered", "resident memory (MiB)", "change (MiB)"],
        rows=rows,
        data={
            "people": curve.people,
            "idle_mib": curve.idle_kib / MIB,
            "points": [{"people": n, "rss_mib": kib / MIB} for n, kib in curve.points],
            "growth_kib_per_1000_people_second_half": growth,
            "checkins_per_second": rate,
        },
        checks={"every person was answered": not curve.incomplete and curve.missing == 0},
        incomplete=curve.incomplete,
        notes=[
            "VmRSS of the bot's process (/proc/<pid>/status) after each batch has been "
            "answered; asa with its limiter raised to 1,000/s",
            f"growth over the second half: {growth:.1f} KiB per 1,000 people "
            f"({rate:.0f} check-ins a second)",
        ],
    )
