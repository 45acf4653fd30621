"""Headcounts: the 351 seminar, scoping, erased people, empty events and choosing the event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import headcount as hc
from bot.services.access import Access
from bot.services.errors import NotAllowed
from storage.database import SessionFactory
from storage.models import CheckIn, CheckInMethod, Event, Person, Registration, Role
from tests import seed_seminar as seed

ORGANISER = Access(person_id=1, roles=frozenset({Role.ORGANISER}), coordinator_zones=frozenset())


def coordinator(*zones: int) -> Access:
    """A coordinator-only viewer of some zones."""
    return Access(
        person_id=2, roles=frozenset({Role.COORDINATOR}), coordinator_zones=frozenset(zones)
    )


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on this test's database."""
    async with seed.sessions_for(database_url) as factory:
        yield factory


@pytest.fixture
async def seminar(sessions: SessionFactory) -> seed.Seminar:
    """The 351-person seminar, everyone checked in."""
    async with sessions() as session:
        built = await seed.seed_seminar(session)
        await session.commit()
    return built


async def count(
    sessions: SessionFactory, event_id: int, access: Access = ORGANISER
) -> hc.Headcount:
    """The headcount as a viewer sees it."""
    async with sessions() as session:
        return await hc.headcount(session=session, access=access, event_id=event_id)


async def seminar_as(sessions: SessionFactory, **options: bool) -> hc.Headcount:
    """A variant of the seminar (see seed_seminar's options), as an organiser counts it."""
    async with sessions() as session:
        built = await seed.seed_seminar(session, **options)
        await session.commit()
    assert built.event.id is not None
    return await count(sessions, built.event.id)


async def test_the_351_seminar_adds_up(sessions: SessionFactory, seminar: seed.Seminar) -> None:
    assert seminar.event.id is not None
    result = await count(sessions, seminar.event.id)
    assert result.total == 351
    assert result.present == 351
    assert result.groups == {"volunteers": 69, "officials": 200, "others": 82}
    assert result.roles == seed.EXPECTED_ROLES
    assert result.roles == {
        "zone_chair": 2,
        "zone_coordinator": 4,
        "taxi_chair": 1,
        "taxi_coordinator": 6,
        "volunteer": 56,
    }
    assert {zone.zone: zone.count for zone in result.zones} == {3: 39, 4: 30}
    districts = {d.code: d.count for zone in result.zones for d in zone.districts}
    assert districts == seed.EXPECTED_DISTRICTS
    assert districts["1033"] == 12
    assert districts["1006"] == 9
    assert result.agencies == {"ops": 40, "doe": 45, "dsd": 40, "dlpw": 40, "sso": 35}
    assert result.no_district == 282
    assert result.walkins == seminar.walkins == seed.WALKINS == 11
    assert result.late == seminar.late == seed.LATE == 15
    # Three words, three counts: 340 registered with the bot and 11 walked in (351 came); 349
    # signed up, 340 of whom came.
    assert result.registered == seed.REGISTERED == 340
    assert result.signed_up == seed.SIGNED_UP == 349
    assert result.signed_up_arrived == seed.SIGNED_UP_ARRIVED == 340
    assert result.not_arrived == seed.NO_SHOWS
    assert sum(n for _, n in result.arrivals) == 351
    assert result.types == {
        "volunteer": 69,
        "official": 200,
        "speaker": 6,
        "civil_servant": 30,
        "staff": 36,
        "observer": 10,
    }


async def test_the_seminar_where_everyone_registered_with_the_bot(
    sessions: SessionFactory,
) -> None:
    """Issue 11: all 351 registered with the bot, nobody signed up through /events. Once this
    read "registered 0 · walk-ins 351"; each word now counts what it says."""
    result = await seminar_as(sessions, walkins=False, signups=False)
    assert (result.arrived, result.registered, result.walkins) == (351, 351, 0)
    assert (result.signed_up, result.signed_up_arrived, result.not_arrived) == (0, 0, 0)


async def test_registered_but_not_signed_up(sessions: SessionFactory) -> None:
    """People who registered with the bot and came without signing up are not walk-ins."""
    result = await seminar_as(sessions, walkins=False)
    assert (result.arrived, result.registered, result.walkins) == (351, 351, 0)
    assert (result.signed_up, result.signed_up_arrived) == (seed.SIGNED_UP, 340)
    assert result.not_arrived == seed.NO_SHOWS


async def test_arrivals_are_bucketed_per_quarter_hour(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    assert seminar.event.id is not None
    result = await count(sessions, seminar.event.id)
    slots = [slot for slot, _ in result.arrivals]
    assert slots == sorted(slots)
    assert all(slot.minute % 15 == 0 and slot.second == 0 for slot in slots)
    # The first arrival is 45 minutes before 08.00 Bangkok: the 07.15 slot.
    assert slots[0] == seed.SEMINAR_START - timedelta(minutes=45)
    first = dict(result.arrivals)[slots[0]]
    # One arrival every 7 seconds: 129 in the first 15 minutes (late ones come later).
    assert first == 129 - len([i for i in range(129) if i % seed.LATE_EVERY == 0])


async def test_a_person_counts_once_and_checkouts_leave_present(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    assert seminar.event.id is not None
    async with sessions() as session:
        rows = (await session.exec(select(CheckIn).limit(5))).all()
        for row in rows:
            row.checked_out_at = row.checked_in_at + timedelta(hours=3)
            session.add(row)
        await session.commit()
    result = await count(sessions, seminar.event.id)
    assert result.total == 351
    assert result.checked_out == 5
    assert result.present == 346


async def test_erased_people_still_count(sessions: SessionFactory, seminar: seed.Seminar) -> None:
    assert seminar.event.id is not None
    volunteer_id = seminar.attendees[0].id
    async with sessions() as session:
        person = await session.get(Person, volunteer_id)
        assert person is not None
        person.full_name = None
        person.phone = None
        person.telegram_id = None
        person.erased_at = datetime(2020, 8, 1, tzinfo=UTC)
        session.add(person)
        await session.commit()
    result = await count(sessions, seminar.event.id)
    assert result.total == 351
    assert result.groups["volunteers"] == 69
    assert {zone.zone: zone.count for zone in result.zones} == {3: 39, 4: 30}


async def test_coordinators_see_only_their_zones(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    assert seminar.event.id is not None
    result = await count(sessions, seminar.event.id, coordinator(4))
    assert result.zone_limit == frozenset({4})
    assert result.total == 30
    assert result.groups == {"volunteers": 30, "officials": 0, "others": 0}
    assert [zone.zone for zone in result.zones] == [4]
    assert {d.code for d in result.zones[0].districts} == set(seed.ZONES[4])
    assert sum(n for _, n in result.arrivals) == 30
    # The nine no-shows live in zone 3, so zone 4 has none waiting.
    assert result.not_arrived == 0
    zone3 = await count(sessions, seminar.event.id, coordinator(3))
    assert zone3.total == 39
    assert zone3.not_arrived == seed.NO_SHOWS
    nobody = await count(sessions, seminar.event.id, coordinator())
    assert nobody.total == 0


async def test_volunteers_without_a_headcount_role_are_refused(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    assert seminar.event.id is not None
    plain = Access(person_id=3, roles=frozenset(), coordinator_zones=frozenset())
    with pytest.raises(NotAllowed):
        await count(sessions, seminar.event.id, plain)


async def test_an_event_with_no_check_ins(sessions: SessionFactory) -> None:
    result = await seminar_as(sessions, check_in=False)
    assert result.total == 0
    assert result.groups == {"volunteers": 0, "officials": 0, "others": 0}
    assert result.zones == ()
    assert result.arrivals == ()
    assert (result.registered, result.walkins) == (0, 0)
    assert result.signed_up == seed.SIGNED_UP
    assert result.not_arrived == result.signed_up


async def test_unknown_event_number(sessions: SessionFactory) -> None:
    with pytest.raises(hc.EventNotFound):
        await count(sessions, 999)


async def add_event(
    session: AsyncSession, code: str, starts_at: datetime, **extra: object
) -> Event:
    """A plain event starting at a moment, lasting two hours."""
    event = Event(
        title=f"กิจกรรม {code}",
        venue="กระทรวงแรงงาน",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=2),
        code=code,
        token=f"t-{code}",
    )
    session.add(event)
    await session.flush()
    return event


async def test_choosing_the_event(sessions: SessionFactory) -> None:
    now = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
    async with sessions() as session:
        old = await add_event(session, "OLD1", now - timedelta(days=30))
        recent = await add_event(session, "REC1", now - timedelta(days=2))
        soon = await add_event(session, "SOON", now + timedelta(minutes=30))
        await add_event(session, "FAR1", now + timedelta(days=40))
        await session.commit()
        # Check-in for SOON opens an hour before it starts: it is the event happening now.
        assert (await hc.find_event(session=session, argument=None, now=now)).id == soon.id
        later = now + timedelta(hours=5)
        assert (await hc.find_event(session=session, argument="", now=later)).id == soon.id
        assert (await hc.find_event(session=session, argument="rec1", now=now)).id == recent.id
        assert (await hc.find_event(session=session, argument=f"#{old.id}", now=now)).id == old.id
        assert (await hc.find_event(session=session, argument=str(old.id), now=now)).id == old.id
        for bad in ("NOPE", "x" * 5000, "'; DROP TABLE event; --", "🙂", "9" * 20, "#" + "9" * 19):
            with pytest.raises(hc.EventNotFound):
                await hc.find_event(session=session, argument=bad, now=now)
        listed = await hc.recent_events(session=session, now=now)
        assert [e.code for e in listed] == ["FAR1", "SOON", "REC1", "OLD1"]


async def test_no_events_at_all(sessions: SessionFactory) -> None:
    async with sessions() as session:
        with pytest.raises(hc.NoEvents):
            await hc.find_event(session=session, argument=None, now=datetime.now(UTC))


async def test_each_query_is_an_aggregate(sessions: SessionFactory, seminar: seed.Seminar) -> None:
    """No statement returns one row per person: the largest result is a handful of groups."""
    assert seminar.event.id is not None
    statements: list[str] = []
    async with sessions() as session:
        engine = session.get_bind()
        sa_event.listen(engine, "before_cursor_execute", _collect(statements))
        result = await hc.headcount(session=session, access=ORGANISER, event_id=seminar.event.id)
    assert result.total == 351
    checkin_queries = [s for s in statements if "checkin." in s.lower()]
    assert checkin_queries
    assert all("count(" in s.lower() for s in checkin_queries)
    assert all("group by" in s.lower() or "count(distinct" in s.lower() for s in checkin_queries)


def _collect(statements: list[str]) -> Callable[..., None]:
    """A cursor hook that remembers each statement."""

    def hook(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    return hook


async def merge(session: AsyncSession, *, merged: Person, kept: Person) -> None:
    """What a merge leaves behind (services/merges.py): the check-ins and sign-ups of the
    merged-away record moved to the kept one, the record itself marked."""
    for row in (await session.exec(select(CheckIn).where(CheckIn.person_id == merged.id))).all():
        row.person_id = kept.id or 0
        session.add(row)
    for sign_up in (
        await session.exec(select(Registration).where(Registration.person_id == merged.id))
    ).all():
        sign_up.person_id = kept.id or 0
        session.add(sign_up)
    merged.merged_into_id = kept.id
    session.add(merged)


async def test_people_not_rows_a_merged_walkin_counts_once(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    """Issue 11 §3: she registered with the bot (and signed up), staff also entered her as a
    walk-in. Before the merge that is two rows and two arrivals; after it, one person, who
    registered with the bot, however staff entered her at the door."""
    assert seminar.event.id is not None
    event_id = seminar.event.id
    async with sessions() as session:
        her, again = (
            Person(
                full_name="สมหญิง ใจดี",
                phone="+66812340001",
                district_code="1033",
                volunteer_role="volunteer",
                is_walkin=walkin,
            )
            for walkin in (False, True)
        )
        session.add_all([her, again])
        await session.flush()
        at = seed.SEMINAR_START
        session.add(Registration(event_id=event_id, person_id=her.id or 0))
        session.add(
            CheckIn(
                event_id=event_id,
                person_id=again.id or 0,
                checked_in_at=at,
                method=CheckInMethod.WALKIN,
            )
        )
        await session.commit()
    before = await count(sessions, event_id)
    assert (before.arrived, before.walkins, before.signed_up) == (352, 12, 350)
    assert before.not_arrived == seed.NO_SHOWS + 1  # her sign-up, under her own record
    async with sessions() as session:
        merged, kept = await session.get(Person, again.id), await session.get(Person, her.id)
        assert merged is not None
        assert kept is not None
        await merge(session, merged=merged, kept=kept)
        await session.commit()
    after = await count(sessions, event_id)
    assert (after.arrived, after.registered, after.walkins) == (352, 341, 11)
    assert (after.signed_up, after.signed_up_arrived, after.not_arrived) == (350, 341, 9)
    assert after.zones[0].districts[0] == hc.DistrictCount("1033", "คลองเตย", "Khlong Toei", 13)
    assert sum(n for _, n in after.arrivals) == 352


async def test_a_merged_away_record_never_counts(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    """Even with a check-in or a sign-up still pointing at it, a record merged into another
    is not a person of its own."""
    assert seminar.event.id is not None
    async with sessions() as session:
        kept = await session.get(Person, seminar.attendees[1].id)
        gone = await session.get(Person, seminar.attendees[2].id)
        no_show = await session.get(Person, seminar.no_shows[0].id)
        assert kept is not None
        assert gone is not None
        assert no_show is not None
        gone.merged_into_id = kept.id
        no_show.merged_into_id = kept.id
        session.add_all([gone, no_show])
        await session.commit()
    result = await count(sessions, seminar.event.id)
    assert result.arrived == 350
    assert result.groups["volunteers"] == 68
    assert sum(n for _, n in result.arrivals) == 350
    assert result.signed_up == seed.SIGNED_UP - 2
    zone3 = await count(sessions, seminar.event.id, coordinator(3))
    # Zone 3: 39 came, 2 of them walk-ins; 37 + 9 no-shows signed up; two records merged away.
    assert (zone3.arrived, zone3.signed_up) == (39 - 1, 37 + seed.NO_SHOWS - 2)
    async with sessions() as session:
        assert await hc.arrived_count(session=session, event_id=seminar.event.id) == 350


async def test_every_headcount_query_uses_an_index_on_checkins(
    sessions: SessionFactory, seminar: seed.Seminar
) -> None:
    """The plans read one event's check-ins through an index, never the whole table."""
    assert seminar.event.id is not None
    captured: list[tuple[str, Any]] = []

    def hook(conn: object, cursor: object, statement: str, parameters: Any, *args: object) -> None:
        if "checkin." in statement.lower() and not statement.startswith("EXPLAIN"):
            captured.append((statement, parameters))

    async with sessions() as session:
        engine = session.get_bind()
        sa_event.listen(engine, "before_cursor_execute", hook)
        try:
            await hc.count_event(session=session, event=seminar.event, zone_limit=frozenset({3}))
            await hc.count_event(session=session, event=seminar.event, zone_limit=None)
        finally:
            sa_event.remove(engine, "before_cursor_execute", hook)
        connection = await session.connection()
        sqlite = engine.dialect.name == "sqlite"
        if not sqlite:
            # The seminar is tiny, so PostgreSQL would rightly scan; ask what it does at scale.
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        # The breakdown and the arrivals, scoped and not; the sign-ups never read check-ins.
        assert len(captured) == 4
        for statement, parameters in captured:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = await connection.exec_driver_sql(prefix + statement, parameters)
            lines = [str(row[-1] if sqlite else row[0]) for row in plan.all()]
            on_checkin = [line for line in lines if "checkin" in line.lower()]
            assert on_checkin, lines
            full_scans = ("scan checkin", "seq scan on checkin")
            assert not [line for line in lines if any(s in line.lower() for s in full_scans)]
            assert any("index" in line.lower() for line in on_checkin), lines
