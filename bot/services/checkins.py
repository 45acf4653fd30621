"""Check-in: every method ends in one insert that the database allows exactly once.

A person is checked in to an event at most once, whatever the method and however many
requests race: the table has a unique (event_id, person_id) constraint, and the loser of a race
gets the winner's row back as `AlreadyCheckedIn(at=...)`. Functions here never commit: the
use case around them does (bot/usecases/checkin.py).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import and_, bindparam, delete, func, literal_column, null, or_, true
from sqlalchemy import select as core_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit, codes, geo, people
from bot.services.access import GRANTS, Access, Capability
from bot.services.audit import AuditAction
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.events import (
    OVERRIDE_CLOSED,
    OVERRIDE_OPEN,
    EventWindow,
    by_token,
    closes_at,
    get_event,
    opens_at,
)
from bot.services.validation import (
    InvalidPhone,
    mask_phone,
    normalise_phone,
)
from storage.database import core_connection
from storage.driver import Statements
from storage.models import (
    CheckIn,
    CheckInMethod,
    District,
    Event,
    EventStatus,
    Person,
    Role,
)

_log = logging.getLogger(__name__)

SEARCH_MIN_CHARS = 3
SEARCH_MAX_RESULTS = 10
WRONG_CODE_LIMIT = 5
WRONG_CODE_WINDOW = timedelta(minutes=1)
# Events whose window could still be open are at most this long past their end (the grace a
# per-event `closes_after_minutes` gives is far shorter in practice).
_OPEN_LOOKBACK = timedelta(days=2)


# ---------------------------------------------------------------------------------------------
# Why a check-in was refused


class AlreadyCheckedIn(DomainError):
    """This person is already checked in to this event (at `at`)."""

    key = "checkin.already"


class CheckInNotOpen(DomainError):
    """The window has not opened yet (it opens at `opens_at`)."""

    key = "checkin.not_open"


class CheckInClosed(DomainError):
    """The organiser closed check-in by hand."""

    key = "checkin.closed"


class EventCancelled(DomainError):
    """The event was cancelled."""

    key = "checkin.event_cancelled"


class EventEnded(DomainError):
    """The event is over; check-in closed at `closed_at`."""

    key = "checkin.event_ended"


class WrongCode(DomainError):
    """No event has this code (or it was rotated away)."""

    key = "checkin.wrong_code"


class TooManyWrongCodes(DomainError):
    """Too many wrong codes in a minute; try again in `seconds`."""

    key = "checkin.slow_down"


class BadToken(DomainError):
    """The link or QR code does not belong to any event."""

    key = "checkin.bad_token"


class TooFar(DomainError):
    """The person is `distance_m` metres from the nearest open venue."""

    key = "checkin.too_far"


class NoVenuePin(DomainError):
    """Check-in is open, but no open event has a location pin to compare with."""

    key = "checkin.no_pin"


class NoOpenEvent(DomainError):
    """No event is open for check-in right now."""

    key = "checkin.no_open_event"


class ForwardedLocation(DomainError):
    """A forwarded location says where someone else was, not where this person is."""

    key = "checkin.forwarded_location"


class NotCheckedIn(DomainError):
    """Nothing to check out from."""

    key = "checkin.not_checked_in"


class CheckoutNotEnabled(DomainError):
    """This event does not record leaving times."""

    key = "checkin.checkout_disabled"


class AlreadyCheckedOut(DomainError):
    """Already checked out (at `at`)."""

    key = "checkin.already_out"


class SearchTooShort(DomainError):
    """A search needs at least SEARCH_MIN_CHARS characters."""

    key = "checkin.search_too_short"


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class CheckInResult:
    """A check-in that was just recorded."""

    event_id: int
    event_title: str
    person_id: int
    checked_in_at: datetime
    method: CheckInMethod
    late: bool


@dataclass(frozen=True)
class CheckOutResult:
    """A check-out that was just recorded."""

    event_title: str
    checked_in_at: datetime
    checked_out_at: datetime


@dataclass(frozen=True)
class PersonMatch:
    """One search result for staff: enough to tell people apart, no full phone number."""

    person_id: int
    full_name: str
    masked_phone: str | None
    is_walkin: bool


@dataclass(frozen=True)
class SearchResult:
    """At most SEARCH_MAX_RESULTS matches; `more` when the search should be narrowed."""

    matches: list[PersonMatch]
    more: bool


# ---------------------------------------------------------------------------------------------
# Windows and codes


def check_window(event: EventWindow, now: datetime) -> None:
    """Raise why check-in is not possible now, or return if it is."""
    if event.status == EventStatus.CANCELLED:
        raise EventCancelled(title=event.title)
    if now >= closes_at(event):
        raise EventEnded(title=event.title, closed_at=closes_at(event))
    if event.checkin_override == OVERRIDE_CLOSED:
        raise CheckInClosed(title=event.title)
    # Opened by hand: people may come in before the usual time; the end still closes it.
    if event.checkin_override == OVERRIDE_OPEN:
        return
    if now < opens_at(event):
        raise CheckInNotOpen(title=event.title, opens_at=opens_at(event))


def window_open(event: Event, now: datetime) -> bool:
    """Whether check-in is possible right now."""
    try:
        check_window(event, now)
    except DomainError:
        return False
    return True


def current_code(event: Event, now: datetime) -> str:
    """The code people type now: the stored one, or the rotating one derived from it.

    Auto-rotation is computed, not scheduled: the code of each `code_rotate_seconds` window
    since `code_rotated_at` is an HMAC of that window's number keyed by the stored (never
    shown) code. Nothing has to run on time, a restart changes nothing, and a code stops
    working the moment its window ends.
    """
    if not event.code_rotate_seconds:
        return event.code
    window = code_window(event, now)
    return codes.derived_code(f"{event.code}:{event.token}", window)


def code_window(event: Event, now: datetime) -> int:
    """The number of the rotation window `now` falls in."""
    start = event.code_rotated_at or event.created_at
    seconds = event.code_rotate_seconds or 1
    return math.floor((now - start).total_seconds() / seconds)


def code_valid_until(event: Event, now: datetime) -> datetime | None:
    """When the current rotating code stops working; None for a code that does not rotate."""
    if not event.code_rotate_seconds:
        return None
    start = event.code_rotated_at or event.created_at
    return start + timedelta(seconds=event.code_rotate_seconds * (code_window(event, now) + 1))


# Built once: every typed code runs it, and building it cost about as much as running it. It
# selects the table's columns rather than the entity: the ORM's loading (identity map, instance
# state) cost more CPU than the statement itself, for an event that is only read.
_EVENT_COLUMNS: Any = Event.__table__.c  # type: ignore[attr-defined]
_EVENT_BY_STATIC_CODE = select(*_EVENT_COLUMNS).where(
    _EVENT_COLUMNS.code == bindparam("code"), _EVENT_COLUMNS.code_rotate_seconds.is_(None)
)


async def event_for_code(*, session: AsyncSession, code: str, now: datetime) -> EventWindow | None:
    """The event whose current code this is (for a static code, its row: the check-in only
    reads it, and building an Event from it cost as much CPU as the statement)."""
    connection = await core_connection(session)
    row = (await connection.execute(_EVENT_BY_STATIC_CODE, {"code": code})).first()
    if row is not None:
        found: EventWindow = row
        return found
    return await _event_for_rotating_code(session=session, code=code, now=now)


async def _event_for_rotating_code(
    *, session: AsyncSession, code: str, now: datetime
) -> Event | None:
    """The active event whose rotating code is `code` right now."""
    rotating = select(Event).where(
        col(Event.code_rotate_seconds).is_not(None),
        Event.status == EventStatus.ACTIVE,
        Event.ends_at > now - _OPEN_LOOKBACK,
    )
    for candidate in (await session.exec(rotating)).all():
        if current_code(candidate, now) == code:
            return candidate
    return None


async def open_events(*, session: AsyncSession, now: datetime) -> list[Event]:
    """Events open for check-in right now, soonest start first."""
    statement = (
        select(Event)
        .where(Event.status == EventStatus.ACTIVE, Event.ends_at > now - _OPEN_LOOKBACK)
        .order_by(col(Event.starts_at), col(Event.id))
    )
    return [event for event in (await session.exec(statement)).all() if window_open(event, now)]


# How many wrong codes between sweeps of the people the limiter forgets.
SWEEP_EVERY = 1000


class WrongCodeLimiter:
    """Counts wrong codes per person over the last minute, in this process's memory.

    Memory is enough: the limit only has to slow a guesser down, and a restart forgetting the
    count costs nothing (a guess still has a one-in-a-billion chance).
    """

    def __init__(
        self, *, limit: int = WRONG_CODE_LIMIT, window: timedelta = WRONG_CODE_WINDOW
    ) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[int, deque[datetime]] = {}
        self._counted = 0

    def _recent(self, key: int, now: datetime) -> deque[datetime]:
        """The person's failures within the window (older ones dropped)."""
        failures = self._failures.get(key, deque())
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def check(self, key: int, now: datetime) -> None:
        """Raise TooManyWrongCodes while the person has used up their wrong codes."""
        failures = self._recent(key, now)
        if len(failures) >= self.limit:
            wait = self.window - (now - failures[0])
            raise TooManyWrongCodes(seconds=max(1, math.ceil(wait.total_seconds())))

    def failed(self, key: int, now: datetime) -> None:
        """Count one wrong code (and, now and then, forget everyone whose window has passed:
        a person who mistyped once and never came back would otherwise stay for good)."""
        failures = self._recent(key, now)
        failures.append(now)
        self._failures[key] = failures
        self._counted += 1
        if self._counted % SWEEP_EVERY == 0:
            self.sweep(now)

    def sweep(self, now: datetime) -> None:
        """Drop the people with no wrong code within the window."""
        for key in [k for k, times in self._failures.items() if now - times[-1] >= self.window]:
            del self._failures[key]

    @property
    def people(self) -> int:
        """How many people this process is counting (for tests of its memory)."""
        return len(self._failures)


# ---------------------------------------------------------------------------------------------
# Recording


_CHECKIN_TABLE: Any = CheckIn.__table__  # type: ignore[attr-defined]
_CHECKED_IN_AT = core_select(_CHECKIN_TABLE.c.checked_in_at).where(
    _CHECKIN_TABLE.c.event_id == bindparam("event_id"),
    _CHECKIN_TABLE.c.person_id == bindparam("person_id"),
)
# What a check-in's INSERT writes, in this order, on both paths below.
_INSERTED = ("event_id", "person_id", "checked_in_at", "method", "performed_by_id", "late")


def _insert_once_statement(dialect_insert: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, on the table itself (the ORM's bulk
    machinery would cost more than the statement) with the values bound at execution."""
    return (
        dialect_insert(_CHECKIN_TABLE)
        .values({name: bindparam(name) for name in _INSERTED})
        .on_conflict_do_nothing(index_elements=["event_id", "person_id"])
        .returning(_CHECKIN_TABLE.c.id)
    )


# Built once per database (both speak ON CONFLICT, each in its own dialect).
_INSERT_ONCE = {
    "postgresql": _insert_once_statement(postgresql_insert),
    "sqlite": _insert_once_statement(sqlite_insert),
}


def _window_open_in_sql(event: Any, now: Any) -> Any:
    """`check_window`'s rules as a PostgreSQL condition on the event's columns at `now` (the
    same instant, bound from Python): true exactly when `check_window` would let a check-in
    through. `tests/unit/test_checkin_window_edges.py` holds the two to the same answers."""
    minute: Any = literal_column("interval '1 minute'")
    return and_(
        event.status != EventStatus.CANCELLED.value,
        now < event.ends_at + event.closes_after_minutes * minute,
        event.checkin_override.is_distinct_from(OVERRIDE_CLOSED),
        or_(
            event.checkin_override == OVERRIDE_OPEN,
            now >= event.starts_at - event.opens_before_minutes * minute,
        ),
    )


def _static_code_check_in_statement() -> Any:
    """PostgreSQL: find the event by its static code and insert the check-in in one statement
    (a data-modifying CTE), one round trip instead of two, and no transaction needed around it.
    It inserts only while the window is open (`_window_open_in_sql`) and returns the event's
    columns and the new check-in's id (NULL when nothing was inserted: the person was already
    in, or the window is shut, which `check_window` then explains)."""
    checkin = _CHECKIN_TABLE
    found = _EVENT_BY_STATIC_CODE.cte("found")
    now = bindparam("now", type_=checkin.c.checked_in_at.type)
    arrival = core_select(
        found.c.id,
        bindparam("person_id", type_=checkin.c.person_id.type),
        now,
        bindparam("method", type_=checkin.c.method.type),
        null(),
        found.c.starts_at < now,
    ).where(_window_open_in_sql(found.c, now))
    inserted = (
        postgresql_insert(checkin)
        .from_select(list(_INSERTED), arrival)
        .on_conflict_do_nothing(index_elements=["event_id", "person_id"])
        .returning(checkin.c.id)
        .cte("inserted")
    )
    return core_select(*found.c, inserted.c.id.label("checkin_id")).select_from(
        found.outerjoin(inserted, true())
    )


_STATIC_CODE_CHECK_IN = _static_code_check_in_statement()
_DELETE_CHECK_IN = delete(_CHECKIN_TABLE).where(_CHECKIN_TABLE.c.id == bindparam("id"))


async def check_in_by_static_code(
    connection: Statements, *, person_id: int, code: str, now: datetime
) -> CheckInResult | None:
    """PostgreSQL's typed-code check-in in one statement; None when no event has this static
    code (it may be a rotating one). Nothing is written unless the window is open, so it may
    run in a transaction or on its own (autocommit: the statement is the whole check-in).

    Should `check_window` ever refuse what the statement inserted (a bug: `_take_back`), the
    row is deleted before the refusal is raised, so nothing is left behind whatever the caller
    does next (a registration commits even when its arrival fails)."""
    parameters = {"code": code, "person_id": person_id, "now": now, "method": CheckInMethod.CODE}
    row = (await connection.execute(_STATIC_CODE_CHECK_IN, parameters)).first()
    if row is None:
        return None
    try:
        check_window(row, now)
    except DomainError:
        if row.checkin_id is not None:
            await _take_back(connection, checkin_id=row.checkin_id)
        raise
    if row.checkin_id is None:
        await _already_checked_in(connection, event=row, person_id=person_id)
    return CheckInResult(
        event_id=row.id,
        event_title=row.title,
        person_id=person_id,
        checked_in_at=now,
        method=CheckInMethod.CODE,
        late=now > row.starts_at,
    )


async def _take_back(connection: Statements, *, checkin_id: int) -> None:
    """The statement inserted what `check_window` refuses: its window condition and
    `check_window` disagree, a bug (a rule added to one and not the other). Delete the row so
    nobody is counted who was told no, and say so loudly."""
    _log.error("check-in window rules disagree: check-in %d taken back", checkin_id)
    await connection.execute(_DELETE_CHECK_IN, {"id": checkin_id})


async def _already_checked_in(
    connection: Statements, *, event: EventWindow, person_id: int
) -> NoReturn:
    """Raise AlreadyCheckedIn with the time of the person's row (a conflict means it exists)."""
    parameters = {"event_id": event.id or 0, "person_id": person_id}
    at = (await connection.execute(_CHECKED_IN_AT, parameters)).scalar()
    if at is None:  # pragma: no cover - a conflict means the row exists
        raise RuntimeError("check-in conflict without a row")
    raise AlreadyCheckedIn(at=at, title=event.title)


async def record(
    *,
    session: AsyncSession,
    event: EventWindow,
    person_id: int,
    method: CheckInMethod,
    now: datetime,
    performed_by_id: int | None = None,
    audit_action: AuditAction | None = None,
) -> CheckInResult:
    """Insert the check-in unless one exists; a duplicate becomes AlreadyCheckedIn.

    One statement decides, however many requests for the same person race: the unique
    (event_id, person_id) constraint lets exactly one insert through, and the others find
    the winner's row. The caller's transaction commits it.
    """
    event_id, title = event.id or 0, event.title
    late = now > event.starts_at
    connection = await core_connection(session)
    inserted = await connection.execute(
        _INSERT_ONCE[connection.dialect.name],
        {
            "event_id": event_id,
            "person_id": person_id,
            "checked_in_at": now,
            "method": method.value,
            "performed_by_id": performed_by_id,
            "late": late,
        },
    )
    if inserted.first() is None:
        await _already_checked_in(connection, event=event, person_id=person_id)
    if audit_action is not None:
        audit.record(
            session=session,
            actor_id=performed_by_id,
            action=audit_action,
            at=now,
            target_type="person",
            target_id=person_id,
            detail={"event_id": event_id, "method": method.value},
        )
    return CheckInResult(
        event_id=event_id,
        event_title=title,
        person_id=person_id,
        checked_in_at=now,
        method=method,
        late=late,
    )


async def check_in(
    *,
    session: AsyncSession,
    event_id: int,
    person_id: int,
    method: CheckInMethod,
    now: datetime,
) -> CheckInResult:
    """Check a person in to an event by id, with every window rule."""
    event = await get_event(session=session, event_id=event_id)
    check_window(event, now)
    return await record(session=session, event=event, person_id=person_id, method=method, now=now)


async def check_in_by_token(
    *, session: AsyncSession, person_id: int, token: str, now: datetime
) -> CheckInResult:
    """Check in from a scanned QR code or deep link."""
    event = await by_token(session=session, token=token)
    if event is None:
        raise BadToken()
    check_window(event, now)
    return await record(
        session=session, event=event, person_id=person_id, method=CheckInMethod.QR, now=now
    )


async def check_in_by_code(
    *,
    session: AsyncSession,
    person_id: int,
    code_text: str,
    now: datetime,
    limiter: WrongCodeLimiter,
) -> CheckInResult:
    """Check in with a typed code; wrong codes are counted and slowed down."""
    limiter.check(person_id, now)
    code = codes.normalise_code(code_text)
    event: EventWindow | None = None
    connection = await core_connection(session)
    if code is not None and connection.dialect.name == "postgresql":
        recorded = await check_in_by_static_code(
            connection, person_id=person_id, code=code, now=now
        )
        if recorded is not None:
            return recorded
        event = await _event_for_rotating_code(session=session, code=code, now=now)
    elif code is not None:
        event = await event_for_code(session=session, code=code, now=now)
    if event is None:
        limiter.failed(person_id, now)
        raise WrongCode()
    check_window(event, now)
    return await record(
        session=session, event=event, person_id=person_id, method=CheckInMethod.CODE, now=now
    )


# SQLite stores times as text and can add minutes only in floating-point days (julianday), so
# its statement inserts only when the window is open by this margin at both ends; nearer an
# edge the transaction decides, with `check_window`'s exact rules.
_SQLITE_WINDOW_MARGIN_DAYS = 1 / 86_400


def _window_surely_open_in_sqlite(event: Any, now: Any) -> Any:
    """SQLite: a condition that holds only where `check_window` lets a check-in through (it
    may be false near an edge where `check_window` allows it, never the other way round)."""
    day_minutes = 1440.0
    at = func.julianday(now)
    closes = func.julianday(event.ends_at) + event.closes_after_minutes / day_minutes
    opens = func.julianday(event.starts_at) - event.opens_before_minutes / day_minutes
    return and_(
        event.status != EventStatus.CANCELLED.value,
        at < closes - _SQLITE_WINDOW_MARGIN_DAYS,
        func.coalesce(event.checkin_override, "") != OVERRIDE_CLOSED,
        or_(
            event.checkin_override == OVERRIDE_OPEN,
            at >= opens + _SQLITE_WINDOW_MARGIN_DAYS,
        ),
    )


def _sqlite_check_in_alone_statement() -> Any:
    """SQLite: insert the check-in for an open event's static code in one statement, returning
    the new row with the event's title; no row when nothing was inserted (no such event, the
    window shut or near an edge, or the person already in: the transaction then says which)."""
    checkin, event = _CHECKIN_TABLE, _EVENT_COLUMNS
    now = bindparam("now", type_=checkin.c.checked_in_at.type)
    arrival = core_select(
        event.id,
        bindparam("person_id", type_=checkin.c.person_id.type),
        now,
        bindparam("method", type_=checkin.c.method.type),
        null(),
        event.starts_at < now,
    ).where(
        event.code == bindparam("code"),
        event.code_rotate_seconds.is_(None),
        _window_surely_open_in_sqlite(event, now),
    )
    # Written out: SQLAlchemy renders RETURNING's columns without their table, which would
    # break a correlated subquery built from the tables.
    title: Any = literal_column("(SELECT event.title FROM event WHERE event.id = checkin.event_id)")
    return (
        sqlite_insert(checkin)
        .from_select(list(_INSERTED), arrival)
        .on_conflict_do_nothing(index_elements=["event_id", "person_id"])
        .returning(checkin.c.event_id, checkin.c.late, title.label("title"))
    )


_SQLITE_CHECK_IN_ALONE = _sqlite_check_in_alone_statement()


async def _sqlite_check_in_alone(
    connection: Statements, *, person_id: int, code: str, now: datetime
) -> CheckInResult | None:
    """SQLite's typed-code check-in in one statement when it surely succeeds; else None."""
    parameters = {"code": code, "person_id": person_id, "now": now, "method": CheckInMethod.CODE}
    row = (await connection.execute(_SQLITE_CHECK_IN_ALONE, parameters)).first()
    if row is None:
        return None
    return CheckInResult(
        event_id=row.event_id,
        event_title=row.title,
        person_id=person_id,
        checked_in_at=now,
        method=CheckInMethod.CODE,
        late=bool(row.late),
    )


async def check_in_alone_by_code(
    connection: Statements,
    *,
    person_id: int,
    code_text: str,
    now: datetime,
    limiter: WrongCodeLimiter,
) -> CheckInResult | None:
    """A typed static code's check-in as one statement that needs no transaction around it.

    PostgreSQL (`check_in_by_static_code`) answers every static code, refusals included;
    SQLite only a check-in that surely succeeds. None for anything else (a rotating or wrong
    code; on SQLite also a refusal, a repeat or a time near an edge of the window), which
    `check_in_by_code` then decides in a transaction, counting wrong codes."""
    limiter.check(person_id, now)
    code = codes.normalise_code(code_text)
    if code is None:
        return None
    if connection.dialect.name == "postgresql":
        return await check_in_by_static_code(connection, person_id=person_id, code=code, now=now)
    return await _sqlite_check_in_alone(connection, person_id=person_id, code=code, now=now)


async def check_in_by_location(
    *,
    session: AsyncSession,
    person_id: int,
    latitude: float,
    longitude: float,
    forwarded: bool,
    now: datetime,
) -> CheckInResult:
    """Check in to the nearest open event whose pin is within its radius."""
    if forwarded:
        raise ForwardedLocation()
    if not geo.valid_point(latitude, longitude):
        raise TooFar(distance_m=math.inf, radius_m=0, title="")
    candidates = await open_events(session=session, now=now)
    if not candidates:
        raise NoOpenEvent()
    pinned = [
        (geo.distance_m(latitude, longitude, event.latitude, event.longitude), event)
        for event in candidates
        if event.latitude is not None and event.longitude is not None
    ]
    if not pinned:
        raise NoVenuePin()
    pinned.sort(key=lambda pair: pair[0])
    inside = [event for distance, event in pinned if distance <= event.radius_m]
    if not inside:
        distance, nearest = pinned[0]
        raise TooFar(distance_m=distance, radius_m=nearest.radius_m, title=nearest.title)
    refusals: list[AlreadyCheckedIn] = []
    for event in inside:
        try:
            return await record(
                session=session,
                event=event,
                person_id=person_id,
                method=CheckInMethod.LOCATION,
                now=now,
            )
        except AlreadyCheckedIn as refusal:
            # Two venues overlap: try the next one before saying "already".
            refusals.append(refusal)
    raise refusals[0]


# ---------------------------------------------------------------------------------------------
# Staff: checking in others


def _zone_limit(access: Access) -> frozenset[int] | None:
    """The zones a coordinator-only person may check in; None when staff or more."""
    if access.roles & (GRANTS[Capability.CHECK_IN_OTHERS] - {Role.COORDINATOR}):
        return None
    return access.zone_limit()


async def _require_in_zone(*, session: AsyncSession, access: Access, person: Person) -> None:
    """A coordinator may only act on people of their zones (staff reach everyone)."""
    zones = _zone_limit(access)
    if zones is None:
        return
    zone = None
    if person.district_code is not None:
        district = await session.get(District, person.district_code)
        zone = district.zone if district is not None else None
    if zone is None or zone not in zones:
        raise NotAllowed("zone")


async def check_in_for(
    *, session: AsyncSession, access: Access, event_id: int, person_id: int, now: datetime
) -> CheckInResult:
    """Staff check someone else in; audited."""
    access.require(Capability.CHECK_IN_OTHERS)
    person = await session.get(Person, person_id)
    # A record merged into another one counts no more: its person is checked in on the other.
    if person is None or person.erased_at is not None or person.merged_into_id is not None:
        raise NotFound("person")
    await _require_in_zone(session=session, access=access, person=person)
    event = await get_event(session=session, event_id=event_id)
    check_window(event, now)
    return await record(
        session=session,
        event=event,
        person_id=person_id,
        method=CheckInMethod.STAFF,
        now=now,
        performed_by_id=access.person_id,
        audit_action=AuditAction.CHECKIN_STAFF,
    )


def _escape_like(text: str) -> str:
    """Make % and _ in a search literal, so a search never becomes "everyone"."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _phone_pattern(query: str) -> str | None:
    """A LIKE pattern for phone numbers when the query looks like (part of) a number."""
    compact = "".join(ch for ch in query if ch not in " -.()")
    if not compact.removeprefix("+").isdigit():
        return None
    try:
        return normalise_phone(compact)
    except InvalidPhone:
        pass
    digits = compact.removeprefix("+")
    # A local "08..." number is stored as "+668...": drop the trunk zero for a partial match.
    return "%" + _escape_like(digits.removeprefix("0")) + "%"


async def search_people(
    *, session: AsyncSession, access: Access, query: str, limit: int = SEARCH_MAX_RESULTS
) -> SearchResult:
    """People matching a phone number or part of a name (never a list of everyone)."""
    access.require(Capability.CHECK_IN_OTHERS)
    text = " ".join(query.split())
    if len(text) < SEARCH_MIN_CHARS:
        raise SearchTooShort(min=SEARCH_MIN_CHARS)
    text = text[:100]
    statement = select(Person).where(*people.counted())
    phone = _phone_pattern(text)
    if phone is None:
        pattern = "%" + _escape_like(text) + "%"
        statement = statement.where(col(Person.full_name).ilike(pattern, escape="\\"))
    elif "%" in phone:
        statement = statement.where(col(Person.phone).like(phone, escape="\\"))
    else:
        statement = statement.where(Person.phone == phone)
    zones = _zone_limit(access)
    if zones is not None:
        statement = statement.join(District, col(District.code) == col(Person.district_code)).where(
            col(District.zone).in_(sorted(zones))
        )
    statement = statement.order_by(col(Person.full_name), col(Person.id)).limit(limit + 1)
    found = list((await session.exec(statement)).all())
    matches = [
        PersonMatch(
            person_id=person.id or 0,
            full_name=person.full_name or "",
            masked_phone=mask_phone(person.phone) if person.phone else None,
            is_walkin=person.is_walkin,
        )
        for person in found[:limit]
    ]
    return SearchResult(matches=matches, more=len(found) > limit)


# ---------------------------------------------------------------------------------------------
# Check-out


async def check_out(*, session: AsyncSession, person_id: int, now: datetime) -> CheckOutResult:
    """Record leaving time at the person's latest event that has check-out."""
    statement = (
        select(CheckIn, Event)
        .join(Event, col(Event.id) == col(CheckIn.event_id))
        .where(
            CheckIn.person_id == person_id,
            Event.status == EventStatus.ACTIVE,
            Event.ends_at > now - _OPEN_LOOKBACK,
        )
        .order_by(col(CheckIn.checked_in_at).desc())
    )
    recent = list((await session.exec(statement)).all())
    if not recent:
        raise NotCheckedIn()
    enabled = [(checkin, event) for checkin, event in recent if event.checkout_enabled]
    if not enabled:
        raise CheckoutNotEnabled(title=recent[0][1].title)
    checkin, event = enabled[0]
    if checkin.checked_out_at is not None:
        raise AlreadyCheckedOut(at=checkin.checked_out_at, title=event.title)
    checkin.checked_out_at = now
    session.add(checkin)
    return CheckOutResult(
        event_title=event.title, checked_in_at=checkin.checked_in_at, checked_out_at=now
    )
