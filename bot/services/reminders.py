"""Automatic event reminders: when each is due, whether it still makes sense, who gets it, and
the registrants' answers to it.

Every reminder is an announcement with `event_id` and `reminder_kind` set; the table's unique
constraint on that pair means a reminder of one kind exists once per event, however often the
sweep and the alarms fire (and on however many replicas). Registrants' reminders go through the
outbox like broadcasts and are rendered at send time in each recipient's language, with the
"I'll be there / I can't come" buttons (bot/delivery/reminders.py). The zone coordinators' list
of registrants still missing is a notice per coordinator (bot/services/notify.py), queued in the
same transaction that records the reminder as done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import ReminderSettings
from bot.services import announcements, events
from bot.services.audiences import AudienceKind
from bot.services.errors import DomainError, NotRegistered
from bot.services.notify import Notice, Notifier
from storage.models import (
    Announcement,
    AnnouncementKind,
    AnnouncementStatus,
    CheckIn,
    CoordinatorZone,
    District,
    Event,
    EventStatus,
    Person,
    Registration,
    RegistrationStatus,
)

# Reminders due closer together than this are one message (see should_send).
MERGE_WINDOW = timedelta(minutes=15)
# The coordinators' list: at most this many names, and within one message.
MAX_LIST_NAMES = 150
LIST_BUDGET_CHARS = 3600


class ReminderKind(StrEnum):
    """The automatic reminders of an event."""

    DAY_BEFORE = "day_before"
    HOUR_BEFORE = "hour_before"
    CHECKIN_OPEN = "checkin_open"
    NUDGE = "nudge"
    # The coordinators' list of registrants who have not checked in, sent with the nudge.
    ABSENT_LIST = "absent_list"


# Reminders that go to registrants and carry the "I'll be there / I can't come" buttons.
RSVP_KINDS = frozenset(
    {
        ReminderKind.DAY_BEFORE,
        ReminderKind.HOUR_BEFORE,
        ReminderKind.CHECKIN_OPEN,
        ReminderKind.NUDGE,
    }
)


@dataclass(frozen=True)
class EventTimes:
    """The moments of an event that reminders depend on."""

    created_at: datetime
    starts_at: datetime
    ends_at: datetime
    opens_at: datetime
    closes_at: datetime
    active: bool = True


def times_of(event: Event) -> EventTimes:
    """An event's moments (its check-in window from its own settings)."""
    return EventTimes(
        created_at=event.created_at,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        opens_at=event.starts_at - timedelta(minutes=event.opens_before_minutes),
        closes_at=event.ends_at + timedelta(minutes=event.closes_after_minutes),
        active=event.status == EventStatus.ACTIVE,
    )


def due_at(kind: ReminderKind, times: EventTimes, offsets: ReminderSettings) -> datetime:
    """When a reminder of this kind is due for an event."""
    if kind is ReminderKind.DAY_BEFORE:
        return times.starts_at - timedelta(hours=offsets.day_before_hours)
    if kind is ReminderKind.HOUR_BEFORE:
        return times.starts_at - timedelta(minutes=offsets.hour_before_minutes)
    if kind is ReminderKind.CHECKIN_OPEN:
        return times.opens_at
    return times.starts_at + timedelta(minutes=offsets.nudge_after_start_minutes)


def should_send(
    kind: ReminderKind, times: EventTimes, offsets: ReminderSettings, now: datetime
) -> bool:
    """The one rule for reminders: due, and still making sense (even if sent late).

    - nothing for a cancelled event, nor before the reminder's time;
    - nothing for a time that had already passed when the event was created (it never existed);
    - the day-before reminder only until the one-hour reminder takes over;
    - the one-hour reminder only before the start, and not at all when check-in opens at
      (nearly) the same time: "check-in is open" then says the same, in one message, not two;
    - "check-in is open" only while the window is open;
    - the nudge and the coordinators' list only before the event ends.
    """
    due = due_at(kind, times, offsets)
    if not times.active or now < due or times.created_at > due:
        return False
    if kind is ReminderKind.DAY_BEFORE:
        return now < due_at(ReminderKind.HOUR_BEFORE, times, offsets) and now < times.starts_at
    if kind is ReminderKind.HOUR_BEFORE:
        return now < times.starts_at and not _said_by_checkin_open(times, offsets)
    if kind is ReminderKind.CHECKIN_OPEN:
        return times.opens_at <= now < times.closes_at
    return now < times.ends_at


def _said_by_checkin_open(times: EventTimes, offsets: ReminderSettings) -> bool:
    """Whether the window opens so close to the one-hour reminder that one message will do."""
    hour_before = due_at(ReminderKind.HOUR_BEFORE, times, offsets)
    return abs(times.opens_at - hour_before) < MERGE_WINDOW


def next_alarms(
    times: EventTimes, offsets: ReminderSettings, now: datetime
) -> dict[ReminderKind, datetime]:
    """The reminders of an event still to come, and when."""
    alarms = {}
    for kind in ReminderKind:
        due = due_at(kind, times, offsets)
        if times.active and due > now and times.created_at <= due:
            alarms[kind] = due
    return alarms


def _audience(kind: ReminderKind, event_id: int) -> dict[str, Any]:
    """Who a registrants' reminder of this kind goes to."""
    if kind in (ReminderKind.NUDGE, ReminderKind.CHECKIN_OPEN):
        return {"kind": AudienceKind.EVENT_ABSENT.value, "event_id": event_id}
    return {"kind": AudienceKind.EVENT.value, "event_id": event_id}


# -- what is due -----------------------------------------------------------------------------


async def candidate_events(
    *, session: AsyncSession, offsets: ReminderSettings, now: datetime
) -> list[Event]:
    """Active events that may have a reminder due (not over, starting soon enough)."""
    horizon = now + timedelta(hours=offsets.day_before_hours, minutes=1)
    result = await session.exec(
        select(Event).where(
            col(Event.status) == EventStatus.ACTIVE,
            col(Event.ends_at) > now - timedelta(days=1),
            col(Event.starts_at) <= horizon,
        )
    )
    return list(result.all())


async def coming_events(*, session: AsyncSession, now: datetime) -> list[tuple[int, EventTimes]]:
    """(id, moments) of every active event that has not ended (for the alarms)."""
    result = await session.exec(
        select(Event).where(col(Event.status) == EventStatus.ACTIVE, col(Event.ends_at) > now)
    )
    return [(event.id or 0, times_of(event)) for event in result.all()]


async def event_times(*, session: AsyncSession, event_id: int) -> EventTimes | None:
    """One event's moments, if it exists."""
    event = await session.get(Event, event_id)
    return times_of(event) if event is not None else None


async def materialise_due(
    *, session: AsyncSession, notifier: Notifier, offsets: ReminderSettings, now: datetime
) -> list[int]:
    """Create (once) every reminder that is due and still makes sense, with its deliveries."""
    created: list[int] = []
    for event in await candidate_events(session=session, offsets=offsets, now=now):
        if event.id is None:
            continue
        existing = set(
            (
                await session.exec(
                    select(Announcement.reminder_kind).where(col(Announcement.event_id) == event.id)
                )
            ).all()
        )
        times = times_of(event)
        for kind in ReminderKind:
            if kind.value in existing or not should_send(kind, times, offsets, now):
                continue
            announcement_id = await _create_reminder(
                session=session, notifier=notifier, event=event, kind=kind, now=now
            )
            if announcement_id is not None:
                created.append(announcement_id)
    return created


async def _create_reminder(
    *, session: AsyncSession, notifier: Notifier, event: Event, kind: ReminderKind, now: datetime
) -> int | None:
    """One reminder and what it sends; None if another pass (or replica) made it first."""
    event_id = event.id or 0
    announcement = Announcement(
        kind=AnnouncementKind.REMINDER,
        audience=_audience(kind, event_id),
        event_id=event_id,
        reminder_kind=kind.value,
        status=AnnouncementStatus.SENDING,
        send_at=now,
        created_at=now,
        started_at=now,
    )
    try:
        # A savepoint: losing the race for the unique (event, kind) pair undoes only this.
        async with session.begin_nested():
            session.add(announcement)
            await session.flush()
    except IntegrityError:
        return None
    if kind is ReminderKind.ABSENT_LIST:
        # The lists go out as notices; the reminder row only records that they did.
        announcement.audience = {}
        announcement.status = AnnouncementStatus.DONE
        announcement.finished_at = now
        session.add(announcement)
        await _queue_absent_lists(session=session, notifier=notifier, event=event, now=now)
    else:
        await announcements.materialise(session=session, announcement=announcement, now=now)
    return announcement.id


# -- the coordinators' list of those still missing -------------------------------------------


async def _queue_absent_lists(
    *, session: AsyncSession, notifier: Notifier, event: Event, now: datetime
) -> int:
    """A notice to each zone coordinator with the registrants of their zones still missing."""
    rows = (await session.exec(_absent_query(event.id or 0))).all()
    zones = {district.zone for _, district in rows if district.zone is not None}
    if not zones:
        return 0
    coordinators = await session.exec(
        select(Person, CoordinatorZone.zone)
        .join(CoordinatorZone, col(CoordinatorZone.person_id) == col(Person.id))
        .where(col(CoordinatorZone.zone).in_(sorted(zones)))
        .order_by(col(Person.id))
    )
    theirs: dict[int, tuple[Person, set[int]]] = {}
    for person, zone in coordinators.all():
        theirs.setdefault(person.id or 0, (person, set()))[1].add(zone)
    queued = 0
    for coordinator, own in theirs.values():
        missing = [
            (
                person.full_name or "?",
                district.name_en if coordinator.language == "en" else district.name_th,
            )
            for person, district in rows
            if district.zone in own
        ]
        if not missing:
            continue
        queued += await notifier.notify(
            session,
            Notice(
                "reminder.absent_list",
                {"title": event.title, "count": len(missing), "names": _name_lines(missing)},
            ),
            person_ids=[coordinator.id or 0],
            event_id=event.id,
            now=now,
        )
    return queued


def _name_lines(missing: list[tuple[str, str]]) -> str:
    """One line per person, as many as fit in one message; then how many more."""
    lines: list[str] = []
    used = 0
    for name, district in missing[:MAX_LIST_NAMES]:
        line = f"• {name} ({district})"
        if used + len(line) + 1 > LIST_BUDGET_CHARS:
            break
        lines.append(line)
        used += len(line) + 1
    if len(lines) < len(missing):
        lines.append(f"… +{len(missing) - len(lines)}")
    return "\n".join(lines)


def _absent_query(event_id: int) -> Any:
    """Registrants of the event without a check-in, with their district."""
    checked_in = select(CheckIn.person_id).where(col(CheckIn.event_id) == event_id)
    return (
        select(Person, District)
        .join(Registration, col(Registration.person_id) == col(Person.id))
        .join(District, col(District.code) == col(Person.district_code))
        .where(
            col(Registration.event_id) == event_id,
            col(Registration.status) == RegistrationStatus.REGISTERED,
            col(Person.erased_at).is_(None),
            col(Person.id).not_in(checked_in),
        )
        .order_by(col(District.zone), col(Person.full_name))
    )


# -- the answers on a reminder ---------------------------------------------------------------


class EventOver(DomainError):
    """The event has ended or was cancelled: answers no longer change anything."""

    key = "reminder.error.event_over"


class RegistrationGone(DomainError):
    """The person has no active registration for this event."""

    key = "reminder.error.not_registered"


@dataclass(frozen=True)
class RsvpResult:
    """What an answer changed (or, for "can't come" before it is confirmed, would change)."""

    event_id: int
    event_title: str
    attending: bool
    # "I can't come" asks first; True once the registration is actually given up.
    cancelled: bool = False
    promoted: int = 0


async def _registration(
    session: AsyncSession, *, person_id: int, event_id: int, now: datetime
) -> tuple[Event, Registration]:
    """The event, still on, and this person's live registration for it."""
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotRegistered()
    event = await session.get(Event, event_id)
    if event is None or event.status != EventStatus.ACTIVE or now >= event.ends_at:
        raise EventOver()
    registration = (
        await session.exec(
            select(Registration).where(
                col(Registration.event_id) == event_id,
                col(Registration.person_id) == person_id,
            )
        )
    ).first()
    if registration is None or registration.status == RegistrationStatus.CANCELLED:
        raise RegistrationGone()
    return event, registration


async def attend(
    *, session: AsyncSession, person_id: int, event_id: int, now: datetime
) -> RsvpResult:
    """Record "I'll be there"."""
    event, registration = await _registration(
        session, person_id=person_id, event_id=event_id, now=now
    )
    registration.attending = "yes"
    registration.updated_at = now
    session.add(registration)
    return RsvpResult(event_id=event_id, event_title=event.title, attending=True)


async def check_withdrawal(
    *, session: AsyncSession, person_id: int, event_id: int, now: datetime
) -> RsvpResult:
    """ "I can't come", before it is confirmed: whether it can still be done (nothing changes)."""
    event, _ = await _registration(session, person_id=person_id, event_id=event_id, now=now)
    return RsvpResult(event_id=event_id, event_title=event.title, attending=False)


async def withdraw(
    *, session: AsyncSession, notifier: Notifier, person_id: int, event_id: int, now: datetime
) -> RsvpResult:
    """ "I can't come", confirmed: the place is given up, and the first on the waiting list
    takes it and is told (a notice through the outbox)."""
    event, registration = await _registration(
        session, person_id=person_id, event_id=event_id, now=now
    )
    registration.attending = "no"
    session.add(registration)
    # The events service owns the waiting list: it cancels, moves the next one up and tells
    # them (the same notice as a withdrawal from /events).
    result = await events.withdraw(
        session=session, notifier=notifier, event_id=event_id, person_id=person_id, now=now
    )
    promoted = 1 if result.promoted is not None else 0
    return RsvpResult(
        event_id=event_id,
        event_title=event.title,
        attending=False,
        cancelled=True,
        promoted=promoted,
    )
