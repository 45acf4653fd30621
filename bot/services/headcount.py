"""Headcounts: who came to an event, counted by SQL aggregation in the database.

Every figure comes from GROUP BY / COUNT queries; Python only adds up the few aggregate rows
(one per combination of type, role, agency and district), never one row per person.

Headcounts count people, not rows: a check-in is unique per (event, person) and a sign-up per
(event, person), so COUNT(*) over check-ins joined to their person and sign-up counts each
person once; a record merged into another (`Person.merged_into_id`, the same person found
twice) counts no more. An erased person (name and phone gone; type, agency, district and role
kept) still counts.

Three words, three different counts (CONTRIBUTING.md, "Words"):
- registered: the person registered with the bot themselves (/start), so has a Telegram record;
- walk-in: staff entered the person at the door (/walkin), without Telegram;
  every arrival is one or the other;
- signed up: the person holds a place at this event (through /events), whether or not they
  came; sign-up says nothing about how they arrived.
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
    exists,
    extract,
    false,
    func,
)
from sqlalchemy import select as sql_select
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import terms
from bot.services.access import Access, Capability
from bot.services.errors import NotFound
from storage.models import (
    Agency,
    CheckIn,
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
GROUPS = terms.GROUPS
GROUP_VOLUNTEERS, GROUP_OFFICIALS, GROUP_OTHERS = GROUPS

# A Core SELECT of any columns, and one of its rows.
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]

# Roles in the order of the network's hierarchy, the plain volunteer last.
ROLE_ORDER = (
    VolunteerRole.ZONE_CHAIR.value,
    VolunteerRole.ZONE_COORDINATOR.value,
    VolunteerRole.TAXI_CHAIR.value,
    VolunteerRole.TAXI_COORDINATOR.value,
    VolunteerRole.VOLUNTEER.value,
)
AGENCY_ORDER = tuple(agency.value for agency in Agency)
# The types of the third group, in the order its name lists them.
OTHER_TYPES = (
    ParticipantType.SPEAKER.value,
    ParticipantType.CIVIL_SERVANT.value,
    ParticipantType.STAFF.value,
    ParticipantType.OBSERVER.value,
)

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
class EventInfo:
    """What a report says about the event itself."""

    id: int
    title: str
    venue: str
    code: str
    starts_at: datetime
    ends_at: datetime
    capacity: int | None

    @classmethod
    def of(cls, event: Event) -> EventInfo:
        """The plain facts of a stored event."""
        if event.id is None:
            raise EventNotFound()
        return cls(
            id=event.id,
            title=event.title,
            venue=event.venue,
            code=event.code,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            capacity=event.capacity,
        )


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

    event: EventInfo
    zone_limit: frozenset[int] | None
    arrived: int = 0
    checked_out: int = 0
    late: int = 0
    # Of those who arrived: walk-ins entered by staff at the door; the rest registered with
    # the bot themselves (`registered`).
    walkins: int = 0
    # Sign-ups (places held through /events), and how many of them have arrived.
    signed_up: int = 0
    signed_up_arrived: int = 0
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

    @property
    def registered(self) -> int:
        """Arrivals who registered with the bot themselves (everyone but the walk-ins)."""
        return self.arrived - self.walkins

    @property
    def not_arrived(self) -> int:
        """Signed up, not (yet) here."""
        return self.signed_up - self.signed_up_arrived

    @property
    def scoped(self) -> bool:
        """Whether these figures cover only some zones (a coordinator's view)."""
        return self.zone_limit is not None


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


def counted_person(person_id: Any) -> ColumnElement[bool]:
    """Join condition: the person behind a row, unless merged into another record."""
    return and_(col(Person.id) == person_id, col(Person.merged_into_id).is_(None))


def arrivals_sign_up() -> ColumnElement[bool]:
    """Join condition: a check-in's sign-up (a place held at the same event), if any."""
    return and_(
        col(Registration.event_id) == CheckIn.event_id,
        col(Registration.person_id) == CheckIn.person_id,
        col(Registration.status) == RegistrationStatus.REGISTERED,
    )


def not_merged(person_id: Any) -> ColumnElement[bool]:
    """The row's person was not merged into another record, without joining every person.

    An anti-join: PostgreSQL would otherwise hash-join the whole person table (about 20 ms at
    100,000 people) to drop the few merged records; see docs/notes/reports.md for the partial
    index that makes this check free.
    """
    merged = aliased(Person)
    return ~exists().where(col(merged.id) == person_id, col(merged.merged_into_id).is_not(None))


def _scoped(stmt: AnySelect, zone_limit: frozenset[int] | None) -> AnySelect:
    """Limit a statement (already joined to District) to a coordinator's zones."""
    if zone_limit is None:
        return stmt
    if not zone_limit:
        return stmt.where(false())
    return stmt.where(col(District.zone).in_(sorted(zone_limit)))


def _people_only(stmt: AnySelect, person_id: Any, zone_limit: frozenset[int] | None) -> AnySelect:
    """Rows of people not merged away; with a zone limit, only people of those zones."""
    if zone_limit is None:
        return stmt.where(not_merged(person_id))
    joined = stmt.join(Person, counted_person(person_id)).outerjoin(
        District, col(District.code) == Person.district_code
    )
    return _scoped(joined, zone_limit)


async def headcount(*, session: AsyncSession, access: Access, event_id: int) -> Headcount:
    """Everything /headcount shows for one event, within the viewer's zones."""
    access.require(Capability.VIEW_HEADCOUNT)
    event = await event_by_id(session=session, event_id=event_id)
    return await count_event(session=session, event=event, zone_limit=access.zone_limit())


async def count_event(
    *, session: AsyncSession, event: Event, zone_limit: frozenset[int] | None
) -> Headcount:
    """The headcount of one event (no permission check: callers have done it)."""
    info = EventInfo.of(event)
    rows = await _breakdown(session=session, event_id=info.id, zone_limit=zone_limit)
    signed_up = await _signed_up(session=session, event_id=info.id, zone_limit=zone_limit)
    arrivals = await _arrivals(session=session, event_id=info.id, zone_limit=zone_limit)
    return _assemble(
        event=info, zone_limit=zone_limit, rows=rows, signed_up=signed_up, arrivals=arrivals
    )


async def arrived_count(*, session: AsyncSession, event_id: int) -> int:
    """How many people came to an event, in every zone (no permission check)."""
    stmt: AnySelect = (
        sql_select(func.count()).select_from(CheckIn).where(col(CheckIn.event_id) == event_id)
    )
    (row,) = await rows_of(session, _people_only(stmt, CheckIn.person_id, None))
    return int(row[0])


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
    signed_up: int


def _how_many(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows of the group meet a condition."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _breakdown(
    *, session: AsyncSession, event_id: int, zone_limit: frozenset[int] | None
) -> list[_Row]:
    """Arrivals grouped by the person's type, role, agency and district.

    One row per check-in before grouping: check-ins are unique per (event, person), and so
    are sign-ups, so COUNT(*) counts people. Whether an arrival had signed up is counted here
    too, which keeps the sign-up count itself a plain count (see `_signed_up`).
    """
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
            func.count(),
            func.count(col(CheckIn.checked_out_at)),
            _how_many(col(CheckIn.late).is_(True)),
            _how_many(col(Person.is_walkin).is_(True)),
            func.count(col(Registration.id)),
        )
        .select_from(CheckIn)
        .join(Person, counted_person(CheckIn.person_id))
        .outerjoin(District, col(District.code) == Person.district_code)
        .outerjoin(Registration, arrivals_sign_up())
        .where(col(CheckIn.event_id) == event_id)
        .group_by(*keys)
    )
    return [_Row(*row) for row in await rows_of(session, _scoped(stmt, zone_limit))]


async def _signed_up(
    *, session: AsyncSession, event_id: int, zone_limit: frozenset[int] | None
) -> int:
    """How many people hold a place at the event (signed up, not on the waiting list).

    A plain count, never joined to the check-ins: PostgreSQL planned "sign-ups LEFT JOIN
    check-ins" as a merge join over the person-id indexes that walked other events' check-ins
    (0.4 to 1.2 s on a million of them) until a prepared statement's sixth run, and behind
    pgbouncer never recovered. Whether they came is counted in `_breakdown`.
    """
    stmt: AnySelect = (
        sql_select(func.count())
        .select_from(Registration)
        .where(
            col(Registration.event_id) == event_id,
            col(Registration.status) == RegistrationStatus.REGISTERED,
        )
    )
    (row,) = await rows_of(session, _people_only(stmt, Registration.person_id, zone_limit))
    return int(row[0])


async def _arrivals(
    *, session: AsyncSession, event_id: int, zone_limit: frozenset[int] | None
) -> tuple[tuple[datetime, int], ...]:
    """Arrivals per 15 minutes: (start of the slot in UTC, people)."""
    dialect = session.get_bind().dialect.name
    # Integer floor division: the same slot number on SQLite and PostgreSQL.
    bucket = (epoch_seconds(CheckIn.checked_in_at, dialect) // BUCKET_SECONDS).label("bucket")
    stmt: AnySelect = (
        sql_select(bucket, func.count())
        .select_from(CheckIn)
        .where(col(CheckIn.event_id) == event_id)
        .group_by(bucket)
        .order_by(bucket)
    )
    stmt = _people_only(stmt, CheckIn.person_id, zone_limit)
    return tuple(
        (datetime.fromtimestamp(int(slot) * BUCKET_SECONDS, tz=UTC), int(count))
        for slot, count in await rows_of(session, stmt)
    )


def _assemble(
    *,
    event: EventInfo,
    zone_limit: frozenset[int] | None,
    rows: list[_Row],
    signed_up: int,
    arrivals: tuple[tuple[datetime, int], ...],
) -> Headcount:
    """Add the aggregate rows up into the tables /headcount shows."""
    groups = dict.fromkeys(GROUPS, 0)
    roles = dict.fromkeys(ROLE_ORDER, 0)
    agencies = dict.fromkeys(AGENCY_ORDER, 0)
    types = dict.fromkeys((kind.value for kind in ParticipantType), 0)
    no_district = 0
    for row in rows:
        group = group_of(row.participant_type)
        groups[group] += row.arrived
        types[row.participant_type] = types.get(row.participant_type, 0) + row.arrived
        if group == GROUP_VOLUNTEERS:
            role = row.role if row.role in roles else VolunteerRole.VOLUNTEER.value
            roles[role] += row.arrived
        if group == GROUP_OFFICIALS and row.agency:
            agencies[row.agency] = agencies.get(row.agency, 0) + row.arrived
        if row.district is None or row.name_th is None:
            no_district += row.arrived
    return Headcount(
        event=event,
        zone_limit=zone_limit,
        arrived=sum(row.arrived for row in rows),
        checked_out=sum(row.checked_out for row in rows),
        late=sum(row.late for row in rows),
        walkins=sum(row.walkins for row in rows),
        signed_up=signed_up,
        signed_up_arrived=sum(row.signed_up for row in rows),
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
