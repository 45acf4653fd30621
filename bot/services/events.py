"""Events: creating and changing them, listing them, and sign-ups with a waiting list.

Words: signing up for an event through /events ("ลงชื่อร่วมงาน", a `Registration` row) is not
registering with the bot (a `Person` row) nor being entered as a walk-in by staff.

Nothing here commits: the use case around these functions does (bot/usecases/events.py).
Notices (an event cancelled, a place freed on the waiting list) are queued through the
`Notifier` in the same transaction as the change that causes them.
"""

from __future__ import annotations

import dataclasses
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit, codes
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.errors import DomainError, NotFound
from bot.services.notify import Notice, Notifier, When
from storage.models import Event, EventStatus, Person, Registration, RegistrationStatus

TITLE_MAX_CHARS = 200
VENUE_MAX_CHARS = 200
DEFAULT_RADIUS_M = 200
RADIUS_RANGE_M = (20, 5_000)
CAPACITY_MAX = 100_000
LIST_LIMIT = 10
# How often the organiser's "change the code every 5 minutes" switch rotates it.
AUTO_ROTATE_SECONDS = 300
# How many fresh codes are drawn before giving up; with 32^6 codes one redraw is already rare.
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


class Switch(StrEnum):
    """An organiser's switch on an event card; each names the state it sets, so pressing the
    same button twice sets the same state twice (and the second time changes nothing)."""

    OPEN = "open"
    CLOSE = "close"
    AUTO_ON = "autoon"
    AUTO_OFF = "autooff"
    CHECKOUT_ON = "outon"
    CHECKOUT_OFF = "outoff"


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


@dataclass(frozen=True)
class Changed:
    """An event after an organiser's act, and whether the act changed anything."""

    event: Event
    changed: bool


@dataclass(frozen=True)
class Cancelled:
    """A cancelled event, and how many people will be told."""

    event: Event
    told: int


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


def check_start(*, starts_at: datetime, now: datetime) -> None:
    """A start typed for an event is still to come."""
    if starts_at <= now:
        raise InvalidEventField("starts_at", "past")


def check_times(*, starts_at: datetime, ends_at: datetime, now: datetime | None = None) -> None:
    """The end is after the start; a new event does not start in the past."""
    if ends_at <= starts_at:
        raise InvalidEventField("ends_at", "before_start")
    if ends_at - starts_at > timedelta(days=31):
        raise InvalidEventField("ends_at", "too_long")
    if now is not None and ends_at <= now:
        raise InvalidEventField("starts_at", "in_past")


def fields_of(event: Event) -> EventFields:
    """An event's details as an organiser enters them."""
    return EventFields(
        title=event.title,
        venue=event.venue,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        latitude=event.latitude,
        longitude=event.longitude,
        radius_m=event.radius_m,
        capacity=event.capacity,
    )


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


class EventWindow(Protocol):
    """What a check-in reads of its event: an Event, or a row of the event table's columns
    (the hot path's lookup, which skips the ORM's loading)."""

    @property
    def id(self) -> int | None: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def checkin_override(self) -> str | None: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def opens_before_minutes(self) -> int: ...
    @property
    def closes_after_minutes(self) -> int: ...


def closes_at(event: EventWindow) -> datetime:
    """When check-in closes by the clock (the end plus any grace)."""
    return event.ends_at + timedelta(minutes=event.closes_after_minutes)


def opens_at(event: EventWindow) -> datetime:
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
    """(signed up, waitlisted) for an event."""
    return (await sign_up_counts(session=session, event_ids=[event_id]))[event_id]


async def sign_up_counts(
    *, session: AsyncSession, event_ids: Sequence[int]
) -> dict[int, tuple[int, int]]:
    """(signed up, waitlisted) for each of these events, in one query."""
    counts: dict[int, tuple[int, int]] = {event_id: (0, 0) for event_id in event_ids}
    if not event_ids:
        return counts
    statement = (
        select(Registration.event_id, Registration.status, func.count())
        .where(col(Registration.event_id).in_(sorted(set(event_ids))))
        .group_by(col(Registration.event_id), col(Registration.status))
    )
    for event_id, status, n in (await session.exec(statement)).all():
        signed_up, waiting = counts[event_id]
        if status == RegistrationStatus.REGISTERED:
            signed_up = int(n)
        elif status == RegistrationStatus.WAITLISTED:
            waiting = int(n)
        counts[event_id] = (signed_up, waiting)
    return counts


async def registration_of(
    *, session: AsyncSession, event_id: int, person_id: int
) -> Registration | None:
    """A person's RSVP to an event, in any state."""
    statement = select(Registration).where(
        Registration.event_id == event_id, Registration.person_id == person_id
    )
    return (await session.exec(statement)).first()


@dataclass(frozen=True)
class SignUp:
    """A person's live sign-up to an event: signed up, or waiting (with their place)."""

    status: RegistrationStatus
    waitlist_position: int | None = None


async def sign_ups_of(
    *, session: AsyncSession, person_id: int, event_ids: Sequence[int]
) -> dict[int, SignUp]:
    """The person's live sign-ups to these events (cancelled ones are left out)."""
    if not event_ids:
        return {}
    statement = select(Registration).where(
        col(Registration.event_id).in_(sorted(set(event_ids))),
        Registration.person_id == person_id,
        Registration.status != RegistrationStatus.CANCELLED,
    )
    found: dict[int, SignUp] = {}
    for registration in (await session.exec(statement)).all():
        position = await _waitlist_position(session=session, registration=registration)
        found[registration.event_id] = SignUp(RegistrationStatus(registration.status), position)
    return found


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


def _cleaned(fields: EventFields) -> dict[str, Any]:
    """The fields as an event's columns, title and venue tidied."""
    values = dataclasses.asdict(fields)
    values.update(title=clean_title(fields.title), venue=clean_venue(fields.venue))
    return values


async def _unused_code(session: AsyncSession) -> str:
    """A fresh code no event has (the unique constraint still guards a simultaneous draw)."""
    for _ in range(_NEW_CODE_ATTEMPTS):
        code = codes.new_code()
        taken = (await session.exec(select(Event.id).where(Event.code == code))).first()
        if taken is None:
            return code
    raise RuntimeError("could not draw a unique event code")


async def _active_event(*, session: AsyncSession, access: Access, event_id: int) -> Event:
    """An event an organiser may change: the right is checked first, then the event is locked;
    a cancelled one can no longer be changed."""
    access.require(Capability.MANAGE_EVENTS)
    event = await get_event(session=session, event_id=event_id, lock=True)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    return event


async def event_to_manage(*, session: AsyncSession, access: Access, event_id: int) -> Event:
    """An active event, for someone who may manage events (else NotAllowed, NotFound or
    EventIsCancelled): before asking an organiser to confirm an act on it."""
    access.require(Capability.MANAGE_EVENTS)
    event = await get_event(session=session, event_id=event_id)
    if event.status == EventStatus.CANCELLED:
        raise EventIsCancelled()
    return event


async def create_event(
    *, session: AsyncSession, access: Access, fields: EventFields, now: datetime
) -> Event:
    """A new event with a fresh code and token; audited."""
    access.require(Capability.MANAGE_EVENTS)
    check_fields(fields)
    check_times(starts_at=fields.starts_at, ends_at=fields.ends_at, now=now)
    event = Event(
        **_cleaned(fields),
        code=await _unused_code(session),
        token=codes.new_token(),
        code_rotated_at=now,
        created_by_id=access.person_id,
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    await session.flush()
    _audit(session=session, access=access, action=AuditAction.EVENT_CREATE, event=event, now=now)
    return event


async def update_event(
    *,
    session: AsyncSession,
    access: Access,
    event_id: int,
    fields: EventFields,
    now: datetime,
    notifier: Notifier,
) -> tuple[Event, list[Recipient]]:
    """Change an event's details (code and token stay); audited. A larger capacity moves
    people up from the waiting list, and they are told."""
    access.require(Capability.MANAGE_EVENTS)
    check_fields(fields)
    event = await _active_event(session=session, access=access, event_id=event_id)
    for name, value in _cleaned(fields).items():
        setattr(event, name, value)
    event.updated_at = now
    session.add(event)
    _audit(session=session, access=access, action=AuditAction.EVENT_UPDATE, event=event, now=now)
    promoted = await _fill_free_places(session=session, event=event, now=now)
    await notify_promoted(
        session=session, notifier=notifier, event=event, promoted=promoted, now=now
    )
    return event, promoted


def _set_override(
    *, session: AsyncSession, access: Access, event: Event, override: str | None, now: datetime
) -> None:
    """Open or close check-in by hand, or go back to the clock; audited."""
    if override not in (OVERRIDE_OPEN, OVERRIDE_CLOSED, None):
        raise ValueError(f"unknown override {override!r}")
    event.checkin_override = override
    event.updated_at = now
    session.add(event)
    _audit(session=session, access=access, action=_OVERRIDE_ACTIONS[override], event=event, now=now)


def _set_rotation(
    *, session: AsyncSession, access: Access, event: Event, seconds: int | None, now: datetime
) -> None:
    """Rotate the code every `seconds`, or stop (None); audited."""
    if seconds is not None and not 15 <= seconds <= 86_400:
        raise InvalidEventField("rotation", "out_of_range")
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


def _set_checkout(
    *, session: AsyncSession, access: Access, event: Event, enabled: bool, now: datetime
) -> None:
    """Turn /checkout on or off; audited."""
    event.checkout_enabled = enabled
    event.updated_at = now
    session.add(event)
    action = AuditAction.EVENT_CHECKOUT_ON if enabled else AuditAction.EVENT_CHECKOUT_OFF
    _audit(session=session, access=access, action=action, event=event, now=now)


async def set_checkin_override(
    *, session: AsyncSession, access: Access, event_id: int, override: str | None, now: datetime
) -> Event:
    """Open or close check-in by hand ("open", "closed"), or go back to the clock (None)."""
    event = await _active_event(session=session, access=access, event_id=event_id)
    _set_override(session=session, access=access, event=event, override=override, now=now)
    return event


async def set_auto_rotation(
    *, session: AsyncSession, access: Access, event_id: int, seconds: int | None, now: datetime
) -> Event:
    """Turn automatic code rotation on (every `seconds`) or off (None); audited."""
    event = await _active_event(session=session, access=access, event_id=event_id)
    _set_rotation(session=session, access=access, event=event, seconds=seconds, now=now)
    return event


async def set_checkout(
    *, session: AsyncSession, access: Access, event_id: int, enabled: bool, now: datetime
) -> Event:
    """Turn /checkout on or off for an event; audited."""
    event = await _active_event(session=session, access=access, event_id=event_id)
    _set_checkout(session=session, access=access, event=event, enabled=enabled, now=now)
    return event


def switches(event: Event, *, checkin_open: bool) -> tuple[Switch, Switch, Switch]:
    """The switches an event's card offers, each the opposite of the event's state now:
    check-in (by hand), code rotation every five minutes, and /checkout."""
    return (
        Switch.CLOSE if checkin_open else Switch.OPEN,
        Switch.AUTO_OFF if event.code_rotate_seconds else Switch.AUTO_ON,
        Switch.CHECKOUT_OFF if event.checkout_enabled else Switch.CHECKOUT_ON,
    )


async def flip(
    *, session: AsyncSession, access: Access, event_id: int, switch: Switch, now: datetime
) -> Changed:
    """Set the state a switch names; a state the event already has changes nothing (no audit)."""
    event = await _active_event(session=session, access=access, event_id=event_id)
    if switch in (Switch.OPEN, Switch.CLOSE):
        override = OVERRIDE_OPEN if switch is Switch.OPEN else OVERRIDE_CLOSED
        if event.checkin_override == override:
            return Changed(event, changed=False)
        _set_override(session=session, access=access, event=event, override=override, now=now)
    elif switch in (Switch.AUTO_ON, Switch.AUTO_OFF):
        seconds = AUTO_ROTATE_SECONDS if switch is Switch.AUTO_ON else None
        if (event.code_rotate_seconds is None) == (seconds is None):
            return Changed(event, changed=False)
        _set_rotation(session=session, access=access, event=event, seconds=seconds, now=now)
    else:
        enabled = switch is Switch.CHECKOUT_ON
        if event.checkout_enabled == enabled:
            return Changed(event, changed=False)
        _set_checkout(session=session, access=access, event=event, enabled=enabled, now=now)
    return Changed(event, changed=True)


def code_version(event: Event) -> int:
    """A short fingerprint of the event's current code (not the code itself): a confirmation
    asked for one code changes nothing once the code has changed."""
    return zlib.crc32(event.code.encode()) % 1_000_000_000


async def rotate_code(
    *, session: AsyncSession, access: Access, event_id: int, now: datetime
) -> Event:
    """A new code; the old one stops working at once (and so do codes derived from it). The
    deep link and the QR code (the event's token) stay the same."""
    event = await _active_event(session=session, access=access, event_id=event_id)
    await _rotate(session=session, access=access, event=event, now=now)
    return event


async def _rotate(*, session: AsyncSession, access: Access, event: Event, now: datetime) -> None:
    """Draw the event a new code; audited."""
    event.code = await _unused_code(session)
    event.code_rotated_at = now
    event.updated_at = now
    session.add(event)
    _audit(
        session=session, access=access, action=AuditAction.EVENT_ROTATE_CODE, event=event, now=now
    )


async def rotate_confirmed(
    *, session: AsyncSession, access: Access, event_id: int, version: int, now: datetime
) -> Changed:
    """Rotate the code the organiser confirmed changing (`version`); a code already changed
    since (a second press of the same confirmation) is left alone."""
    event = await _active_event(session=session, access=access, event_id=event_id)
    if code_version(event) != version:
        return Changed(event, changed=False)
    await _rotate(session=session, access=access, event=event, now=now)
    return Changed(event, changed=True)


async def cancel_event(
    *, session: AsyncSession, access: Access, event_id: int, now: datetime, notifier: Notifier
) -> Cancelled:
    """Cancel the event; everyone signed up or waiting is told (through the outbox)."""
    event = await _active_event(session=session, access=access, event_id=event_id)
    event.status = EventStatus.CANCELLED
    event.updated_at = now
    session.add(event)
    _audit(session=session, access=access, action=AuditAction.EVENT_CANCEL, event=event, now=now)
    statement = (
        select(Registration.person_id)
        .where(
            Registration.event_id == event_id,
            col(Registration.status).in_(
                [RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED]
            ),
        )
        .order_by(col(Registration.created_at))
    )
    person_ids = list((await session.exec(statement)).all())
    told = await notifier.notify(
        session,
        Notice("events.cancelled_notice", _event_values(event)),
        person_ids=person_ids,
        author_id=access.person_id,
        event_id=event.id,
        now=now,
    )
    return Cancelled(event, told)


def _event_values(event: Event) -> dict[str, str | When]:
    """What a notice about an event says of it: its title and when it starts."""
    return {"title": event.title, "when": When(event.starts_at, "long")}


# ---------------------------------------------------------------------------------------------
# Sign-ups and the waiting list


async def rsvp(
    *, session: AsyncSession, event_id: int, person_id: int, now: datetime
) -> RsvpResult:
    """Sign up for an event, or join its waiting list when it is full."""
    # Locking the event row serialises sign-ups per event, so two people never take the last
    # place.
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
    registration.created_at = now  # a place on the waiting list counts from this sign-up
    registration.updated_at = now
    session.add(registration)
    await session.flush()
    position = await _waitlist_position(session=session, registration=registration)
    return RsvpResult(status, position)


async def cancel_rsvp(
    *, session: AsyncSession, event_id: int, person_id: int, now: datetime
) -> CancelRsvpResult:
    """Withdraw a sign-up; the first on the waiting list takes a freed place.

    The caller must tell whoever moved up: `withdraw` does both.
    """
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
    return CancelRsvpResult(promoted=promoted[0] if promoted else None)


async def withdraw(
    *, session: AsyncSession, notifier: Notifier, event_id: int, person_id: int, now: datetime
) -> CancelRsvpResult:
    """Withdraw a sign-up; whoever moves up from the waiting list is told (outbox)."""
    result = await cancel_rsvp(session=session, event_id=event_id, person_id=person_id, now=now)
    if result.promoted is not None:
        event = await get_event(session=session, event_id=event_id)
        await notify_promoted(
            session=session, notifier=notifier, event=event, promoted=[result.promoted], now=now
        )
    return result


async def notify_promoted(
    *,
    session: AsyncSession,
    notifier: Notifier,
    event: Event,
    promoted: Sequence[Recipient],
    now: datetime,
) -> int:
    """Tell the people who moved up from the waiting list that they have a place."""
    if not promoted:
        return 0
    return await notifier.notify(
        session,
        Notice("events.promoted", _event_values(event)),
        person_ids=[recipient.person_id for recipient in promoted],
        event_id=event.id,
        now=now,
    )


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
