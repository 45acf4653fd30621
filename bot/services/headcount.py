"""Headcounts: who came to an event, counted by SQL aggregation in the database.

Every figure comes from GROUP BY / COUNT queries; Python only adds up the few aggregate rows
(one per combination of group, role, agency and district), never one row per person. People
are counted with COUNT(DISTINCT person_id), so a person counts once however they checked in,
and an erased person (name and phone gone, type, agency, district and role kept) still counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    case,
    cast,
    distinct,
    extract,
    false,
    func,
    or_,
)
from sqlalchemy import select as sql_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.access import Access, Capability
from bot.services.errors import NotFound
from storage.models import (
    CheckIn,
    CheckInMethod,
    District,
    Event,
    EventStatus,
    ParticipantType,
    Person,
    Registration,
    RegistrationStatus,
    VolunteerRole,
)

# The ministry's three attendee groups, in the order its reports list them.
GROUP_VOLUNTEERS = "volunteers"
GROUP_OFFICIALS = "officials"
GROUP_OTHERS = "others"
GROUPS = (GROUP_VOLUNTEERS, GROUP_OFFICIALS, GROUP_OTHERS)

# A Core SELECT of any columns, and one of its rows.
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]

# Roles in the order of the network's hierarchy, the plain volunteer last.
ROLE_ORDER = ("zone_chair", "zone_coordinator", "taxi_chair", "taxi_coordinator", "volunteer")
AGENCY_ORDER = ("ops", "doe", "dsd", "dlpw", "sso")
OTHER_TYPES = ("speaker", "civil_servant", "staff", "observer")

BUCKET_SECONDS = 15 * 60
RECENT_EVENTS = 8
# An argument longer than this is neither an event code nor an id.
MAX_ARGUMENT = 20
MAX_ID_DIGITS = 9


class EventNotFound(NotFound):
    """No event matches what the person typed."""

    key = "report.event_not_found"


class NoEvents(NotFound):
    """There is no event at all to report on."""

    key = "report.no_events"


def group_of(participant_type: str | None) -> str:
    """The ministry's reporting group for a participant type."""
    if participant_type == ParticipantType.VOLUNTEER:
        return GROUP_VOLUNTEERS
    if participant_type == ParticipantType.OFFICIAL:
        return GROUP_OFFICIALS
    return GROUP_OTHERS


@dataclass(frozen=True)
class DistrictCount:
    """People from one district."""

    code: str
    name_th: str
    name_en: str
    count: int

    def name(self, lang: str) -> str:
        """The district's name in a language."""
        return self.name_th if lang == "th" else self.name_en


@dataclass(frozen=True)
class ZoneCount:
    """People from one zone (None: districts outside every zone), and its districts."""

    zone: int | None
    count: int
    districts: tuple[DistrictCount, ...]


@dataclass(frozen=True)
class Headcount:
    """Every figure of one event's headcount, within what the viewer may see."""

    event: Event
    zone_limit: frozenset[int] | None
    arrived: int = 0
    checked_out: int = 0
    walkins: int = 0
    late: int = 0
    registered: int = 0
    not_arrived: int = 0
    groups: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    agencies: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    zones: tuple[ZoneCount, ...] = ()
    no_district: int = 0
    arrivals: tuple[tuple[datetime, int], ...] = ()

    @property
    def present(self) -> int:
        """Checked in and not (yet) checked out."""
        return self.arrived - self.checked_out

    @property
    def total(self) -> int:
        """Everyone who came."""
        return self.arrived


# ---------------------------------------------------------------------------------------------
# Choosing the event


async def find_event(*, session: AsyncSession, argument: str | None, now: datetime) -> Event:
    """The event a command means: by code or number, else the one happening now or the latest."""
    text = (argument or "").strip()
    if text:
        return await _event_by_argument(session=session, text=text)
    current = await _event_now(session=session, now=now)
    if current is not None:
        return current
    latest = await _latest_started(session=session, now=now)
    if latest is not None:
        return latest
    upcoming = (
        await session.exec(
            select(Event)
            .where(Event.status == EventStatus.ACTIVE)
            .order_by(col(Event.starts_at), col(Event.id))
            .limit(1)
        )
    ).first()
    if upcoming is None:
        raise NoEvents()
    return upcoming


async def _event_by_argument(*, session: AsyncSession, text: str) -> Event:
    """An event by its code (any case) or number ("12" or "#12")."""
    if len(text) > MAX_ARGUMENT:
        raise EventNotFound()
    number = text.removeprefix("#")
    # Ids fit in nine digits; a longer number would overflow the database's integer.
    if number.isascii() and number.isdigit() and len(number) <= MAX_ID_DIGITS:
        event = await session.get(Event, int(number))
        if event is not None:
            return event
    # Codes are stored in capitals; matching both spellings keeps the unique index usable.
    found = (
        await session.exec(select(Event).where(col(Event.code).in_({text, text.upper()})))
    ).first()
    if found is None:
        raise EventNotFound()
    return found


async def _event_now(*, session: AsyncSession, now: datetime) -> Event | None:
    """An active event whose check-in window (or running time) covers `now`."""
    # Check-in windows open at most a day early; the few candidates are checked exactly here.
    candidates = (
        await session.exec(
            select(Event)
            .where(
                Event.status == EventStatus.ACTIVE,
                col(Event.starts_at) <= now + timedelta(days=1),
                col(Event.ends_at) >= now - timedelta(days=1),
            )
            .order_by(col(Event.starts_at).desc(), col(Event.id).desc())
            .limit(20)
        )
    ).all()
    for event in candidates:
        opens = event.starts_at - timedelta(minutes=event.opens_before_minutes)
        closes = event.ends_at + timedelta(minutes=event.closes_after_minutes)
        if opens <= now <= closes:
            return event
    return None


async def _latest_started(*, session: AsyncSession, now: datetime) -> Event | None:
    """The active event that started most recently."""
    return (
        await session.exec(
            select(Event)
            .where(Event.status == EventStatus.ACTIVE, col(Event.starts_at) <= now)
            .order_by(col(Event.starts_at).desc(), col(Event.id).desc())
            .limit(1)
        )
    ).first()


async def event_by_id(*, session: AsyncSession, event_id: int) -> Event:
    """An event by its number (from a button), or EventNotFound."""
    event = await session.get(Event, event_id)
    if event is None:
        raise EventNotFound()
    return event


async def recent_events(
    *, session: AsyncSession, now: datetime, limit: int = RECENT_EVENTS
) -> list[Event]:
    """The events nearest to now: those started already (newest first), then the next ones."""
    started = (
        await session.exec(
            select(Event)
            .where(col(Event.starts_at) <= now)
            .order_by(col(Event.starts_at).desc(), col(Event.id).desc())
            .limit(limit)
        )
    ).all()
    upcoming = (
        await session.exec(
            select(Event)
            .where(col(Event.starts_at) > now)
            .order_by(col(Event.starts_at), col(Event.id))
            .limit(max(0, limit - len(started)) or 2)
        )
    ).all()
    return [*reversed(upcoming), *started][:limit]


# ---------------------------------------------------------------------------------------------
# Counting


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[int]:
    """Seconds since 1970 of a UTC timestamp column, in each database's own SQL."""
    if dialect == "sqlite":
        # SQLite stores UTC as text; strftime('%s') reads it as UTC.
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(extract("epoch", column)), BigInteger)


async def rows_of(session: AsyncSession, stmt: AnySelect) -> Sequence[AnyRow]:
    """Run a Core statement in the session's transaction (SQLModel's exec types ORM selects)."""
    connection = await session.connection()
    return (await connection.execute(stmt)).all()


def _scoped(stmt: AnySelect, zone_limit: frozenset[int] | None) -> AnySelect:
    """Limit a statement (already joined to District) to a coordinator's zones."""
    if zone_limit is None:
        return stmt
    if not zone_limit:
        return stmt.where(false())
    return stmt.where(col(District.zone).in_(sorted(zone_limit)))


async def headcount(*, session: AsyncSession, access: Access, event_id: int) -> Headcount:
    """Everything /headcount shows for one event, within the viewer's zones."""
    access.require(Capability.VIEW_HEADCOUNT)
    event = await event_by_id(session=session, event_id=event_id)
    return await count_event(session=session, event=event, zone_limit=access.zone_limit())


async def count_event(
    *, session: AsyncSession, event: Event, zone_limit: frozenset[int] | None
) -> Headcount:
    """The headcount of one event (no permission check: callers have done it)."""
    if event.id is None:
        raise EventNotFound()
    rows = await _breakdown(session=session, event_id=event.id, zone_limit=zone_limit)
    registered, not_arrived = await _registrations(
        session=session, event_id=event.id, zone_limit=zone_limit
    )
    arrivals = await _arrivals(session=session, event_id=event.id, zone_limit=zone_limit)
    return _assemble(
        event=event,
        zone_limit=zone_limit,
        rows=rows,
        registered=registered,
        not_arrived=not_arrived,
        arrivals=arrivals,
    )


@dataclass(frozen=True)
class _Row:
    """One aggregate row: people sharing type, role, agency and district."""

    participant_type: str
    role: str | None
    agency: str | None
    district: str | None
    name_th: str | None
    name_en: str | None
    zone: int | None
    arrived: int
    checked_out: int
    late: int
    walkins: int


def _person_count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """COUNT(DISTINCT person_id) over the check-ins meeting a condition."""
    return func.count(distinct(case((condition, CheckIn.person_id))))


async def _breakdown(
    *, session: AsyncSession, event_id: int, zone_limit: frozenset[int] | None
) -> list[_Row]:
    """Check-ins grouped by the person's type, role, agency and district."""
    registered = and_(
        col(Registration.event_id) == CheckIn.event_id,
        col(Registration.person_id) == CheckIn.person_id,
        col(Registration.status) == RegistrationStatus.REGISTERED,
    )
    walkin = or_(col(Registration.id).is_(None), col(CheckIn.method) == CheckInMethod.WALKIN)
    keys = (
        col(Person.participant_type),
        col(Person.volunteer_role),
        col(Person.agency),
        col(Person.district_code),
        col(District.name_th),
        col(District.name_en),
        col(District.zone),
    )
    stmt: AnySelect = (
        sql_select(
            *keys,
            func.count(distinct(col(CheckIn.person_id))),
            _person_count(col(CheckIn.checked_out_at).is_not(None)),
            _person_count(col(CheckIn.late).is_(True)),
            _person_count(walkin),
        )
        .select_from(CheckIn)
        .join(Person, col(Person.id) == CheckIn.person_id)
        .outerjoin(District, col(District.code) == Person.district_code)
        .outerjoin(Registration, registered)
        .where(col(CheckIn.event_id) == event_id)
        .group_by(*keys)
    )
    return [_Row(*row) for row in await rows_of(session, _scoped(stmt, zone_limit))]


async def _registrations(
    *, session: AsyncSession, event_id: int, zone_limit: frozenset[int] | None
) -> tuple[int, int]:
    """How many hold a place, and how many of them have not arrived."""
    arrived = and_(
        col(CheckIn.event_id) == Registration.event_id,
        col(CheckIn.person_id) == Registration.person_id,
    )
    stmt: AnySelect = (
        sql_select(
            func.count(distinct(col(Registration.person_id))),
            func.count(distinct(case((col(CheckIn.id).is_(None), Registration.person_id)))),
        )
        .select_from(Registration)
        .outerjoin(CheckIn, arrived)
        .where(
            col(Registration.event_id) == event_id,
            col(Registration.status) == RegistrationStatus.REGISTERED,
        )
    )
    if zone_limit is not None:
        stmt = stmt.join(Person, col(Person.id) == Registration.person_id).outerjoin(
            District, col(District.code) == Person.district_code
        )
    (row,) = await rows_of(session, _scoped(stmt, zone_limit))
    return int(row[0]), int(row[1])


async def _arrivals(
    *, session: AsyncSession, event_id: int, zone_limit: frozenset[int] | None
) -> tuple[tuple[datetime, int], ...]:
    """Arrivals per 15 minutes: (start of the slot in UTC, people)."""
    dialect = session.get_bind().dialect.name
    # Integer floor division: the same slot number on SQLite and PostgreSQL.
    bucket = (epoch_seconds(CheckIn.checked_in_at, dialect) // BUCKET_SECONDS).label("bucket")
    stmt: AnySelect = (
        sql_select(bucket, func.count(distinct(col(CheckIn.person_id))))
        .select_from(CheckIn)
        .where(col(CheckIn.event_id) == event_id)
        .group_by(bucket)
        .order_by(bucket)
    )
    if zone_limit is not None:
        stmt = stmt.join(Person, col(Person.id) == CheckIn.person_id).outerjoin(
            District, col(District.code) == Person.district_code
        )
    return tuple(
        (datetime.fromtimestamp(int(slot) * BUCKET_SECONDS, tz=UTC), int(count))
        for slot, count in await rows_of(session, _scoped(stmt, zone_limit))
    )


def _assemble(
    *,
    event: Event,
    zone_limit: frozenset[int] | None,
    rows: list[_Row],
    registered: int,
    not_arrived: int,
    arrivals: tuple[tuple[datetime, int], ...],
) -> Headcount:
    """Add the aggregate rows up into the tables /headcount shows."""
    groups = dict.fromkeys(GROUPS, 0)
    roles = dict.fromkeys(ROLE_ORDER, 0)
    agencies = dict.fromkeys(AGENCY_ORDER, 0)
    types: dict[str, int] = {}
    no_district = 0
    for row in rows:
        groups[group_of(row.participant_type)] += row.arrived
        types[row.participant_type] = types.get(row.participant_type, 0) + row.arrived
        if group_of(row.participant_type) == GROUP_VOLUNTEERS:
            role = row.role if row.role in roles else VolunteerRole.VOLUNTEER.value
            roles[role] += row.arrived
        if group_of(row.participant_type) == GROUP_OFFICIALS and row.agency:
            agencies[row.agency] = agencies.get(row.agency, 0) + row.arrived
        if row.district is None or row.name_th is None:
            no_district += row.arrived
    return Headcount(
        event=event,
        zone_limit=zone_limit,
        arrived=sum(row.arrived for row in rows),
        checked_out=sum(row.checked_out for row in rows),
        walkins=sum(row.walkins for row in rows),
        late=sum(row.late for row in rows),
        registered=registered,
        not_arrived=not_arrived,
        groups=groups,
        roles=roles,
        agencies=agencies,
        types=types,
        zones=_zones(rows),
        no_district=no_district,
        arrivals=arrivals,
    )


def _zones(rows: Iterable[_Row]) -> tuple[ZoneCount, ...]:
    """People per zone and per district within it; biggest districts first, no-zone last."""
    districts: dict[int | None, dict[str, DistrictCount]] = {}
    for row in rows:
        if row.district is None or row.name_th is None or row.name_en is None:
            continue
        bucket = districts.setdefault(row.zone, {})
        known = bucket.get(row.district)
        count = row.arrived + (known.count if known else 0)
        bucket[row.district] = DistrictCount(row.district, row.name_th, row.name_en, count)
    zones = []
    for zone in sorted(districts, key=lambda number: (number is None, number or 0)):
        members = sorted(districts[zone].values(), key=lambda d: (-d.count, d.code))
        zones.append(ZoneCount(zone, sum(d.count for d in members), tuple(members)))
    return tuple(zones)
