"""Headcount at scale: 100,000 people, 1,000 events, 1,000,000 check-ins; one 5,000-person event.

The data is bulk-loaded below the ORM (executemany on SQLite, COPY on PostgreSQL), then
ANALYZEd as a long-lived database would be. We time the services /headcount and /export call
(`headcount.headcount` and `exports.export_attendees`, which builds the CSV and the XLSX
together), each in a fresh session, after one untimed warm-up run: the median of several.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import (
    Report,
    bulk_insert,
    finish_load,
    median,
    scratch_database,
)
from bot.data.districts import Geography, load_geography
from bot.i18n import translator
from bot.services import codes, exports, headcount
from bot.services.roles import Access
from storage.database import create_engine, session_factory
from storage.models import (
    Agency,
    CheckIn,
    CheckInMethod,
    District,
    Event,
    ParticipantType,
    Person,
    Registration,
    Role,
    VolunteerRole,
)

TARGET_EVENT = 1
TZ = ZoneInfo("Asia/Bangkok")
ADMIN = Access(person_id=None, roles=frozenset({Role.ADMIN}), coordinator_zones=frozenset())
# Of the target event's attendees, this share had registered; the rest walked in.
REGISTERED_SHARE = 0.96
# Registered for the target event but never came, as a share of its attendees.
NO_SHOW_SHARE = 0.14
CHUNK_DAYS = 3 * 365  # events spread over the last three years
SEED = 20261124  # the same data every run


@dataclass(frozen=True)
class Size:
    """How big the database is."""

    people: int
    events: int
    checkins: int
    attendees: int  # of the timed event
    runs: int

    @classmethod
    def of(cls, *, quick: bool, n: int | None) -> Size:
        """`n` people (100,000; 2,000 when quick), 1 event per 100, 10 check-ins each."""
        people = n or (2_000 if quick else 100_000)
        events = max(2, people // 100)
        attendees = max(1, people // 20)
        # Nobody checks in twice to one event, which caps a small database's check-ins.
        checkins = min(people * 10, attendees + (events - 1) * people)
        return cls(
            people=people,
            events=events,
            checkins=checkins,
            attendees=attendees,
            runs=3 if quick else 7,
        )


@dataclass
class Timings:
    """Seconds per run of each timed service."""

    load_seconds: float
    headcount: list[float]
    export: list[float]
    arrived: int
    registered: int
    not_arrived: int
    walkins: int
    export_rows: int
    csv_bytes: int
    xlsx_bytes: int


def _people(size: Size, geography: Geography, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Volunteers mostly, some officials and others, spread over every district."""
    rng = random.Random(SEED)
    districts = [district.code for district in geography.districts]
    roles = [VolunteerRole.VOLUNTEER] * 17 + [VolunteerRole.ZONE_CHAIR, VolunteerRole.TAXI_CHAIR]
    roles += [VolunteerRole.ZONE_COORDINATOR]
    agencies = list(Agency)
    for i in range(size.people):
        draw = rng.random()
        if draw < 0.8:
            kind, agency, role = ParticipantType.VOLUNTEER, None, rng.choice(roles)
        elif draw < 0.9:
            kind, agency, role = ParticipantType.OFFICIAL, rng.choice(agencies), None
        else:
            kind = rng.choice([ParticipantType.SPEAKER, ParticipantType.STAFF])
            agency, role = None, None
        registered = now - timedelta(days=rng.randrange(CHUNK_DAYS))
        yield (
            i + 1,
            10_000_000 + i,
            f"อาสา ทดสอบ {i + 1}",
            f"08{i:08d}",
            kind,
            agency,
            districts[i % len(districts)],
            role,
            registered,
            registered,
        )


PEOPLE_COLUMNS = (
    "id",
    "telegram_id",
    "full_name",
    "phone",
    "participant_type",
    "agency",
    "district_code",
    "volunteer_role",
    "registered_at",
    "consent_at",
)


def _starts(size: Size, now: datetime) -> dict[int, datetime]:
    """Each event's start: the timed one today, the others spread over three years."""
    step = timedelta(days=CHUNK_DAYS) / size.events
    starts = {TARGET_EVENT: now - timedelta(hours=2)}
    for event_id in range(2, size.events + 1):
        starts[event_id] = now - step * event_id
    return starts


def _events(starts: dict[int, datetime]) -> Iterator[tuple[Any, ...]]:
    """Events with unique codes and tokens."""
    seen: set[str] = set()
    for event_id, starts_at in starts.items():
        code = codes.new_code()
        while code in seen:
            code = codes.new_code()
        seen.add(code)
        yield (
            event_id,
            f"สัมมนาอาสาสมัครแรงงาน ครั้งที่ {event_id}",
            "ศาลาว่าการกรุงเทพมหานคร",
            starts_at,
            starts_at + timedelta(hours=4),
            code,
            codes.new_token(),
            starts_at - timedelta(days=14),
            starts_at - timedelta(days=14),
        )


EVENT_COLUMNS = (
    "id",
    "title",
    "venue",
    "starts_at",
    "ends_at",
    "code",
    "token",
    "created_at",
    "updated_at",
)
CHECKIN_COLUMNS = ("event_id", "person_id", "checked_in_at", "method", "late")
METHODS = [CheckInMethod.CODE] * 5 + [CheckInMethod.QR] * 3 + [CheckInMethod.LOCATION]


def _checkins(size: Size, starts: dict[int, datetime]) -> Iterator[tuple[Any, ...]]:
    """The timed event's attendees (people 1..A, the last few walk-ins), then the rest.

    Each other event takes a run of consecutive people starting at a different place, so
    nobody checks in twice to one event and everybody attends some.
    """
    rng = random.Random(SEED + 1)
    walkins_from = round(size.attendees * REGISTERED_SHARE) + 1
    for person in range(1, size.attendees + 1):
        method = CheckInMethod.WALKIN if person >= walkins_from else rng.choice(METHODS)
        yield _checkin(rng, TARGET_EVENT, person, starts[TARGET_EVENT], method)
    others = size.events - 1
    remaining = size.checkins - size.attendees
    for index, event_id in enumerate(range(2, size.events + 1)):
        count = remaining // others + (1 if index < remaining % others else 0)
        offset = (event_id * 7919) % size.people
        for k in range(count):
            person = (offset + k) % size.people + 1
            yield _checkin(rng, event_id, person, starts[event_id], rng.choice(METHODS))


def _checkin(
    rng: random.Random, event_id: int, person: int, starts_at: datetime, method: CheckInMethod
) -> tuple[Any, ...]:
    """One arrival between 45 minutes early and 75 minutes late."""
    at = starts_at + timedelta(seconds=rng.randrange(-45 * 60, 75 * 60))
    return (event_id, person, at, method, at > starts_at)


def _registrations(size: Size, now: datetime) -> Iterator[tuple[Any, ...]]:
    """The timed event's registrations: most attendees, and some who did not come."""
    registered = range(1, round(size.attendees * REGISTERED_SHARE) + 1)
    no_shows = range(size.attendees + 1, size.attendees + 1 + _no_shows(size))
    for person in itertools.chain(registered, no_shows):
        yield (TARGET_EVENT, person, now)


def _no_shows(size: Size) -> int:
    """People registered for the timed event who never came (never more than exist)."""
    return min(round(size.attendees * NO_SHOW_SHARE), size.people - size.attendees)


async def load(url: str, size: Size, geography: Geography, now: datetime) -> None:
    """Fill the database as fast as the driver allows."""
    districts = ((d.code, d.name_th, d.name_en, d.zone) for d in geography.districts)
    tables: list[Any] = [District, Person, Event, Registration, CheckIn]
    district, person, event, registration, checkin = (t.__table__ for t in tables)
    await bulk_insert(url, district, ("code", "name_th", "name_en", "zone"), districts)
    await bulk_insert(url, person, PEOPLE_COLUMNS, _people(size, geography, now))
    starts = _starts(size, now)
    await bulk_insert(url, event, EVENT_COLUMNS, _events(starts))
    await bulk_insert(
        url,
        registration,
        ("event_id", "person_id", "created_at"),
        _registrations(size, now - timedelta(days=7)),
    )
    await bulk_insert(url, checkin, CHECKIN_COLUMNS, _checkins(size, starts))
    await finish_load(url, [district, person, event, registration, checkin])


async def _timed(runs: int, work: Callable[[], Awaitable[Any]]) -> tuple[list[float], Any]:
    """One untimed warm-up, then `runs` timed runs; the times and the last result."""
    result = await work()
    times = []
    for _ in range(runs):
        started = perf_counter()
        result = await work()
        times.append(perf_counter() - started)
    return times, result


async def measure(*, database: str, size: Size) -> Timings:
    """Load, then time the headcount and the export of the 5,000-person event."""
    geography = load_geography()
    zone_names = {zone.number: zone.name("th") for zone in geography.zones}
    now = datetime.now(UTC)
    async with scratch_database(database) as url:
        started = perf_counter()
        await load(url, size, geography, now)
        load_seconds = perf_counter() - started
        engine = create_engine(url)
        sessions = session_factory(engine)
        try:

            async def count() -> headcount.Headcount:
                async with sessions() as session:
                    return await headcount.headcount(
                        session=session, access=ADMIN, event_id=TARGET_EVENT
                    )

            async def export() -> exports.ExportFiles:
                async with sessions() as session:
                    return await exports.export_attendees(
                        session=session,
                        access=ADMIN,
                        event_id=TARGET_EVENT,
                        t=translator("th"),
                        tz=TZ,
                        zone_names=zone_names,
                        now=now,
                    )

            count_times, counted = await _timed(size.runs, count)
            export_times, files = await _timed(size.runs, export)
        finally:
            await engine.dispose()
    return Timings(
        load_seconds=load_seconds,
        headcount=count_times,
        export=export_times,
        arrived=counted.arrived,
        registered=counted.registered,
        not_arrived=counted.not_arrived,
        walkins=counted.walkins,
        export_rows=files.rows,
        csv_bytes=len(files.csv),
        xlsx_bytes=len(files.xlsx),
    )


def report(database: str, size: Size, timings: Timings) -> Report:
    """The headcount table: median, fastest and slowest of the runs, in milliseconds."""

    def row(label: str, times: list[float]) -> list[Any]:
        return [label, median(times) * 1000, min(times) * 1000, max(times) * 1000, len(times)]

    registered = round(size.attendees * REGISTERED_SHARE)
    walkins = size.attendees - registered
    no_shows = _no_shows(size)
    return Report(
        name="headcount",
        title=(
            f"Headcount: {size.people:,} people, {size.events:,} events, "
            f"{size.checkins:,} check-ins; one event of {size.attendees:,}"
        ),
        database=database,
        columns=["service", "median ms", "min ms", "max ms", "runs"],
        rows=[
            row("headcount (/headcount)", timings.headcount),
            row("attendee export, CSV + XLSX (/export)", timings.export),
        ],
        data={
            "people": size.people,
            "events": size.events,
            "checkins": size.checkins,
            "attendees": size.attendees,
            "load_seconds": timings.load_seconds,
            "headcount_ms": [t * 1000 for t in timings.headcount],
            "headcount_ms_median": median(timings.headcount) * 1000,
            "export_ms": [t * 1000 for t in timings.export],
            "export_ms_median": median(timings.export) * 1000,
            "export_rows": timings.export_rows,
            "csv_bytes": timings.csv_bytes,
            "xlsx_bytes": timings.xlsx_bytes,
        },
        checks={
            "headcount counts every attendee": timings.arrived == size.attendees,
            "walk-ins and no-shows as loaded": (
                timings.walkins == walkins and timings.not_arrived == no_shows
            ),
            "export has one row per attendee": timings.export_rows == size.attendees,
        },
        notes=[
            f"bulk load took {timings.load_seconds:.1f} s (not through the bot), then ANALYZE",
            "each run opens a fresh session; one untimed warm-up run first",
            "headcount runs (ms): " + ", ".join(f"{t * 1000:.0f}" for t in timings.headcount),
            "export runs (ms): " + ", ".join(f"{t * 1000:.0f}" for t in timings.export),
            f"CSV {timings.csv_bytes / 1024:,.0f} KiB, XLSX {timings.xlsx_bytes / 1024:,.0f} KiB",
        ],
    )


async def run(*, database: str, quick: bool, n: int | None) -> Report:
    """Measure and tabulate."""
    size = Size.of(quick=quick, n=n)
    return report(database, size, await measure(database=database, size=size))
