"""Venue screen use cases: the link (/screen) and what a screen shows, counts only.

A screen's state holds no personal data at all: figures, the event's title, venue and times,
the code and the QR payload. Nothing here knows about HTTP or Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.scope import Actor
from bot.services import headcount as counting
from bot.services import screens
from bot.services.checkins import check_window, code_valid_until, current_code
from bot.services.dashboard import recent_arrivals
from bot.services.errors import DomainError
from bot.services.events import closes_at, opens_at
from bot.services.headcount import GROUPS
from bot.services.screens import ScreenLinkInfo
from bot.usecases import transaction
from storage.models import Event

RECENT = timedelta(minutes=15)
# Even with nothing happening, "arrivals in the last 15 minutes" ages: refreshed this often.
AGEING = timedelta(seconds=30)

STATUS_OPEN = "open"
STATUS_NOT_OPEN = "not_open"
STATUS_CLOSED = "closed"
STATUS_ENDED = "ended"


@dataclass(frozen=True)
class ScreenState:
    """Everything a venue screen shows, and when it must look again at the latest."""

    event_id: int
    title: str
    venue: str
    starts_at: datetime
    ends_at: datetime
    status: str
    opens_at: datetime
    code: str
    payload: str
    arrived: int
    signed_up: int
    capacity: int | None
    groups: dict[str, int] = field(default_factory=dict)
    recent: int = 0
    refresh_at: datetime | None = None

    def same_as(self, other: ScreenState | None) -> bool:
        """Whether a screen showing `other` shows this already (refresh_at aside)."""
        if other is None:
            return False
        return {**self.__dict__, "refresh_at": None} == {**other.__dict__, "refresh_at": None}


@dataclass(frozen=True)
class EventMark:
    """What of an event a screen follows between full looks: its code and its window."""

    code: str
    status: str


def status_of(event: Event, now: datetime) -> str:
    """open, not_open, closed (by hand) or ended."""
    try:
        check_window(event, now)
    except DomainError as refusal:
        key = refusal.key
        if key == "checkin.not_open":
            return STATUS_NOT_OPEN
        if key == "checkin.closed":
            return STATUS_CLOSED
        return STATUS_ENDED
    return STATUS_OPEN


def _next_change(event: Event, now: datetime) -> datetime:
    """The next moment the screen changes by the clock alone."""
    moments = [now + AGEING, closes_at(event)]
    if now < opens_at(event):
        moments.append(opens_at(event))
    valid_until = code_valid_until(event, now)
    if valid_until is not None:
        moments.append(valid_until)
    return min(moment for moment in moments if moment > now)


@transaction
async def link_for(
    session: AsyncSession,
    *,
    actor: Actor,
    argument: str | None,
    event_id: int | None,
    secret: bytes,
    now: datetime,
    renew: bool = False,
) -> ScreenLinkInfo:
    """/screen [event]: the event's screen link (a new one, revoking the old, with `renew`)."""
    if event_id is None:
        event = await counting.find_event(session=session, argument=argument, now=now)
        event_id = event.id or 0
    return await screens.screen_link(
        session=session,
        access=actor.access,
        event_id=event_id,
        secret=secret,
        now=now,
        renew=renew,
    )


@transaction
async def event_of(session: AsyncSession, *, link: str, secret: bytes, now: datetime) -> int:
    """The event a screen link shows (LinkInvalid, EventOver)."""
    event = await screens.event_of_screen(session=session, link=link, secret=secret, now=now)
    return event.id or 0


@transaction
async def state(session: AsyncSession, *, event_id: int, now: datetime) -> ScreenState:
    """What the screens of an event show now."""
    event = await counting.event_by_id(session=session, event_id=event_id)
    result = await counting.count_event(session=session, event=event, zone_limit=None)
    recent = await recent_arrivals(session=session, event_id=event_id, since=now - RECENT)
    return ScreenState(
        event_id=event_id,
        title=event.title,
        venue=event.venue,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        status=status_of(event, now),
        opens_at=opens_at(event),
        code=current_code(event, now),
        payload=screens.bound_payload(event, now),
        arrived=result.arrived,
        signed_up=result.signed_up,
        capacity=event.capacity,
        groups={group: result.groups.get(group, 0) for group in GROUPS},
        recent=recent,
        refresh_at=_next_change(event, now),
    )


@transaction
async def mark(session: AsyncSession, *, event_id: int, now: datetime) -> EventMark:
    """The cheap look a screen takes on every tick: the code and the window, one row read."""
    event = await counting.event_by_id(session=session, event_id=event_id)
    return EventMark(code=current_code(event, now), status=status_of(event, now))
