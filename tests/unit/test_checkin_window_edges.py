"""A typed code is let in exactly when the window rules say so, at every edge of every rule,
by both routes a typed code takes (bot/usecases/checkin.py `with_code`):

- on its own, one statement committed as it runs (`Database.write_alone`). On PostgreSQL the
  statement checks the window itself (`_window_open_in_sql`) and must agree with
  `check_window` exactly; on SQLite it inserts only when the window is surely open and leaves
  everything nearer an edge to the transaction;
- in a transaction, as with webhook mode's replay stamp.

A disagreement would count someone who was told no (taken back, with an error logged) or
refuse someone the rules let in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.scope import Actor
from bot.services import checkins, events
from bot.services.checkins import AlreadyCheckedIn, WrongCode, WrongCodeLimiter
from bot.services.errors import DomainError
from bot.services.events import OVERRIDE_CLOSED, OVERRIDE_OPEN
from bot.usecases import checkin as checking
from storage.database import Database, before_commit
from storage.models import CheckIn, EventStatus
from tests.factories import make_event, make_person

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
EDGE = timedelta(microseconds=1)
# (the event's code, when it is typed, whether check_window lets it through, the event's start)
Attempt = tuple[str, datetime, bool, datetime]


async def edges_of_every_rule(db: Database) -> list[Attempt]:
    """Events with every kind of window, and for each the times at and around its edges:
    (code, time, whether check_window lets a check-in through then)."""
    attempts: list[Attempt] = []
    async with db.sessions() as session:
        for opens_before, closes_after in ((60, 0), (15, 30), (0, 5)):
            for override in (None, OVERRIDE_OPEN, OVERRIDE_CLOSED):
                for status in (EventStatus.ACTIVE, EventStatus.CANCELLED):
                    event = await make_event(
                        session,
                        now=NOW,
                        opens_before_minutes=opens_before,
                        closes_after_minutes=closes_after,
                        checkin_override=override,
                        status=status,
                    )
                    attempts += _edges(event)
    assert {allowed for _, _, allowed, _ in attempts} == {True, False}
    return attempts


def _edges(event: checkins.Event) -> list[Attempt]:
    """The times around an event's window edges, a microsecond and a second either side, and
    its start and just after (late from then)."""
    opens, closes = events.opens_at(event), events.closes_at(event)
    times = [opens - timedelta(days=1), event.starts_at, event.starts_at + EDGE]
    for edge in (opens, closes):
        times += [edge - timedelta(seconds=1), edge - EDGE, edge, edge + timedelta(seconds=1)]
    return [(event.code, at, checkins.window_open(event, at), event.starts_at) for at in times]


async def check_ins(session: AsyncSession) -> int:
    """How many check-ins there are."""
    return (await session.exec(select(func.count()).select_from(CheckIn))).one()


async def let_in_exactly_when_allowed(db: Database, attempts: list[Attempt]) -> None:
    """Each attempt by a new person: let in (and counted once) exactly when allowed."""
    async with db.sessions() as session:
        people = [await make_person(session) for _ in attempts]
        person_ids = [person.id for person in people]
    admitted = 0
    for person_id, (code, at, allowed, starts_at) in zip(person_ids, attempts, strict=True):
        actor = Actor(telegram_id=0, person_id=person_id)
        refusal: DomainError | None = None
        try:
            result = await checking.with_code(
                db, actor=actor, code_text=code, now=at, limiter=WrongCodeLimiter()
            )
        except DomainError as error:
            refusal = error
        assert not isinstance(refusal, AlreadyCheckedIn | WrongCode), (code, at)
        assert (refusal is None) == allowed, (code, at, refusal)
        admitted += allowed
        async with db.sessions() as session:
            assert await check_ins(session) == admitted, (code, at)
            if allowed:
                # Late exactly after the start, in the reply and in the row.
                row = (
                    await session.exec(select(CheckIn).where(CheckIn.person_id == person_id))
                ).one()
                assert result.late == row.late == (at > starts_at), (code, at)


async def test_a_code_typed_on_its_own_is_let_in_exactly_when_allowed(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = await edges_of_every_rule(db)
    assert db.writes_alone()
    await let_in_exactly_when_allowed(db, attempts)
    assert "disagree" not in caplog.text


async def test_a_code_typed_in_a_transaction_is_let_in_exactly_when_allowed(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = await edges_of_every_rule(db)

    async def stamp(session: AsyncSession) -> None:
        """Webhook mode's replay stamp, here writing nothing: it makes a transaction."""

    token = before_commit.set(stamp)
    try:
        assert not db.writes_alone()
        await let_in_exactly_when_allowed(db, attempts)
    finally:
        before_commit.reset(token)
    assert "disagree" not in caplog.text
