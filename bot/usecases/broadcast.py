"""Broadcast use cases: writing one (/broadcast), managing them (/announcements), and the
answers registrants give on a reminder. One transaction each, plain results, no Telegram.

Nothing is written before the author confirms: the steps of /broadcast only read (who may be
addressed, how many that reaches), and `confirm` checks everything again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from bot.i18n import terms
from bot.scope import Actor
from bot.services import announcements, audiences, reminders
from bot.services.announcements import Summary
from bot.services.audiences import EVENT_KINDS, AudienceKind
from bot.services.errors import DomainError, NotRegistered
from bot.services.notify import Notifier
from bot.services.reminders import RsvpResult
from bot.usecases import transaction
from storage.models import ParticipantType, VolunteerRole

# Events offered for an event's registrants: the soonest this many.
MAX_EVENTS_OFFERED = 10


@dataclass(frozen=True)
class Option:
    """One value an author can pick: what its button carries, and how it reads.

    `name` is ready to show (a zone's or district's name); `term` is a translation key
    (a role, a participant type); an event has its title and start.
    """

    value: str
    name: str = ""
    term: str | None = None
    starts_at: datetime | None = None


@dataclass(frozen=True)
class Audience:
    """An audience as it will be sent: the spec, how many it reaches now, its event's title."""

    spec: dict[str, Any]
    count: int
    event_title: str | None = None


@dataclass(frozen=True)
class Created:
    """A confirmed broadcast: sending now (to `count` people) or scheduled for `send_at`."""

    id: int
    count: int
    send_at: datetime | None


def kinds(actor: Actor) -> list[AudienceKind]:
    """The kinds of audience this person may choose (NoZones for a coordinator without any)."""
    return audiences.kinds_for(actor.access)


def spec_of(kind: str, values: list[str], event_id: int | None) -> dict[str, Any]:
    """The audience spec of what was chosen (checked by the services when it is used)."""
    chosen: list[Any] = [int(v) if v.isdigit() else v for v in values]
    if kind == AudienceKind.ZONES:
        return {"kind": kind, "values": chosen}
    if kind in EVENT_KINDS:
        return {"kind": kind, "event_id": event_id}
    if kind == AudienceKind.EVERYONE:
        return {"kind": kind}
    return {"kind": kind, "values": values}


def term_options(kind: str) -> list[Option]:
    """Volunteer roles and participant types: their words come from the term table."""
    if kind == AudienceKind.ROLES:
        return [Option(role.value, term=terms.volunteer_role(role)) for role in VolunteerRole]
    if kind == AudienceKind.TYPES:
        return [Option(t.value, term=terms.participant_type(t)) for t in ParticipantType]
    return []


@transaction
async def options(
    session: AsyncSession,
    *,
    actor: Actor,
    kind: AudienceKind,
    geography: Geography,
    lang: str,
    now: datetime,
) -> list[Option]:
    """The values this person can pick for a kind (a coordinator: within their zones); none
    when they may not choose the kind (any more)."""
    try:
        allowed = kinds(actor)
    except DomainError:
        return []
    if kind not in allowed:
        return []
    limit = actor.zone_limit()
    if kind is AudienceKind.ZONES:
        return [
            Option(str(zone.number), zone.name(lang))
            for zone in geography.zones
            if limit is None or zone.number in limit
        ]
    if kind is AudienceKind.DISTRICTS:
        return [
            Option(district.code, district.name(lang))
            for district in geography.districts
            if limit is None or (district.zone is not None and district.zone in limit)
        ]
    if kind in (AudienceKind.ROLES, AudienceKind.TYPES):
        return term_options(kind)
    if kind in EVENT_KINDS:
        found = await audiences.event_choices(session=session, now=now, limit=MAX_EVENTS_OFFERED)
        return [Option(str(e.id), e.title, starts_at=e.starts_at) for e in found]
    return []


@transaction
async def audience(session: AsyncSession, *, actor: Actor, spec: dict[str, Any]) -> Audience:
    """The audience as this person may send it (a coordinator's narrowed to their zones), and
    how many it reaches now; a DomainError if they may not address it."""
    found = await announcements.preview(session=session, access=actor.access, audience=spec)
    title = await announcements.event_title(session=session, spec=found.audience)
    return Audience(spec=found.audience, count=found.count, event_title=title)


def check_text(text: str) -> str:
    """The text, if it can be sent (something visible, within one message)."""
    return announcements.check_text(text)


def check_send_at(send_at: datetime, *, now: datetime) -> None:
    """A time to send at must be in the future."""
    announcements.check_send_at(send_at, now=now)


@transaction
async def confirm(
    session: AsyncSession,
    *,
    actor: Actor,
    spec: dict[str, Any],
    text: str,
    entities: list[dict[str, Any]],
    send_at: datetime | None,
    now: datetime,
) -> Created:
    """The author confirmed: the announcement and (when it goes now) its deliveries."""
    created = await announcements.create(
        session=session,
        access=actor.access,
        author_chat=actor.telegram_id,
        audience=spec,
        text=text,
        entities=entities or None,
        send_at=send_at,
        now=now,
    )
    count = 0
    if send_at is None:
        progress = await announcements.progress(session=session, announcement_ids=[created.id or 0])
        count = progress[created.id or 0].total
    return Created(id=created.id or 0, count=count, send_at=send_at)


# -- /announcements ----------------------------------------------------------------------------


@transaction
async def listing(session: AsyncSession, *, actor: Actor) -> list[Summary]:
    """Scheduled and recent broadcasts this person may see, with their progress."""
    return await announcements.listing(session=session, access=actor.access)


@transaction
async def cancel(
    session: AsyncSession, *, actor: Actor, announcement_id: int, now: datetime
) -> None:
    """Cancel a scheduled broadcast that has not started."""
    await announcements.cancel(
        session=session, access=actor.access, announcement_id=announcement_id, now=now
    )


@transaction
async def check_editable(session: AsyncSession, *, actor: Actor, announcement_id: int) -> None:
    """Whether this person may still move this broadcast (a DomainError if not)."""
    await announcements.check_editable(
        session=session, access=actor.access, announcement_id=announcement_id
    )


@transaction
async def reschedule(
    session: AsyncSession, *, actor: Actor, announcement_id: int, send_at: datetime, now: datetime
) -> None:
    """Move a scheduled broadcast that has not started."""
    await announcements.reschedule(
        session=session,
        access=actor.access,
        announcement_id=announcement_id,
        send_at=send_at,
        now=now,
    )


# -- answers on a reminder -----------------------------------------------------------------------


def _person_id(actor: Actor) -> int:
    """The actor's record, or NotRegistered."""
    if actor.person_id is None:
        raise NotRegistered()
    return actor.person_id


@transaction
async def attend(
    session: AsyncSession, *, actor: Actor, event_id: int, now: datetime
) -> RsvpResult:
    """ "I'll be there"."""
    return await reminders.attend(
        session=session, person_id=_person_id(actor), event_id=event_id, now=now
    )


@transaction
async def ask_withdrawal(
    session: AsyncSession, *, actor: Actor, event_id: int, now: datetime
) -> RsvpResult:
    """ "I can't come", not yet confirmed: whether it can be done (nothing changes)."""
    return await reminders.check_withdrawal(
        session=session, person_id=_person_id(actor), event_id=event_id, now=now
    )


@transaction
async def withdraw(
    session: AsyncSession, *, actor: Actor, notifier: Notifier, event_id: int, now: datetime
) -> RsvpResult:
    """ "I can't come", confirmed: the place goes to the waiting list, whose first is told."""
    return await reminders.withdraw(
        session=session,
        notifier=notifier,
        person_id=_person_id(actor),
        event_id=event_id,
        now=now,
    )
