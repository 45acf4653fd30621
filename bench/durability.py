"""Durability: what SQLite's synchronous=FULL would cost a check-in, against the shipped NORMAL.

asa runs SQLite in WAL mode with synchronous=NORMAL: a commit is not flushed to the disk until
the next checkpoint, so a power cut (not a crash of the bot) can lose check-ins the bot already
confirmed. synchronous=FULL flushes the WAL at every commit. The bot's engine settings live in
storage/database.py, which the bench does not change, so this measures the raw database cost:
a minimal loop on asa's own engine (`storage.database.create_engine`: WAL, one connection,
BEGIN IMMEDIATE), with the pragma set after asa's own, doing what a check-in commits: one
transaction that inserts one check-in row. Rounds alternate NORMAL and FULL; medians of the
rounds. The figure depends on the disk under the scratch file, so its filesystem is printed:
on tmpfs a flush is free and the comparison means nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url

from bench import checkin
from bench.common import Report, fmt_ratio, median, percentile, ratio, scratch_database
from storage.database import create_engine
from storage.models import CheckIn, CheckInMethod

MODES = ("NORMAL", "FULL")  # shipped first
PRAGMA_VALUES = {"NORMAL": 1, "FULL": 2}  # what PRAGMA synchronous reads back


@dataclass(frozen=True)
class Size:
    """Check-ins per round, and rounds per mode."""

    checkins: int
    rounds: int

    @classmethod
    def of(cls, *, quick: bool) -> Size:
        """1,000 check-ins a round (100 when quick), 3 rounds of each mode."""
        return cls(checkins=100 if quick else 1000, rounds=3)


@dataclass
class Mode:
    """One synchronous setting's rounds."""

    name: str
    rates: list[float] = field(default_factory=list)  # check-ins a second, per round
    commits: list[float] = field(default_factory=list)  # seconds per check-in, pooled
    pragma_read_back: set[int] = field(default_factory=set)

    def summary(self) -> dict[str, Any]:
        """Raw numbers for --json."""
        return {
            "synchronous": self.name,
            "checkins_per_s_median": median(self.rates),
            "checkins_per_s_rounds": self.rates,
            "ms_per_checkin_median": median(self.commits) * 1000,
            "ms_per_checkin_p99": percentile(self.commits, 99) * 1000,
        }


def filesystem_of(path: Path) -> str:
    """The filesystem type and device under `path`, from /proc/mounts."""
    best = ("", "unknown", "?")
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    for line in mounts:
        device, point, kind, *_ = line.split()
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best[0]):
            best = (point, kind, device)
    return f"{best[1]} ({best[2]} on {best[0]})"


async def _round(url: str, mode: Mode, people: range, event_id: int) -> None:
    """One check-in per person, each its own committed transaction."""
    engine = create_engine(url)

    def synchronous(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={mode.name}")
        cursor.close()

    event.listen(engine.sync_engine, "connect", synchronous)  # runs after asa's pragmas
    table = CheckIn.__table__  # type: ignore[attr-defined]
    try:
        async with engine.connect() as connection:  # connect before the clock starts
            value = (await connection.execute(text("PRAGMA synchronous"))).scalar_one()
            mode.pragma_read_back.add(int(value))
        started = perf_counter()
        for person_id in people:
            began = perf_counter()
            async with engine.begin() as connection:
                await connection.execute(
                    insert(table).values(
                        event_id=event_id,
                        person_id=person_id,
                        checked_in_at=datetime.now(UTC),
                        method=CheckInMethod.CODE.value,
                        late=False,
                    )
                )
            mode.commits.append(perf_counter() - began)
        mode.rates.append(len(people) / (perf_counter() - started))
    finally:
        await engine.dispose()


async def measure(size: Size) -> tuple[list[Mode], str]:
    """Alternate the modes round by round on one scratch database; and its filesystem."""
    modes = [Mode(name) for name in MODES]
    async with scratch_database("sqlite") as url:
        total = size.checkins * size.rounds * len(modes)
        await checkin.seed(url, people=total, now=datetime.now(UTC))
        next_person = 1
        for _ in range(size.rounds):
            for mode in modes:
                people = range(next_person, next_person + size.checkins)
                await _round(url, mode, people, event_id=1)
                next_person += size.checkins
        filesystem = filesystem_of(Path(make_url(url).database or "."))
    return modes, filesystem


def report(size: Size, modes: list[Mode], filesystem: str) -> Report:
    """NORMAL (shipped) next to FULL."""
    normal = modes[0]
    rows = [
        [
            f"synchronous={mode.name}" + (" (shipped)" if mode is normal else ""),
            median(mode.rates),
            fmt_ratio(ratio(median(mode.rates), median(normal.rates))),
            median(mode.commits) * 1000,
            percentile(mode.commits, 99) * 1000,
        ]
        for mode in modes
    ]
    return Report(
        name="durability",
        title=(
            "Durability: raw SQLite cost of a check-in's commit (WAL), synchronous=NORMAL vs FULL; "
            f"{size.checkins:,} check-ins a round, {size.rounds} rounds each, alternating"
        ),
        database="sqlite",
        columns=["setting", "check-ins/s", "÷ shipped", "ms p50", "ms p99"],
        rows=rows,
        data={
            "filesystem": filesystem,
            "modes": [mode.summary() for mode in modes],
            "full_over_normal": ratio(median(modes[1].rates), median(normal.rates)),
        },
        checks={
            f"the connection really ran synchronous={mode.name}": mode.pragma_read_back
            == {PRAGMA_VALUES[mode.name]}
            for mode in modes
        },
        notes=[
            "the raw database cost, not the bot's: a loop of one-row transactions (BEGIN "
            "IMMEDIATE, INSERT a check-in, COMMIT) on asa's engine; the bot does more per check-in",
            f"scratch file on {filesystem}; a flush costs what this disk makes it cost",
            "NORMAL (shipped): a power cut can lose the last commits, check-ins the bot already "
            "confirmed; FULL flushes the WAL at every commit; a crash of the bot loses nothing "
            "either way",
        ],
    )


async def run(*, quick: bool) -> Report:
    """Measure and tabulate."""
    size = Size.of(quick=quick)
    modes, filesystem = await measure(size)
    return report(size, modes, filesystem)
