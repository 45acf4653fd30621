"""Events: creating and changing them, listing them, and RSVPs with a waiting list."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit, codes
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.errors import DomainError, NotFound
from storage.models import Event, EventStatus, Person, Registration, RegistrationStatus

TITLE_MAX_CHARS = 200
VENUE_MAX_CHARS = 200
DEFAULT_RADIUS_M = 200
RADIUS_RANGE_M = (20, 5_000)
CAPACITY_MAX = 100_000
LIST_LIMIT = 10
# How many times a fresh code or token may collide with an existing one before we give up;
# with 32^6 codes a single retry is already a lottery win.
_NEW_CODE_ATTEMPTS = 5
OVERRIDE_OPEN = "open"
OVERRIDE_CLOSED = "closed"
_OVERRIDE_ACTIONS = {
    OVERRIDE_OPEN: AuditAction.EVENT_CHECKIN_OPEN,
    OVERRIDE_CLOSED: AuditAction.EVENT_CHECKIN_CLOSED,
    None: AuditAction.EVENT_CHECKIN_AUTO,
}


class InvalidEventField(DomainError):
    """A value typed for an event is unusable; `field` and `reason` say which and why."""

    key = "events.invalid.generic"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid {field}: {reason}")
        self.field = field
        self.reason = reason
        self.key = f"events.invalid.{field}.{reason}"


class EventIsCancelled(DomainError):
    """The event was cancelled; nothing more can be done with it."""

    key = "events.is_cancelled"


@dataclass(frozen=True)
class EventFields:
    """What an organiser enters for an event (validated by `check_fields`)."""

    title: str
    venue: str
    starts_at: datetime
    ends_at: datetime
    latitude: float | None = None
    longitude: float | None = None
    radius_m: int = DEFAULT_RADIUS_M
    capacity: int | None = None


@dataclass(frozen=True)
class Recipient:
    """Someone to tell about a change: their Telegram chat and language."""

    person_id: int
    telegram_id: int
    language: str


@dataclass(frozen=True)
class RsvpResult:
    """The outcome of an RSVP: registered or waitlisted (with a place in the queue)."""

    status: RegistrationStatus
    waitlist_position: int | None = None


@dataclass(frozen=True)
class CancelRsvpResult:
    """The outcome of cancelling an RSVP, and who moved up from the waiting list."""

    promoted: Recipient | None


# ---------------------------------------------------------------------------------------------
# Validation of what organisers type


def _clean_text(raw: str, *, field: str, max_chars: int) -> str:
    """One tidy line of text, or InvalidEventField."""
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if not text:
        raise InvalidEventField(field, "empty")
    if len(text) > max_chars:
        raise InvalidEventField(field, "too_long")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise InvalidEventField(field, "bad_characters")
    return text


def clean_title(raw: str) -> str:
    """An event title, tidied."""
    return _clean_text(raw, field="title", max_chars=TITLE_MAX_CHARS)


def clean_venue(raw: str) -> str:
    """A venue, tidied."""
    return _clean_text(raw, field="venue", max_chars=VENUE_MAX_CHARS)


def _whole_number(raw: str, *, field: str) -> int:
    """A positive whole number typed with optional spaces or thousands separators."""
    text = unicodedata.normalize("NFKC", raw).translate(str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789"))
    text = text.replace(",", "").replace(" ", "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 7:
        raise InvalidEventField(field, "not_a_number")
    return int(text)


def parse_radius(raw: str) -> int:
    """A check-in radius in metres, within sensible bounds."""
    value = _whole_number(raw.lower().removesuffix("m").removesuffix("เมตร"), field="radius")
    low, high = RADIUS_RANGE_M
    if not low <= value <= high:
        raise InvalidEventField("radius", "out_of_range")
    return value


def parse_capacity(raw: str) -> int:
    """A capacity: at least one person."""
    value = _whole_number(raw, field="capacity")
    if not 1 <= value <= CAPACITY_MAX:
        raise InvalidEventField("capacity", "out_of_range")
    return value


def check_times(*, starts_at: datetime, ends_at: datetime, now: datetime | None = None) -> None:
    """The end is after the start; a new event does not start in the past."""
    if ends_at <= starts_at:
        raise InvalidEventField("ends_at", "before_start")
    if ends_at - starts_at > timedelta(days=31):
        raise InvalidEventField("ends_at", "too_long")
    if now is not None and ends_at <= now:
        raise InvalidEventField("starts_at", "in_past")


def check_fields(fields: EventFields) -> None:
    """Every rule for a complete set of fields."""
    clean_title(fields.title)
    clean_venue(fields.venue)
    check_times(starts_at=fields.starts_at, ends_at=fields.ends_at)
    if (fields.latitude is None) != (fields.longitude is None):
        raise InvalidEventField("location", "incomplete")
    low, high = RADIUS_RANGE_M
    if not low <= fields.radius_m <= high:
        raise InvalidEventField("radius", "out_of_range")
    if fields.capacity is not None and not 1 <= fields.capacity <= CAPACITY_MAX:
        raise InvalidEventField("capacity", "out_of_range")


# ---------------------------------------------------------------------------------------------
# Reading events


async def get_event(*, session: AsyncSession, event_id: int, lock: bool = False) -> Event:
    """The event, or NotFound; `lock` serialises writers on it (PostgreSQL; SQLite always is)."""
    statement = select(Event).where(Event.id == event_id)
    if lock:
        statement = statement.with_for_update()
    event = (await session.exec(statement)).first()
    if event is None:
        raise NotFound("event")
    return event


async def by_token(*, session: AsyncSession, token: str) -> Event | None:
    """The event behind a deep-link token."""
    if not codes.is_token(token):
        return None
    return (await session.exec(select(Event).where(Event.token == token))).first()


def closes_at(event: Event) -> datetime:
    """When check-in closes by the clock (the end plus any grace)."""
    return event.ends_at + timedelta(minutes=event.closes_after_minutes)


def opens_at(event: Event) -> datetime:
    """When check-in opens by the clock."""
    return event.starts_at - timedelta(minutes=event.opens_before_minutes)


async def upcoming(*, session: AsyncSession, now: datetime, limit: int = LIST_LIMIT) -> list[Event]:
    """Active events that have not ended yet, soonest first."""
    statement = (
        select(Event)
        .where(Event.status == EventStatus.ACTIVE, Event.ends_at > now)
        .order_by(col(Event.starts_at), col(Event.id))
        .limit(limit)
    )
    return list((await session.exec(statement)).all())


async def registration_counts(*, session: AsyncSession, event_id: int) -> tuple[int, int]:
    """(registered, waitlisted) for an event."""
    statement = (
        select(Registration.status, func.count())
        .where(Registration.event_id == event_id)
        .group_by(Registration.status)
    )
    counts = {status: int(n) for status, n in (await session.exec(statement)).all()}
    return counts.get(RegistrationStatus.REGISTERED, 0), counts.get(
        RegistrationStatus.WAITLISTED, 0
    )


async def registration_of(
    *, session: AsyncSession, event_id: int, person_id: int
) -> Registration | None:
    """A person's RSVP to an event, in any state."""
    statement = select(Registration).where(
        Registration.event_id == event_id, Registration.person_id == person_id
    )
    return (await session.exec(statement)).first()


# ---------------------------------------------------------------------------------------------
# Creating and changing events (organisers and admins)


def _audit(
    *,
    session: AsyncSession,
    access: Access,
    action: AuditAction,
    event: Event,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a privileged act on an event, in the same transaction as the act."""
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=action,
        at=now,
        target_type="event",
        target_id=event.id,
        detail=detail,
    )


async def create_event(
    *, session: AsyncSession, access: Access, fields: EventFields, now: datetime
) -> Event:
    """A new event with a fresh code and token; audited."""
    access.require(Capability.MANAGE_EVENTS)
    check_fields(fields)
    check_times(starts_at=fields.starts_at, ends_at=fields.ends_at, now=now)
    for _ in range(_NEW_CODE_ATTEMPTS):
        event = Event(
            title=clean_title(fields.title),
            venue=clean_venue(fields.venue),
            starts_at=fields.starts_at,
            ends_at=fields.ends_at,
            latitude=fields.latitude,
            longitude=fields.longitude,
            radius_m=fields.radius_m,
            capacity=fields.capacity,
            code=codes.new_code(),
            token=codes.new_token(),
            code_rotated_at=now,
            created_by_id=access.person_id,
            created_at=now,
            updated_at=now,
        )
        session.add(event)
        try:
            await session.flush()
        except IntegrityError:
            # Another event already has this code or token: draw again.
            await session.rollback()
            continue
        _audit(
            session=session, access=access, action=AuditAction.EVENT_CREATE, event=event, now=now
        )
        await session.commit()
        return event
    raise RuntimeError("could not draw a unique event code")


async def update_event(
    *, session: AsyncSession, access: Access, event_id: int, fields: EventFields, now: datetime
) -> tuple[Event, list[Recipient]]:
    """Change an event's details (code and token stay); audited. Also who moved up."""
    access.require(Capability.MANAGE_EVENTS)
    check_fields(fields)
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    event.title = clean_title(fields.title)
    event.venue = clean_venue(fields.venue)
    event.starts_at, event.ends_at = fields.starts_at, fields.ends_at
    event.latitude, event.longitude = fields.latitude, fields.longitude
    event.radius_m, event.capacity = fields.radius_m, fields.capacity
    event.updated_at = now
    session.add(event)
    _audit(session=session, access=access, action=AuditAction.EVENT_UPDATE, event=event, now=now)
    promoted = await _fill_free_places(session=session, event=event, now=now)
    await session.commit()
    return event, promoted


async def set_checkin_override(
    *, session: AsyncSession, access: Access, event_id: int, override: str | None, now: datetime
) -> Event:
    """Open or close check-in by hand ("open", "closed"), or go back to the clock (None)."""
    access.require(Capability.MANAGE_EVENTS)
    if override not in (OVERRIDE_OPEN, OVERRIDE_CLOSED, None):
        raise ValueError(f"unknown override {override!r}")
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    event.checkin_override = override
    event.updated_at = now
    session.add(event)
    _audit(
        session=session,
        access=access,
        action=_OVERRIDE_ACTIONS[override],
        event=event,
        now=now,
    )
    await session.commit()
    return event


async def rotate_code(
    *, session: AsyncSession, access: Access, event_id: int, now: datetime
) -> Event:
    """A new code; the old one stops working at once (and so do codes derived from it)."""
    access.require(Capability.MANAGE_EVENTS)
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    for _ in range(_NEW_CODE_ATTEMPTS):
        event.code = codes.new_code()
        event.code_rotated_at = now
        event.updated_at = now
        session.add(event)
        try:
            await session.flush()
        except IntegrityError:
            await session.rollback()
            event = await get_event(session=session, event_id=event_id, lock=True)
            continue
        _audit(
            session=session,
            access=access,
            action=AuditAction.EVENT_ROTATE_CODE,
            event=event,
            now=now,
        )
        await session.commit()
        return event
    raise RuntimeError("could not draw a unique event code")


async def set_auto_rotation(
    *, session: AsyncSession, access: Access, event_id: int, seconds: int | None, now: datetime
) -> Event:
    """Turn automatic code rotation on (every `seconds`) or off (None); audited."""
    access.require(Capability.MANAGE_EVENTS)
    if seconds is not None and not 15 <= seconds <= 86_400:
        raise InvalidEventField("rotation", "out_of_range")
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    event.code_rotate_seconds = seconds
    event.code_rotated_at = now
    event.updated_at = now
    session.add(event)
    _audit(
        session=session,
        access=access,
        action=AuditAction.EVENT_AUTO_ROTATE,
        event=event,
        now=now,
        detail={"seconds": seconds},
    )
    await session.commit()
    return event


async def set_checkout(
    *, session: AsyncSession, access: Access, event_id: int, enabled: bool, now: datetime
) -> Event:
    """Turn /checkout on or off for an event; audited."""
    access.require(Capability.MANAGE_EVENTS)
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    event.checkout_enabled = enabled
    event.updated_at = now
    session.add(event)
    _audit(
        session=session,
        access=access,
        action=AuditAction.EVENT_CHECKOUT_ON if enabled else AuditAction.EVENT_CHECKOUT_OFF,
        event=event,
        now=now,
    )
    await session.commit()
    return event


async def cancel_event(
    *, session: AsyncSession, access: Access, event_id: int, now: datetime
) -> list[Recipient]:
    """Cancel the event; return the registrants (and waiting list) to tell."""
    access.require(Capability.MANAGE_EVENTS)
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    event.status = EventStatus.CANCELLED
    event.updated_at = now
    session.add(event)
    _audit(session=session, access=access, action=AuditAction.EVENT_CANCEL, event=event, now=now)
    statement = (
        select(Person.id, Person.telegram_id, Person.language)
        .join(Registration, col(Registration.person_id) == col(Person.id))
        .where(
            Registration.event_id == event_id,
            col(Registration.status).in_(
                [RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED]
            ),
            col(Person.telegram_id).is_not(None),
            col(Person.erased_at).is_(None),
        )
        .order_by(col(Registration.created_at))
    )
    rows = (await session.exec(statement)).all()
    await session.commit()
    return [
        Recipient(person_id=pid, telegram_id=tid, language=lang)
        for pid, tid, lang in rows
        if pid is not None and tid is not None
    ]


# ---------------------------------------------------------------------------------------------
# RSVPs and the waiting list


async def rsvp(
    *, session: AsyncSession, event_id: int, person_id: int, now: datetime
) -> RsvpResult:
    """Register for an event, or join its waiting list when it is full."""
    # Locking the event row serialises RSVPs per event, so two people never take the last place.
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    if event.ends_at <= now:
        raise InvalidEventField("event", "ended")
    existing = await registration_of(session=session, event_id=event_id, person_id=person_id)
    if existing is not None and existing.status != RegistrationStatus.CANCELLED:
        position = await _waitlist_position(session=session, registration=existing)
        return RsvpResult(RegistrationStatus(existing.status), position)
    registered, _ = await registration_counts(session=session, event_id=event_id)
    full = event.capacity is not None and registered >= event.capacity
    status = RegistrationStatus.WAITLISTED if full else RegistrationStatus.REGISTERED
    registration = existing or Registration(event_id=event_id, person_id=person_id)
    registration.status = status
    registration.created_at = now  # a place on the waiting list counts from this RSVP
    registration.updated_at = now
    session.add(registration)
    await session.flush()
    position = await _waitlist_position(session=session, registration=registration)
    await session.commit()
    return RsvpResult(status, position)


async def cancel_rsvp(
    *, session: AsyncSession, event_id: int, person_id: int, now: datetime
) -> CancelRsvpResult:
    """Withdraw an RSVP; the first on the waiting list takes a freed place."""
    event = await get_event(session=session, event_id=event_id, lock=True)
    registration = await registration_of(session=session, event_id=event_id, person_id=person_id)
    if registration is None or registration.status == RegistrationStatus.CANCELLED:
        raise NotFound("registration")
    registration.status = RegistrationStatus.CANCELLED
    registration.updated_at = now
    session.add(registration)
    await session.flush()
    promoted: list[Recipient] = []
    if event.status == EventStatus.ACTIVE:
        promoted = await _fill_free_places(session=session, event=event, now=now)
    await session.commit()
    return CancelRsvpResult(promoted=promoted[0] if promoted else None)


async def _fill_free_places(
    *, session: AsyncSession, event: Event, now: datetime
) -> list[Recipient]:
    """Move people up from the waiting list, in order, while there are free places."""
    registered, waiting = await registration_counts(session=session, event_id=event.id or 0)
    free = waiting if event.capacity is None else min(waiting, event.capacity - registered)
    if free <= 0:
        return []
    statement = (
        select(Registration)
        .where(
            Registration.event_id == event.id,
            Registration.status == RegistrationStatus.WAITLISTED,
        )
        .order_by(col(Registration.created_at), col(Registration.id))
        .limit(free)
    )
    moved: list[Recipient] = []
    for registration in (await session.exec(statement)).all():
        registration.status = RegistrationStatus.REGISTERED
        registration.updated_at = now
        session.add(registration)
        person = await session.get(Person, registration.person_id)
        if person is not None and person.telegram_id is not None and person.id is not None:
            moved.append(Recipient(person.id, person.telegram_id, person.language))
    await session.flush()
    return moved


async def _waitlist_position(*, session: AsyncSession, registration: Registration) -> int | None:
    """1 for the first in line; None when not on the waiting list."""
    if registration.status != RegistrationStatus.WAITLISTED:
        return None
    statement = select(func.count()).where(
        Registration.event_id == registration.event_id,
        Registration.status == RegistrationStatus.WAITLISTED,
        col(Registration.created_at) <= registration.created_at,
    )
    return int((await session.exec(statement)).one())
