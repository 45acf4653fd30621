"""Exactly once under concurrency: the database's unique constraint decides every race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.services import checkins
from bot.services.checkins import AlreadyCheckedIn, CheckInResult, WrongCodeLimiter
from storage.database import Database, SessionFactory, create_engine, session_factory
from storage.models import CheckIn, CheckInMethod, Person
from tests.factories import make_event

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SAME_PERSON_ATTEMPTS = 50
CROWD = 200


async def attempt(
    sessions: SessionFactory, *, event_id: int, person_id: int, code: str, limiter: WrongCodeLimiter
) -> CheckInResult | AlreadyCheckedIn:
    """One check-in in its own transaction, as one update's use case does it."""
    try:
        return await Database(sessions).run(
            lambda session: checkins.check_in_by_code(
                session=session, person_id=person_id, code_text=code, now=NOW, limiter=limiter
            )
        )
    except AlreadyCheckedIn as refused:
        return refused


async def test_simultaneous_check_ins_record_exactly_one_row_each(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=20)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            event = await make_event(session, now=NOW, starts_in=timedelta(minutes=10))
            people = [Person(full_name=f"ผู้เข้าร่วม {i}") for i in range(CROWD + 1)]
            session.add_all(people)
            await session.commit()
            ids = [person.id or 0 for person in people]
        eager, crowd = ids[0], ids[1:]
        limiter = WrongCodeLimiter()
        tasks = [
            attempt(
                sessions, event_id=event.id or 0, person_id=eager, code=event.code, limiter=limiter
            )
            for _ in range(SAME_PERSON_ATTEMPTS)
        ] + [
            attempt(
                sessions, event_id=event.id or 0, person_id=pid, code=event.code, limiter=limiter
            )
            for pid in crowd
        ]
        outcomes = await asyncio.gather(*tasks)

        eager_outcomes = outcomes[:SAME_PERSON_ATTEMPTS]
        successes = [o for o in eager_outcomes if isinstance(o, CheckInResult)]
        refusals = [o for o in eager_outcomes if isinstance(o, AlreadyCheckedIn)]
        assert len(successes) == 1
        assert len(refusals) == SAME_PERSON_ATTEMPTS - 1
        assert all(r.values["at"] == NOW for r in refusals)
        assert all(isinstance(o, CheckInResult) for o in outcomes[SAME_PERSON_ATTEMPTS:])

        async with sessions() as session:
            per_person = (
                await session.exec(
                    select(CheckIn.person_id, func.count())
                    .where(CheckIn.event_id == event.id)
                    .group_by(CheckIn.person_id)
                )
            ).all()
        counts = dict(per_person)
        assert len(counts) == CROWD + 1
        assert set(counts.values()) == {1}
    finally:
        await engine.dispose()


async def test_the_insert_decides_a_race_in_flight(database_url: str) -> None:
    """A second check-in that runs while the first is not yet committed finds the first one's
    row once it commits, and answers AlreadyCheckedIn with its time: no error, no second row."""
    engine = create_engine(database_url, pool_size=4)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            event = await make_event(session, now=NOW)
            person = Person(full_name="ผู้เข้าร่วม")
            session.add(person)
            await session.commit()
            event_id, person_id = event.id or 0, person.id or 0
        first_inserted, first_may_commit = asyncio.Event(), asyncio.Event()

        async def first(session: Any) -> CheckInResult:
            result = await checkins.check_in(
                session=session,
                event_id=event_id,
                person_id=person_id,
                method=CheckInMethod.QR,
                now=NOW,
            )
            first_inserted.set()
            await first_may_commit.wait()
            return result

        async def second(session: Any) -> CheckInResult:
            return await checkins.check_in(
                session=session,
                event_id=event_id,
                person_id=person_id,
                method=CheckInMethod.CODE,
                now=NOW + timedelta(minutes=3),
            )

        database = Database(sessions)
        winner = asyncio.create_task(database.run(first))
        await asyncio.wait_for(first_inserted.wait(), timeout=10)
        loser = asyncio.create_task(database.run(second))
        first_may_commit.set()
        assert (await winner).checked_in_at == NOW
        with pytest.raises(AlreadyCheckedIn) as lost:
            await loser
        assert lost.value.values["at"] == NOW
        async with sessions() as session:
            rows = (await session.exec(select(CheckIn))).all()
        assert [(row.method, row.checked_in_at) for row in rows] == [("qr", NOW)]
    finally:
        await engine.dispose()
