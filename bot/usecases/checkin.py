"""Check-in use cases: one transaction each, plain results, no Telegram.

Every successful check-in also ends the person's waiting code prompt, whatever route checked
them in (a QR scan, a location, a staff member), so nobody is left with a question that no
longer applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import metrics
from bot.scope import Actor
from bot.services import chat_state, checkins, live, screens
from bot.services.checkins import CheckInResult, CheckOutResult, SearchResult, WrongCodeLimiter
from bot.services.errors import NotRegistered
from bot.usecases import transaction
from storage.database import Database, after_commit
from storage.models import Person

# The flow that waits for a typed code (bot/handlers/checkin.py).
CODE_PROMPT = "checkin_code"


@dataclass(frozen=True)
class EventChoice:
    """An event open for check-in, as a button shows it."""

    id: int
    title: str


@dataclass(frozen=True)
class Arrival:
    """What a newcomer came with before registering: a scanned QR's token or a typed code.
    They are checked in within the registration's own transaction (see registration.register),
    so a replica that dies in between cannot leave them registered but not checked in."""

    token: str | None = None
    code: str | None = None

    def __bool__(self) -> bool:
        return bool(self.token or self.code)


async def arrive(
    session: AsyncSession,
    *,
    person_id: int,
    arrival: Arrival,
    now: datetime,
    limiter: WrongCodeLimiter,
) -> CheckInResult:
    """Check a person just registered in this transaction in with what they came with (a new
    person has no code prompt open). DomainError, before anything is written, if it fails."""
    if arrival.token:
        token = await screens.checked_token(session=session, payload=arrival.token, now=now)
        result = await checkins.check_in_by_token(
            session=session, person_id=person_id, token=token, now=now
        )
    else:
        result = await checkins.check_in_by_code(
            session=session,
            person_id=person_id,
            code_text=arrival.code or "",
            now=now,
            limiter=limiter,
        )
    return await after_check_in(session, result, now=now, prompt_open=False)


def _person_id(actor: Actor) -> int:
    """The actor's record, or NotRegistered."""
    if actor.person_id is None:
        raise NotRegistered()
    return actor.person_id


async def _end_code_prompt(session: AsyncSession, *, person_id: int, now: datetime) -> None:
    """Checked in: a code prompt the person still has open no longer applies."""
    telegram_id = select(Person.telegram_id).where(col(Person.id) == person_id)
    await chat_state.end_flow(
        session, telegram_id=telegram_id.scalar_subquery(), only=(CODE_PROMPT,), now=now
    )


def _prompt_may_be_open(actor: Actor) -> bool:
    """Whether the person checking themselves in may have a code prompt open. Their own updates
    are processed one at a time, so the flow read at the start of this one is still theirs."""
    return actor.flow is not None and actor.flow.name == CODE_PROMPT


async def after_check_in(
    session: AsyncSession, result: CheckInResult, *, now: datetime, prompt_open: bool = True
) -> CheckInResult:
    """A check-in was recorded, by any route: a waiting code prompt ends, live screens hear of
    it, and /metrics counts it, once the transaction commits. `prompt_open=False` when the
    caller knows there is none (a person checking themselves in: one statement fewer)."""
    if prompt_open:
        await _end_code_prompt(session, person_id=result.person_id, now=now)
    live.checked_in(session, event_id=result.event_id)
    after_commit(session, lambda: _count(result))
    return result


def _count(result: CheckInResult) -> None:
    """/metrics counts a committed check-in."""
    metrics.CHECKINS.labels(result.method.value).inc()


@transaction
async def with_token(
    session: AsyncSession, *, actor: Actor, token: str, now: datetime
) -> CheckInResult:
    """A scanned QR code (a `/start ci-<token>` deep link, or a venue screen's QR, which also
    carries the code shown beside it and stops working when that code changes)."""
    person_id = _person_id(actor)
    token = await screens.checked_token(session=session, payload=token, now=now)
    result = await checkins.check_in_by_token(
        session=session, person_id=person_id, token=token, now=now
    )
    return await after_check_in(session, result, now=now, prompt_open=_prompt_may_be_open(actor))


async def with_code(
    db: Database, *, actor: Actor, code_text: str, now: datetime, limiter: WrongCodeLimiter
) -> CheckInResult:
    """A typed code; wrong ones are counted (in this process) and slowed down.

    A static code with no code prompt to end is first tried as one statement on its own
    (`Database.write_alone`: no BEGIN or COMMIT); on PostgreSQL the live screens hear of it
    from the checkin table's trigger, on SQLite this process tells them. Whatever that does
    not settle (a rotating or wrong code; on SQLite a refusal or a repeat), an open prompt, or
    webhook mode's replay stamp, is one transaction."""
    person_id = _person_id(actor)
    if not _prompt_may_be_open(actor) and db.writes_alone():
        alone = await db.write_alone(
            lambda connection: checkins.check_in_alone_by_code(
                connection, person_id=person_id, code_text=code_text, now=now, limiter=limiter
            )
        )
        if alone is not None:
            live.checked_in_alone(db.engine.dialect.name, event_id=alone.event_id)
            _count(alone)
            return alone

    async def work(session: AsyncSession) -> CheckInResult:
        result = await checkins.check_in_by_code(
            session=session, person_id=person_id, code_text=code_text, now=now, limiter=limiter
        )
        return await after_check_in(
            session, result, now=now, prompt_open=_prompt_may_be_open(actor)
        )

    return await db.run(work)


@transaction
async def at_location(
    session: AsyncSession,
    *,
    actor: Actor,
    latitude: float,
    longitude: float,
    forwarded: bool,
    now: datetime,
) -> CheckInResult:
    """A shared location near an open venue."""
    person_id = _person_id(actor)
    result = await checkins.check_in_by_location(
        session=session,
        person_id=person_id,
        latitude=latitude,
        longitude=longitude,
        forwarded=forwarded,
        now=now,
    )
    return await after_check_in(session, result, now=now, prompt_open=_prompt_may_be_open(actor))


@transaction
async def check_out(session: AsyncSession, *, actor: Actor, now: datetime) -> CheckOutResult:
    """Record leaving time."""
    return await checkins.check_out(session=session, person_id=_person_id(actor), now=now)


@transaction
async def open_events(session: AsyncSession, *, now: datetime) -> list[EventChoice]:
    """Events open for check-in now."""
    found = await checkins.open_events(session=session, now=now)
    return [EventChoice(id=event.id or 0, title=event.title) for event in found]


@transaction
async def search_people(session: AsyncSession, *, actor: Actor, query: str) -> SearchResult:
    """People staff may check in, by phone or part of a name."""
    return await checkins.search_people(session=session, access=actor.access, query=query)


@transaction
async def for_someone(
    session: AsyncSession, *, actor: Actor, event_id: int, person_id: int, now: datetime
) -> CheckInResult:
    """Staff check someone in (the service re-checks rights, zone and window)."""
    result = await checkins.check_in_for(
        session=session, access=actor.access, event_id=event_id, person_id=person_id, now=now
    )
    return await after_check_in(session, result, now=now)
