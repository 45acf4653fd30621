"""The organisers' dashboard: who is asking (on every request), what they see, what they do.

Every function takes the web actor resolved for this very request (`web_actor`), so a role
revoked a second ago is a refusal now. Actions carry a one-time request id, spent in the same
transaction as the action: a replayed request changes nothing. Actions go through the same
services (and so the same permission checks and audit entries) as the bot's commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import Translator, normalise_language
from bot.scope import Actor
from bot.services import checkins, events, exports, live, people, screens
from bot.services import dashboard as lists
from bot.services import headcount as counting
from bot.services.access import Capability, access_for
from bot.services.checkins import CheckInResult, SearchResult, current_code
from bot.services.dashboard import PeopleList
from bot.services.events import OVERRIDE_CLOSED, OVERRIDE_OPEN
from bot.services.exports import ExportFiles
from bot.services.headcount import Headcount
from bot.services.screens import Login
from bot.usecases import transaction
from bot.usecases.checkin import after_check_in
from bot.usecases.screen import status_of
from storage.models import Event

SEARCH_MIN_CHARS = checkins.SEARCH_MIN_CHARS
Switch = Literal["open", "closed", "auto"]


@transaction
async def web_actor(
    session: AsyncSession,
    *,
    telegram_id: int,
    config_admins: tuple[int, ...],
    default_language: str,
    language_code: str | None = None,
) -> Actor:
    """The person behind a verified web request, with their rights as they are right now."""
    person = await people.by_telegram_id(session=session, telegram_id=telegram_id)
    if person is not None and person.erased_at is not None:
        person = None
    access = await access_for(
        session=session, person=person, telegram_id=telegram_id, config_admins=config_admins
    )
    chosen = person.language if person is not None else language_code
    return Actor(
        telegram_id=telegram_id,
        person_id=person.id if person is not None else None,
        name=person.full_name if person is not None else None,
        lang=normalise_language(chosen, default_language),
        language_chosen=person is not None,
        access=access,
    )


@dataclass(frozen=True)
class Rights:
    """Which of the dashboard's actions this person may take."""

    check_in: bool
    manage: bool
    export: bool


@dataclass(frozen=True)
class Overview:
    """One look at the dashboard: the headcount, the lists, and the event's check-in state."""

    headcount: Headcount
    status: str
    code: str
    opens_at: datetime
    late: PeopleList
    absent: PeopleList
    search: SearchResult | None
    query: str
    rights: Rights


def _rights(actor: Actor) -> Rights:
    access = actor.access
    return Rights(
        check_in=access.can(Capability.CHECK_IN_OTHERS),
        manage=access.can(Capability.MANAGE_EVENTS),
        export=access.can(Capability.EXPORT),
    )


@transaction
async def overview(
    session: AsyncSession, *, actor: Actor, event_id: int, query: str, now: datetime
) -> Overview:
    """Everything the dashboard shows, within the person's zones (NotAllowed for others)."""
    result = await counting.headcount(session=session, access=actor.access, event_id=event_id)
    zones = actor.zone_limit()
    text = " ".join(query.split())[: lists.QUERY_MAX_CHARS]
    rights = _rights(actor)
    search = None
    if rights.check_in and len(text) >= SEARCH_MIN_CHARS:
        search = await checkins.search_people(session=session, access=actor.access, query=text)
    event = await events.get_event(session=session, event_id=event_id)
    return Overview(
        headcount=result,
        status=status_of(event, now),
        code=current_code(event, now),
        opens_at=events.opens_at(event),
        late=await lists.late_arrivals(
            session=session, event_id=event_id, zone_limit=zones, query=text
        ),
        absent=await lists.not_arrived(
            session=session, event_id=event_id, zone_limit=zones, query=text
        ),
        search=search,
        query=text,
        rights=rights,
    )


@transaction
async def event_if_allowed(
    session: AsyncSession,
    *,
    actor: Actor,
    event_id: int,
    capability: Capability = Capability.VIEW_HEADCOUNT,
) -> Event:
    """The event, if this person may do `capability` with it now: watch its dashboard (the
    default), or export it (asked before a download link is made). Else NotAllowed or
    NotFound."""
    actor.access.require(capability)
    return await counting.event_by_id(session=session, event_id=event_id)


def _keep(max_age: timedelta) -> timedelta:
    """How long a request id is remembered: as long as any credential could carry it."""
    return max(max_age, timedelta(days=7))


async def _spend(
    session: AsyncSession, *, actor: Actor, request_id: str, now: datetime, keep: timedelta
) -> None:
    """The request's one-time id, spent in the action's own transaction."""
    actor.access.require(Capability.VIEW_HEADCOUNT)
    await screens.spend_request(
        session=session,
        request_id=request_id,
        telegram_id=actor.telegram_id,
        now=now,
        keep=_keep(keep),
    )


@transaction
async def check_in(
    session: AsyncSession,
    *,
    actor: Actor,
    event_id: int,
    person_id: int,
    request_id: str,
    now: datetime,
    keep: timedelta,
) -> CheckInResult:
    """Check someone in from the dashboard (staff rights, zones, window: as /checkin_for)."""
    await _spend(session, actor=actor, request_id=request_id, now=now, keep=keep)
    result = await checkins.check_in_for(
        session=session, access=actor.access, event_id=event_id, person_id=person_id, now=now
    )
    return await after_check_in(session, result, now=now)


@transaction
async def switch_checkin(
    session: AsyncSession,
    *,
    actor: Actor,
    event_id: int,
    switch: Switch,
    request_id: str,
    now: datetime,
    keep: timedelta,
) -> str:
    """Open or close check-in by hand, or give it back to the clock; the new status."""
    await _spend(session, actor=actor, request_id=request_id, now=now, keep=keep)
    override = {"open": OVERRIDE_OPEN, "closed": OVERRIDE_CLOSED, "auto": None}[switch]
    event = await events.set_checkin_override(
        session=session, access=actor.access, event_id=event_id, override=override, now=now
    )
    await live.changed(session, event_id=event_id)
    return status_of(event, now)


@transaction
async def rotate_code(
    session: AsyncSession,
    *,
    actor: Actor,
    event_id: int,
    request_id: str,
    now: datetime,
    keep: timedelta,
) -> str:
    """A new code (the old one, and every QR bound to it, stop working); the new code."""
    await _spend(session, actor=actor, request_id=request_id, now=now, keep=keep)
    event = await events.rotate_code(
        session=session, access=actor.access, event_id=event_id, now=now
    )
    await live.changed(session, event_id=event_id)
    return current_code(event, now)


@transaction
async def export(
    session: AsyncSession,
    *,
    actor: Actor,
    event_id: int,
    t: Translator,
    zone_names: dict[int, str],
    tz: ZoneInfo,
    now: datetime,
) -> ExportFiles:
    """The event's attendees as CSV and XLSX (export rights; audited by the export itself)."""
    return await exports.export_attendees(
        session=session,
        access=actor.access,
        event_id=event_id,
        t=t,
        tz=tz,
        zone_names=zone_names,
        now=now,
    )


@transaction
async def login_link(
    session: AsyncSession,
    *,
    actor: Actor,
    event_id: int,
    secret: bytes,
    now: datetime,
    lifetime: timedelta,
) -> str:
    """A one-time laptop login link for an event's dashboard."""
    return await screens.new_login(
        session=session,
        access=actor.access,
        event_id=event_id,
        secret=secret,
        now=now,
        lifetime=lifetime,
    )


@transaction
async def use_login(session: AsyncSession, *, link: str, secret: bytes, now: datetime) -> Login:
    """Spend a laptop login link."""
    return await screens.use_login(session=session, link=link, secret=secret, now=now)


@transaction
async def event_for(
    session: AsyncSession, *, actor: Actor, argument: str | None, now: datetime
) -> Event:
    """/dashboard [event]: the event meant, for someone who may watch it."""
    actor.access.require(Capability.VIEW_HEADCOUNT)
    return await counting.find_event(session=session, argument=argument, now=now)
