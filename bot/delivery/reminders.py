"""Automatic event reminders: when each is due, whether it still makes sense, and what it says.

Every reminder is an announcement with `event_id` and `reminder_kind` set; the table's unique
constraint on that pair means a reminder of one kind exists once per event, however often the
sweep and the alarms fire, and its deliveries go through the same outbox as broadcasts.
Reminders are rendered at send time in each recipient's own language.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.config import ReminderSettings
from bot.delivery.dispatcher import Content
from bot.i18n import translator
from bot.i18n.dates import format_duration, format_time_range
from bot.runtime import Runtime
from bot.services import announcements, events
from bot.services.audiences import AudienceKind
from bot.services.errors import DomainError, NotRegistered
from storage.models import (
    Announcement,
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

_log = logging.getLogger(__name__)

RSVP_PREFIX = "rsvp:"
MAX_LIST_NAMES = 150


# Reminders due closer together than this are one message (see should_send).
MERGE_WINDOW = timedelta(minutes=15)


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


def _audience(kind: ReminderKind, event_id: int, zones: Iterable[int]) -> dict[str, Any]:
    """Who a reminder of this kind goes to."""
    if kind is ReminderKind.ABSENT_LIST:
        return {"kind": AudienceKind.COORDINATORS.value, "values": sorted(set(zones))}
    if kind in (ReminderKind.NUDGE, ReminderKind.CHECKIN_OPEN):
        return {"kind": AudienceKind.EVENT_ABSENT.value, "event_id": event_id}
    return {"kind": AudienceKind.EVENT.value, "event_id": event_id}


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


async def materialise_due(
    *, session: AsyncSession, offsets: ReminderSettings, now: datetime
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
                session=session, event_id=event.id, kind=kind, now=now
            )
            if announcement_id is not None:
                created.append(announcement_id)
    return created


async def _create_reminder(
    *, session: AsyncSession, event_id: int, kind: ReminderKind, now: datetime
) -> int | None:
    """One reminder and its deliveries, in one transaction; None if it already existed."""
    zones: list[int] = []
    if kind is ReminderKind.ABSENT_LIST:
        zones = await _absent_zones(session=session, event_id=event_id)
    announcement = Announcement(
        audience=_audience(kind, event_id, zones),
        event_id=event_id,
        reminder_kind=kind.value,
        status=AnnouncementStatus.SENDING,
        send_at=now,
        created_at=now,
        started_at=now,
    )
    session.add(announcement)
    try:
        await session.flush()
    except IntegrityError:
        # Another pass (or process) created it first: the unique constraint said no.
        await session.rollback()
        return None
    if kind is ReminderKind.ABSENT_LIST and not zones:
        # Nobody is missing (or nobody missing has a zone): nothing to send; it is done.
        announcement.status = AnnouncementStatus.DONE
        announcement.finished_at = now
        session.add(announcement)
    else:
        await announcements.materialise(session=session, announcement=announcement, now=now)
    await session.commit()
    return announcement.id


async def _absent_zones(*, session: AsyncSession, event_id: int) -> list[int]:
    """The zones of registrants who have not checked in."""
    rows = (await session.exec(_absent_query(event_id))).all()
    return sorted({district.zone for _, district in rows if district.zone is not None})


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


# -- rendering ------------------------------------------------------------------------------


def rsvp_keyboard(event_id: int, lang: str) -> InlineKeyboardMarkup:
    """The two answers a registrant can give."""
    t = translator(lang)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t("reminder.button.yes"), callback_data=f"{RSVP_PREFIX}y:{event_id}"
                ),
                InlineKeyboardButton(
                    t("reminder.button.no"), callback_data=f"{RSVP_PREFIX}n:{event_id}"
                ),
            ]
        ]
    )


def reminder_text(kind: ReminderKind, event: Event, lang: str, runtime: Runtime) -> str:
    """A registrant's reminder, in their language."""
    t = translator(lang)
    tz = runtime.settings.tz
    lead = runtime.settings.reminders.hour_before_minutes * 60
    return t(
        f"reminder.{kind.value}",
        title=event.title,
        venue=event.venue,
        when=format_time_range(event.starts_at, event.ends_at, lang=lang, tz=tz),
        lead=format_duration(lead, lang=lang),
    )


async def render(
    session: AsyncSession, runtime: Runtime, announcement: Announcement, person_ids: list[int]
) -> dict[int, Content]:
    """Each recipient's copy of a reminder (the dispatcher's renderer for reminder kinds)."""
    if announcement.event_id is None or announcement.reminder_kind is None:
        return {}
    event = await session.get(Event, announcement.event_id)
    if event is None:
        return {}
    kind = ReminderKind(announcement.reminder_kind)
    people = (await session.exec(select(Person).where(col(Person.id).in_(person_ids)))).all()
    if kind is ReminderKind.ABSENT_LIST:
        return await _render_lists(session, runtime, event, list(people))
    contents: dict[int, Content] = {}
    for person in people:
        contents[person.id or 0] = Content(
            text=reminder_text(kind, event, person.language, runtime),
            reply_markup=rsvp_keyboard(event.id or 0, person.language),
        )
    return contents


async def _render_lists(
    session: AsyncSession, runtime: Runtime, event: Event, coordinators: list[Person]
) -> dict[int, Content]:
    """Each coordinator's list of the registrants in their zones who have not checked in."""
    rows = (await session.exec(_absent_query(event.id or 0))).all()
    contents: dict[int, Content] = {}
    for coordinator in coordinators:
        zones = set(
            (
                await session.exec(
                    select(CoordinatorZone.zone).where(
                        col(CoordinatorZone.person_id) == coordinator.id
                    )
                )
            ).all()
        )
        t = translator(coordinator.language)
        names = [
            t(
                "reminder.absent_list.line",
                name=person.full_name or "?",
                district=district.name_th if t.lang == "th" else district.name_en,
            )
            for person, district in rows
            if district.zone in zones
        ]
        if not names:
            continue
        shown = names[:MAX_LIST_NAMES]
        text = "\n".join([t("reminder.absent_list", title=event.title, count=len(names)), *shown])
        if len(names) > len(shown):
            text += "\n" + t("reminder.absent_list.more", count=len(names) - len(shown))
        contents[coordinator.id or 0] = Content(text=text[: announcements.MAX_TEXT_CHARS])
    return contents


# -- the RSVP buttons -----------------------------------------------------------------------


class EventOver(DomainError):
    """The event has ended or was cancelled: answers no longer change anything."""

    key = "reminder.error.event_over"


class RegistrationGone(DomainError):
    """The person has no active registration for this event."""

    key = "reminder.error.not_registered"


@dataclass(frozen=True)
class RsvpResult:
    """What an answer changed."""

    attending: bool
    event_title: str
    language: str = "th"
    promoted_chat_ids: tuple[tuple[int, str], ...] = ()


async def rsvp(
    *, session: AsyncSession, telegram_id: int, event_id: int, attending: bool, now: datetime
) -> RsvpResult:
    """Record "I'll be there" or "I can't come"; a freed place goes to the waiting list."""
    person = (
        await session.exec(
            select(Person).where(
                col(Person.telegram_id) == telegram_id, col(Person.erased_at).is_(None)
            )
        )
    ).first()
    if person is None:
        raise NotRegistered()
    event = await session.get(Event, event_id)
    if event is None or event.status != EventStatus.ACTIVE or now >= event.ends_at:
        raise EventOver()
    registration = (
        await session.exec(
            select(Registration).where(
                col(Registration.event_id) == event_id,
                col(Registration.person_id) == person.id,
            )
        )
    ).first()
    if registration is None or registration.status == RegistrationStatus.CANCELLED:
        raise RegistrationGone()
    registration.attending = "yes" if attending else "no"
    registration.updated_at = now
    session.add(registration)
    promoted: list[tuple[int, str]] = []
    if attending:
        await session.commit()
    else:
        # The events service owns the waiting list: it cancels and moves the next one up.
        result = await events.cancel_rsvp(
            session=session, event_id=event_id, person_id=person.id or 0, now=now
        )
        # The events service no longer commits; until this moves into a use case, do it here.
        await session.commit()
        if result.promoted is not None:
            promoted.append((result.promoted.telegram_id, result.promoted.language))
    return RsvpResult(
        attending=attending,
        event_title=event.title,
        language=person.language,
        promoted_chat_ids=tuple(promoted),
    )
