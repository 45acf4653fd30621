"""The walk-in service: a new record checked in at once, or the known record it turns out to be."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography, load_geography
from bot.services import walkins
from bot.services.checkins import AlreadyCheckedIn, CheckInNotOpen
from bot.services.errors import NotAllowed, NotFound
from bot.services.registration import InvalidFields, PersonFields
from storage.database import create_engine, session_factory
from storage.models import AuditEntry, CheckIn, CheckInMethod, District, Person, Role
from tests.factories import access_of, make_event, make_person

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def geo() -> Geography:
    return load_geography()


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """One session on this test's database."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            session.add(District(code="1033", name_th="คลองเตย", name_en="Khlong Toei", zone=3))
            await session.commit()
            yield session
    finally:
        await engine.dispose()


async def rows(session: AsyncSession) -> list[CheckIn]:
    """Every check-in row."""
    return list((await session.exec(select(CheckIn))).all())


async def test_walkin_is_created_and_checked_in_at_once(
    session: AsyncSession, geo: Geography
) -> None:
    event = await make_event(session, now=NOW)
    staff = await make_person(session)
    result = await walkins.register_walkin(
        session=session,
        access=access_of(staff, Role.STAFF),
        event_id=event.id or 0,
        fields=PersonFields(
            full_name=" สมปอง  มาเอง ",
            participant_type="volunteer",
            district_code="1033",
            volunteer_role="volunteer",
            phone="081 234 5678",
        ),
        geo=geo,
        now=NOW,
    )
    await session.commit()
    assert result.method == CheckInMethod.WALKIN
    person = await session.get(Person, result.person_id)
    assert person is not None
    assert (person.full_name, person.phone, person.is_walkin, person.telegram_id) == (
        "สมปอง มาเอง",
        "+66812345678",
        True,
        None,
    )
    assert person.created_by_id == staff.id
    [entry] = (await session.exec(select(AuditEntry))).all()
    assert entry.action == "checkin.walkin"
    assert "phone" not in entry.detail


async def test_bad_walkins_write_nothing(session: AsyncSession, geo: Geography) -> None:
    event = await make_event(session, now=NOW)
    staff = await make_person(session)
    access = access_of(staff, Role.STAFF)
    bad = [
        (PersonFields(full_name="x", participant_type="observer"), "full_name"),
        (PersonFields(full_name="สมหญิง", participant_type="alien"), "participant_type"),
        (PersonFields(full_name="สมหญิง", participant_type="official", agency="cia"), "agency"),
        (
            PersonFields(full_name="สมหญิง", participant_type="volunteer", district_code="9999"),
            "district_code",
        ),
        (
            PersonFields(full_name="สมหญิง", participant_type="volunteer", district_code="1033"),
            "volunteer_role",
        ),
        (PersonFields(full_name="สมหญิง", participant_type="observer", phone="12"), "phone"),
    ]
    for fields, field in bad:
        with pytest.raises(InvalidFields) as refused:
            await walkins.register_walkin(
                session=session,
                access=access,
                event_id=event.id or 0,
                fields=fields,
                geo=geo,
                now=NOW,
            )
        assert refused.value.values["field"] == field
    fine = PersonFields(full_name="สมหญิง", participant_type="observer")
    with pytest.raises(NotAllowed):
        await walkins.register_walkin(
            session=session,
            access=access_of(staff, Role.COORDINATOR),
            event_id=event.id or 0,
            fields=fine,
            geo=geo,
            now=NOW,
        )
    closed = await make_event(session, now=NOW, starts_in=timedelta(days=1))
    with pytest.raises(CheckInNotOpen):
        await walkins.register_walkin(
            session=session, access=access, event_id=closed.id or 0, fields=fine, geo=geo, now=NOW
        )
    await session.rollback()
    assert (await session.exec(select(Person).where(Person.is_walkin))).all() == []
    assert await rows(session) == []


async def test_known_people_by_phone_or_by_name_in_the_same_district(
    session: AsyncSession, geo: Geography
) -> None:
    staff = await make_person(session)
    by_phone = await make_person(session, full_name="สมชาย ใจดี", phone="+66812345678")
    by_name = await make_person(session, full_name="Malee Srisuk", district_code="1033")
    await make_person(session, full_name="Malee Srisuk", district_code="1006")  # elsewhere
    erased = await make_person(session, full_name="Malee Srisuk", district_code="1033")
    erased.erased_at = NOW
    merged = await make_person(session, full_name="Malee Srisuk", district_code="1033")
    merged.merged_into_id = by_name.id
    session.add_all([erased, merged])
    await session.commit()
    access = access_of(staff, Role.STAFF)
    found = await walkins.find_known(
        session=session,
        access=access,
        fields=PersonFields(
            full_name="MALEE SRISUK",
            participant_type="observer",
            district_code="1033",
            phone="081 234 5678",
        ),
        geo=geo,
    )
    assert [(k.person_id, k.same_phone) for k in found] == [
        (by_phone.id, True),
        (by_name.id, False),
    ]
    nobody = PersonFields(full_name="ใหม่ เอี่ยม", participant_type="observer")
    assert await walkins.find_known(session=session, access=access, fields=nobody, geo=geo) == []
    with pytest.raises(NotAllowed):
        await walkins.find_known(
            session=session, access=access_of(staff, Role.COORDINATOR), fields=nobody, geo=geo
        )


async def test_a_known_person_is_checked_in_by_staff_once(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW)
    staff = await make_person(session)
    known = await make_person(session, full_name="สมชาย ใจดี", telegram_id=77)
    access = access_of(staff, Role.STAFF)
    result, name = await walkins.check_in_known(
        session=session, access=access, event_id=event.id or 0, person_id=known.id or 0, now=NOW
    )
    await session.commit()
    assert (result.person_id, result.method, name) == (known.id, CheckInMethod.STAFF, "สมชาย ใจดี")
    with pytest.raises(AlreadyCheckedIn):
        await walkins.check_in_known(
            session=session, access=access, event_id=event.id or 0, person_id=known.id or 0, now=NOW
        )
    known.merged_into_id = staff.id
    session.add(known)
    await session.commit()
    with pytest.raises(NotFound):
        await walkins.check_in_known(
            session=session, access=access, event_id=event.id or 0, person_id=known.id or 0, now=NOW
        )
    assert [row.person_id for row in await rows(session)] == [known.id]
