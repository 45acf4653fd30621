"""Report use cases: /headcount, /summary and /export, one transaction each, plain results.

A command names its event by code or number, or names none (the event happening now, else the
latest). When the argument names no event, the result is the list of recent events to choose
from (`EventChoice`); a chosen event comes back as a button, and every button is re-checked
here: the presser's rights now, and the event as it is now.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.scope import Actor
from bot.services import exports
from bot.services import headcount as counting
from bot.services.access import Capability
from bot.services.exports import ExportFiles, Labels
from bot.services.headcount import EventNotFound, Headcount, NoEvents
from bot.usecases import transaction

__all__ = ["EventChoice", "EventPick", "Labels", "Summary"]

T = TypeVar("T")


@dataclass(frozen=True)
class EventPick:
    """An event as a picker button shows it."""

    id: int
    title: str
    starts_at: datetime


@dataclass(frozen=True)
class EventChoice:
    """The argument named no event: the recent events to choose from (never empty)."""

    events: tuple[EventPick, ...]


@dataclass(frozen=True)
class Summary:
    """The figures of a press paragraph: the viewer's headcount, and the event's total."""

    headcount: Headcount
    # Everyone who came, in every zone (a coordinator's headcount covers their zones only).
    event_total: int


async def _on_event(
    session: AsyncSession,
    actor: Actor,
    capability: Capability,
    argument: str,
    now: datetime,
    then: Callable[[int], Awaitable[T]],
) -> T | EventChoice:
    """`then(event id)` for the event the argument means, or the recent events when it means
    none (NoEvents when there is none at all)."""
    actor.access.require(capability)
    try:
        event = await counting.find_event(session=session, argument=argument, now=now)
    except EventNotFound:
        recent = await counting.recent_events(session=session, now=now)
        if not recent:
            raise NoEvents() from None
        return EventChoice(
            tuple(EventPick(e.id or 0, e.title, e.starts_at) for e in recent if e.id is not None)
        )
    return await then(event.id or 0)


async def _headcount(session: AsyncSession, actor: Actor, event_id: int) -> Headcount:
    """The figures within the actor's zones (the service checks the actor's rights)."""
    return await counting.headcount(session=session, access=actor.access, event_id=event_id)


@transaction
async def headcount(
    session: AsyncSession, *, actor: Actor, argument: str, now: datetime
) -> Headcount | EventChoice:
    """/headcount [event]: the figures within the actor's zones, or events to choose from."""
    counted = functools.partial(_headcount, session, actor)
    return await _on_event(session, actor, Capability.VIEW_HEADCOUNT, argument, now, counted)


@transaction
async def headcount_of(session: AsyncSession, *, actor: Actor, event_id: int) -> Headcount:
    """A headcount asked for by a button (pick, refresh, chart): rights checked again."""
    return await _headcount(session, actor, event_id)


async def _summary(session: AsyncSession, actor: Actor, event_id: int) -> Summary:
    """The viewer's headcount and, for a coordinator, the event's total beside it."""
    result = await _headcount(session, actor, event_id)
    if result.zone_limit is None:
        return Summary(result, result.total)
    total = await counting.arrived_count(session=session, event_id=event_id)
    return Summary(result, total)


@transaction
async def summary(
    session: AsyncSession, *, actor: Actor, argument: str, now: datetime
) -> Summary | EventChoice:
    """/summary [event]: the figures of the press paragraph, or events to choose from."""
    summed = functools.partial(_summary, session, actor)
    return await _on_event(session, actor, Capability.VIEW_HEADCOUNT, argument, now, summed)


@transaction
async def summary_of(session: AsyncSession, *, actor: Actor, event_id: int) -> Summary:
    """A summary asked for by a picker button: rights checked again."""
    return await _summary(session, actor, event_id)


async def _export(
    session: AsyncSession, actor: Actor, labels: Labels, now: datetime, event_id: int
) -> ExportFiles:
    """An event's attendees and headcount as CSV and XLSX; audited in this transaction."""
    return await exports.export_attendees(
        session=session,
        access=actor.access,
        event_id=event_id,
        t=labels.t,
        tz=labels.tz,
        zone_names=labels.zone_names,
        now=now,
    )


@transaction
async def export_event(
    session: AsyncSession, *, actor: Actor, argument: str, labels: Labels, now: datetime
) -> ExportFiles | EventChoice:
    """/export [event]: the attendee files, or events to choose from."""
    exported = functools.partial(_export, session, actor, labels, now)
    return await _on_event(session, actor, Capability.EXPORT, argument, now, exported)


@transaction
async def export_event_of(
    session: AsyncSession, *, actor: Actor, event_id: int, labels: Labels, now: datetime
) -> ExportFiles:
    """The attendee files of an event chosen by a button: rights checked again."""
    return await _export(session, actor, labels, now, event_id)


@transaction
async def export_volunteers(
    session: AsyncSession, *, actor: Actor, labels: Labels, now: datetime
) -> ExportFiles:
    """/export volunteers: the volunteer roster as CSV and XLSX; audited."""
    return await exports.export_volunteers(
        session=session,
        access=actor.access,
        t=labels.t,
        tz=labels.tz,
        zone_names=labels.zone_names,
        now=now,
    )
