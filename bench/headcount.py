"""Headcount at scale: 100,000 people, 1,000 events, 1,000,000 check-ins; one 5,000-person event.

The data is bulk-loaded below the ORM (executemany on SQLite, COPY on PostgreSQL), then
ANALYZEd as a long-lived database would be. We time the services /headcount and /export call
(`headcount.headcount` and `exports.export_attendees`, which builds the CSV and the XLSX
together), each run in a fresh session, on several new database connections in turn.

A connection's first run is reported apart from its later ones: PostgreSQL plans a prepared
statement's first five executions as custom plans and may then switch to a generic plan, so
runs 1, 2-5 and 6 onwards can differ several times over, and one median over all of them would
hide which one a person meets. On PostgreSQL every figure is also taken with the prepared-
statement caches off (SQLAlchemy's `prepared_statement_cache_size=0` and asyncpg's
`statement_cache_size=0`), as behind pgbouncer in transaction mode: then every run is planned
afresh.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import (
    Report,
    bulk_insert,
    finish_load,
    median,
    scratch_database,
)
from bot.data.districts import Geography, load_geography
from bot.delivery.reminders import ReminderKind
from bot.i18n import translator
from bot.services import codes, exports, headcount
from bot.services.access import Access
from storage.database import SessionFactory, check_connection, create_engine, session_factory
from storage.models import (
    Agency,
    Announcement,
    AnnouncementStatus,
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
CUSTOM_PLANS = 5  # PostgreSQL plans a prepared statement's first five executions afresh
EXPORT_RUNS = 3  # per connection: the export is slow and not in question


@dataclass(frozen=True)
class Size:
    """How big the database is."""

    people: int
    events: int
    checkins: int
    attendees: int  # of the timed event
    runs: int  # per connection
    connections: int

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
            runs=7 if quick else 10,
            connections=2 if quick else 5,
        )


# Connection modes: how the engine talks to the database.
CACHE_ON = "statement cache on"
CACHE_OFF = "statement cache off (pgbouncer)"
SQLITE_MODE = "one connection"
HEADCOUNT = "headcount (/headcount)"
EXPORT = "attendee export, CSV + XLSX (/export)"


@dataclass
class Series:
    """One service timed on several new connections: seconds, a list per connection."""

    service: str
    mode: str
    runs: list[list[float]]

    def first(self) -> list[float]:
        """Each connection's first run."""
        return [times[0] for times in self.runs if times]

    def window(self, start: int, stop: int | None = None) -> list[float]:
        """Runs start..stop (1-based, inclusive) of every connection, pooled."""
        return [t for times in self.runs for t in times[start - 1 : stop]]

    def every(self) -> list[float]:
        """All runs."""
        return self.window(1)

    def summary(self) -> dict[str, Any]:
        """Milliseconds for --json."""
        return {
            "service": self.service,
            "connection": self.mode,
            "first_run_ms_median": median(self.first()) * 1000,
            "runs_2_to_5_ms_median": median(self.window(2, CUSTOM_PLANS)) * 1000,
            "runs_6_on_ms_median": median(self.window(CUSTOM_PLANS + 1)) * 1000,
            "ms_by_connection": [[t * 1000 for t in times] for times in self.runs],
        }


@dataclass
class Timings:
    """Every series, and what the last runs returned."""

    load_seconds: float
    series: list[Series]
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
    # The timed event's walk-ins: staff entered them at the door, without Telegram.
    walkins = range(_walkins_from(size), size.attendees + 1)
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
        walkin = i + 1 in walkins
        yield (
            i + 1,
            None if walkin else 10_000_000 + i,
            f"อาสา ทดสอบ {i + 1}",
            f"08{i:08d}",
            kind,
            agency,
            districts[i % len(districts)],
            role,
            registered,
            registered,
            walkin,
        )


def _walkins_from(size: Size) -> int:
    """The first of the timed event's attendees who walked in (the rest had registered)."""
    return round(size.attendees * REGISTERED_SHARE) + 1


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
    "is_walkin",
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
    walkins_from = _walkins_from(size)
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
    district, person, events, registration, checkin = (t.__table__ for t in tables)
    await bulk_insert(url, district, ("code", "name_th", "name_en", "zone"), districts)
    await bulk_insert(url, person, PEOPLE_COLUMNS, _people(size, geography, now))
    starts = _starts(size, now)
    await bulk_insert(url, events, EVENT_COLUMNS, _events(starts))
    await bulk_insert(
        url,
        registration,
        ("event_id", "person_id", "created_at"),
        _registrations(size, now - timedelta(days=7)),
    )
    await bulk_insert(url, checkin, CHECKIN_COLUMNS, _checkins(size, starts))
    await _reminders_sent(url, now)
    await finish_load(url, [district, person, events, registration, checkin])


async def _reminders_sent(url: str, now: datetime) -> None:
    """The timed event's reminders, already sent, as a bot running all along leaves them.

    The event is under way, so a bot started on this database would otherwise send its
    reminders now (to chats the fake server does not know), in the middle of a measurement.
    """
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            for kind in ReminderKind:
                session.add(
                    Announcement(
                        event_id=TARGET_EVENT,
                        reminder_kind=kind.value,
                        status=AnnouncementStatus.DONE,
                        send_at=now,
                        started_at=now,
                        finished_at=now,
                        report_sent_at=now,
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()


def connection_modes(url: str) -> list[str]:
    """The ways to connect worth telling apart on this database."""
    return [CACHE_ON, CACHE_OFF] if url.startswith("postgresql") else [SQLITE_MODE]


def engine_for(url: str, mode: str) -> AsyncEngine:
    """asa's engine (storage.database), with the statement caches off if asked."""
    if mode != CACHE_OFF:
        return create_engine(url)
    query = {"prepared_statement_cache_size": "0"}  # SQLAlchemy's cache of prepared statements
    engine = create_engine(make_url(url).update_query_dict(query).render_as_string(False))

    def no_asyncpg_cache(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        params["statement_cache_size"] = 0  # asyncpg's own

    event.listen(engine.sync_engine, "do_connect", no_asyncpg_cache)
    return engine


async def timed_connections(
    url: str,
    mode: str,
    work: Callable[[SessionFactory], Awaitable[Any]],
    *,
    connections: int,
    runs: int,
) -> tuple[list[list[float]], Any]:
    """`runs` timed runs on each of `connections` new connections; the times and a result.

    One engine throughout, as in the bot, so SQLAlchemy compiles each statement once; one
    untimed run first, so neither that nor this process's lazy imports are timed. The pool is
    then emptied before each connection, which is opened (login, dialect set-up) before its
    first timed run: "first run" is the first query work on a new connection.
    """
    engine = engine_for(url, mode)
    by_connection: list[list[float]] = []
    try:
        result = await work(session_factory(engine))
        for _ in range(connections):
            await engine.dispose()
            await check_connection(engine)
            sessions = session_factory(engine)
            times = []
            for _ in range(runs):
                started = perf_counter()
                result = await work(sessions)
                times.append(perf_counter() - started)
            by_connection.append(times)
    finally:
        await engine.dispose()
    return by_connection, result


async def count_event(sessions: SessionFactory, event_id: int = TARGET_EVENT) -> Any:
    """The /headcount service for one event, in a fresh session."""
    async with sessions() as session:
        return await headcount.headcount(session=session, access=ADMIN, event_id=event_id)


async def measure(*, database: str, size: Size) -> Timings:
    """Load, then time the headcount and the export of the 5,000-person event."""
    geography = load_geography()
    zone_names = {zone.number: zone.name("th") for zone in geography.zones}
    now = datetime.now(UTC)
    async with scratch_database(database) as url:
        started = perf_counter()
        await load(url, size, geography, now)
        load_seconds = perf_counter() - started

        async def export(sessions: SessionFactory) -> exports.ExportFiles:
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

        modes = connection_modes(url)
        series: list[Series] = []
        for mode in modes:
            times, counted = await timed_connections(
                url, mode, count_event, connections=size.connections, runs=size.runs
            )
            series.append(Series(HEADCOUNT, mode, times))
        for mode in modes:
            times, files = await timed_connections(
                url, mode, export, connections=size.connections, runs=EXPORT_RUNS
            )
            series.append(Series(EXPORT, mode, times))
    return Timings(
        load_seconds=load_seconds,
        series=series,
        arrived=counted.arrived,
        registered=counted.registered,
        not_arrived=counted.not_arrived,
        walkins=counted.walkins,
        export_rows=files.rows,
        csv_bytes=len(files.csv),
        xlsx_bytes=len(files.xlsx),
    )


def series_rows(series: list[Series]) -> list[list[Any]]:
    """One table row per service and connection mode, in milliseconds."""
    return [
        [
            one.service,
            one.mode,
            median(one.first()) * 1000,
            median(one.window(2, CUSTOM_PLANS)) * 1000,
            median(one.window(CUSTOM_PLANS + 1)) * 1000,
            max(one.every(), default=math.nan) * 1000,
            f"{len(one.runs)} × {len(one.runs[0]) if one.runs else 0}",
        ]
        for one in series
    ]


SERIES_COLUMNS = ["service", "connection", "first run", "runs 2-5", "runs 6+", "max", "runs"]
SERIES_NOTE = (
    "milliseconds; 'first run': the median over new connections of each one's first run; "
    "'runs 2-5' (custom plans on PostgreSQL) and 'runs 6+' (where it may use a generic plan): "
    "medians of those runs on every connection; runs: connections × runs on each"
)


def report(database: str, size: Size, timings: Timings) -> Report:
    """The headcount table: first run on a new connection apart from the later ones."""
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
        columns=SERIES_COLUMNS,
        rows=series_rows(timings.series),
        data={
            "people": size.people,
            "events": size.events,
            "checkins": size.checkins,
            "attendees": size.attendees,
            "load_seconds": timings.load_seconds,
            "series": [one.summary() for one in timings.series],
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
            SERIES_NOTE,
            f"bulk load took {timings.load_seconds:.1f} s (not through the bot), then ANALYZE",
            "each run opens a fresh session; one engine per series, as in the bot, with one "
            "untimed run first (lazy imports, SQLAlchemy's statement compilation); its pool is "
            "emptied before each new connection, which is opened before its first run",
            f"CSV {timings.csv_bytes / 1024:,.0f} KiB, XLSX {timings.xlsx_bytes / 1024:,.0f} KiB",
        ],
    )


async def run(*, database: str, quick: bool, n: int | None) -> Report:
    """Measure and tabulate."""
    size = Size.of(quick=quick, n=n)
    return report(database, size, await measure(database=database, size=size))
