"""Walk-in and merge use cases: staff entering people without Telegram, and keeping one record
per person (bot/services/walkins.py, bot/services/merges.py). One transaction each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from bot.scope import Actor
from bot.services import checkins, merges, registration, walkins
from bot.services.access import Capability
from bot.services.checkins import CheckInResult
from bot.services.merges import Candidate, MergeDone
from bot.services.registration import WALKIN_ORDER, PersonDraft, PersonFields
from bot.services.walkins import KnownPerson
from bot.usecases import transaction
from bot.usecases.checkin import EventChoice, after_check_in


@dataclass(frozen=True)
class MergeOverview:
    """What /merge shows: records that may be one person, and merges that may be undone."""

    candidates: list[Candidate]
    recent: list[MergeDone]


@transaction
async def open_events(session: AsyncSession, *, actor: Actor, now: datetime) -> list[EventChoice]:
    """Events a walk-in can be checked in to now."""
    actor.access.require(Capability.REGISTER_WALKINS)
    found = await checkins.open_events(session=session, now=now)
    return [EventChoice(id=event.id or 0, title=event.title) for event in found]


@dataclass(frozen=True)
class Entry:
    """A walk-in being entered: by whom, the answers, and the districts they name."""

    actor: Actor
    draft: PersonDraft
    geo: Geography

    def fields(self) -> PersonFields:
        """The answers, complete and checked (InvalidFields names what is not)."""
        return registration.complete(
            self.draft, order=WALKIN_ORDER, geo=self.geo, phone_optional=True
        )


@transaction
async def known_people(session: AsyncSession, *, entry: Entry) -> list[KnownPerson]:
    """Records that may be the person being entered (the same phone, or name and district)."""
    return await walkins.find_known(
        session=session, access=entry.actor.access, fields=entry.fields(), geo=entry.geo
    )


@transaction
async def save(
    session: AsyncSession, *, entry: Entry, event_id: int, now: datetime
) -> CheckInResult:
    """A new walk-in record, checked in at once."""
    result = await walkins.register_walkin(
        session=session,
        access=entry.actor.access,
        event_id=event_id,
        fields=entry.fields(),
        geo=entry.geo,
        now=now,
    )
    return await after_check_in(session, result, now=now)


@transaction
async def use_known(
    session: AsyncSession, *, actor: Actor, event_id: int, person_id: int, now: datetime
) -> tuple[CheckInResult, str]:
    """The person at the door is a known record: check it in instead of writing a new one."""
    result, name = await walkins.check_in_known(
        session=session, access=actor.access, event_id=event_id, person_id=person_id, now=now
    )
    return await after_check_in(session, result, now=now), name


@transaction
async def merge_overview(
    session: AsyncSession, *, actor: Actor, phone: str | None
) -> MergeOverview:
    """/merge: records that may be one person (with this phone), and recent merges."""
    found = await merges.candidates(session=session, access=actor.access, phone=phone)
    recent = [] if phone else await merges.recent(session=session, access=actor.access)
    return MergeOverview(found, recent)


@transaction
async def merge_pair(
    session: AsyncSession, *, actor: Actor, kept_id: int, merged_id: int
) -> Candidate:
    """Two records, shown before staff confirm that they are one person."""
    return await merges.pair(
        session=session, access=actor.access, kept_id=kept_id, merged_id=merged_id
    )


@transaction
async def merge(
    session: AsyncSession, *, actor: Actor, kept_id: int, merged_id: int, now: datetime
) -> int:
    """Staff confirmed: merge; returns the merge's id (for its undo button)."""
    done = await merges.merge_by_staff(
        session=session, access=actor.access, kept_id=kept_id, merged_id=merged_id, now=now
    )
    return done.id or 0


@transaction
async def unmerge(session: AsyncSession, *, actor: Actor, merge_id: int, now: datetime) -> None:
    """Undo a merge."""
    await merges.unmerge_by_staff(session=session, access=actor.access, merge_id=merge_id, now=now)
