"""PDPA rights: the export holds everything, erasure keeps counts and nothing personal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from bot.services import privacy
from bot.services.errors import NotRegistered
from storage.database import SessionFactory, create_engine, session_factory
from storage.models import (
    Announcement,
    AuditEntry,
    ChatState,
    CheckIn,
    CheckInMethod,
    CoordinatorZone,
    Delivery,
    DeliveryStatus,
    District,
    Event,
    Person,
    Registration,
    Role,
    RoleGrant,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PERSONAL_FIELDS = ("full_name", "phone", "telegram_id", "telegram_username", "consent_at")


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def add_person(
    sessions: SessionFactory,
    *,
    telegram_id: int | None,
    district: str = "1033",
    kind: str = "volunteer",
    last_active_at: datetime = NOW,
) -> int:
    async with sessions() as session:
        person = Person(
            telegram_id=telegram_id,
            telegram_username=f"user{telegram_id}",
            full_name=f"สมชาย {telegram_id}",
            phone=f"+668123456{(telegram_id or 0) % 100:02d}",
            participant_type=kind,
            district_code=district,
            volunteer_role="volunteer" if kind == "volunteer" else None,
            consent_at=NOW - timedelta(days=30),
            consent_version="2026-11",
            registered_at=NOW - timedelta(days=30),
            last_active_at=last_active_at,
        )
        session.add(person)
        await session.commit()
        assert person.id is not None
        return person.id


async def add_event(sessions: SessionFactory, *, starts_at: datetime = NOW) -> int:
    async with sessions() as session:
        event = Event(
            title="สัมมนาอาสาสมัครแรงงาน",
            venue="กระทรวงแรงงาน",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=3),
            code=f"C{starts_at.day}{starts_at.month}{starts_at.year % 100}",
            token=f"tok{starts_at.timestamp():.0f}",
        )
        session.add(event)
        await session.commit()
        assert event.id is not None
        return event.id


async def check_in(sessions: SessionFactory, event_id: int, person_id: int, at: datetime) -> None:
    async with sessions() as session:
        session.add(
            CheckIn(
                event_id=event_id,
                person_id=person_id,
                checked_in_at=at,
                method=CheckInMethod.QR,
            )
        )
        session.add(Registration(event_id=event_id, person_id=person_id, created_at=at))
        await session.commit()


async def headcount(sessions: SessionFactory, event_id: int) -> list[tuple[object, ...]]:
    """Check-ins per district and group for one event, as a report's simple SQL count would."""
    statement = (
        select(Person.district_code, Person.participant_type, func.count())
        .join(CheckIn, col(CheckIn.person_id) == col(Person.id))
        .where(CheckIn.event_id == event_id)
        .group_by(col(Person.district_code), col(Person.participant_type))
        .order_by(col(Person.district_code), col(Person.participant_type))
    )
    async with sessions() as session:
        return [tuple(row) for row in (await session.exec(statement)).all()]


async def test_the_export_holds_profile_consent_registrations_and_check_ins(
    sessions: SessionFactory,
) -> None:
    async with sessions() as session:
        session.add(District(code="1033", name_th="คลองเตย", name_en="Khlong Toei", zone=3))
        await session.commit()
    person_id = await add_person(sessions, telegram_id=1001)
    event_id = await add_event(sessions)
    await check_in(sessions, event_id, person_id, NOW)
    async with sessions() as session:
        data = await privacy.export_person(session=session, person_id=person_id)
    assert data["profile"]["full_name"] == "สมชาย 1001"
    assert data["profile"]["phone"] == "+66812345601"
    assert data["profile"]["telegram_id"] == 1001
    assert data["profile"]["district_name_en"] == "Khlong Toei"
    assert data["profile"]["zone"] == 3
    assert data["consent"]["notice_version"] == "2026-11"
    assert data["consent"]["given_at"] == (NOW - timedelta(days=30)).isoformat()
    assert [r["event_id"] for r in data["registrations"]] == [event_id]
    assert data["check_ins"][0]["event_title"] == "สัมมนาอาสาสมัครแรงงาน"
    assert data["check_ins"][0]["checked_in_at"] == NOW.isoformat()


async def test_erasure_keeps_headcounts_and_no_personal_field(sessions: SessionFactory) -> None:
    event_id = await add_event(sessions)
    leaving = await add_person(sessions, telegram_id=2001, district="1033")
    staying = await add_person(sessions, telegram_id=2002, district="1033")
    official = await add_person(sessions, telegram_id=2003, district="1047", kind="official")
    for person_id in (leaving, staying, official):
        await check_in(sessions, event_id, person_id, NOW)
    async with sessions() as session:
        session.add(RoleGrant(person_id=leaving, role=Role.COORDINATOR))
        session.add(CoordinatorZone(person_id=leaving, zone=3))
        announcement = Announcement(text="พรุ่งนี้ประชุม")
        session.add(announcement)
        await session.commit()
        assert announcement.id is not None
        session.add(Delivery(announcement_id=announcement.id, person_id=leaving, chat_id=2001))
        await session.commit()
    before = await headcount(sessions, event_id)

    async with sessions() as session:
        erased = await privacy.erase_person(
            session=session, person_id=leaving, now=NOW, reason="forget", actor_id=leaving
        )
        await session.commit()
    assert erased == privacy.Erased(person_id=leaving, telegram_id=2001)

    assert await headcount(sessions, event_id) == before
    async with sessions() as session:
        person = await session.get(Person, leaving)
        assert person is not None
        assert all(getattr(person, field) is None for field in PERSONAL_FIELDS)
        assert person.erased_at == NOW
        # What the counts need is still there.
        assert (person.participant_type, person.district_code) == ("volunteer", "1033")
        other = await session.get(Person, staying)
        assert other is not None
        assert other.full_name == "สมชาย 2002"
        delivery = (await session.exec(select(Delivery))).one()
        assert (delivery.chat_id, delivery.status) == (-leaving, DeliveryStatus.FAILED)
        assert (await session.exec(select(RoleGrant))).all() == []
        assert (await session.exec(select(CoordinatorZone))).all() == []
        audit = (await session.exec(select(AuditEntry))).one()
        assert (audit.action, audit.target_id, audit.actor_id) == (
            privacy.ERASE_ACTION,
            str(leaving),
            leaving,
        )
        assert "สมชาย" not in str(audit.detail)
        assert "+66" not in str(audit.detail)
        # Nothing personal of the erased person anywhere in its row.
        values = " ".join(str(value) for value in person.model_dump().values())
        assert "2001" not in values
        assert "สมชาย" not in values
        assert "+66" not in values

    # Erasing twice changes nothing and adds no second audit entry.
    async with sessions() as session:
        await privacy.erase_person(session=session, person_id=leaving, now=NOW, reason="forget")
        await session.commit()
        assert len((await session.exec(select(AuditEntry))).all()) == 1
        with pytest.raises(NotRegistered):
            await privacy.export_person(session=session, person_id=leaving)


async def test_purge_erases_only_people_inactive_beyond_the_retention(
    sessions: SessionFactory,
) -> None:
    long_ago = NOW - timedelta(days=800)
    idle = await add_person(sessions, telegram_id=3001, last_active_at=long_ago)
    active = await add_person(sessions, telegram_id=3002, last_active_at=NOW - timedelta(days=5))
    checked_in_lately = await add_person(sessions, telegram_id=3003, last_active_at=long_ago)
    event_id = await add_event(sessions, starts_at=NOW - timedelta(days=100))
    await check_in(sessions, event_id, checked_in_lately, NOW - timedelta(days=100))

    async with sessions() as session:
        erased = await privacy.purge_inactive(session=session, now=NOW, retention_days=730)
        await session.commit()
    assert erased == [privacy.Erased(person_id=idle, telegram_id=3001)]
    async with sessions() as session:
        rows = {p.id: p for p in (await session.exec(select(Person))).all()}
    assert rows[idle].erased_at == NOW
    assert rows[idle].phone is None
    assert rows[active].erased_at is None
    assert rows[active].phone is not None
    assert rows[checked_in_lately].erased_at is None

    # A second sweep finds nobody new.
    async with sessions() as session:
        assert await privacy.purge_inactive(session=session, now=NOW, retention_days=730) == []


async def test_erasure_reaches_merged_walkin_records_and_the_chat_state(
    sessions: SessionFactory,
) -> None:
    kept = await add_person(sessions, telegram_id=4001)
    walkin = await add_person(sessions, telegram_id=None)
    bystander = await add_person(sessions, telegram_id=4002)
    async with sessions() as session:
        record = await session.get(Person, walkin)
        assert record is not None
        record.merged_into_id = kept
        session.add(record)
        session.add(ChatState(telegram_id=4001, language="en", flow="profile", step="summary"))
        session.add(ChatState(telegram_id=4002, language="th"))
        await session.commit()
    async with sessions() as session:
        await privacy.erase_person(session=session, person_id=kept, now=NOW, reason="forget")
        await session.commit()
    async with sessions() as session:
        merged = await session.get(Person, walkin)
        other = await session.get(Person, bystander)
        assert merged is not None
        assert other is not None
        assert (merged.full_name, merged.phone, merged.erased_at) == (None, None, NOW)
        assert other.full_name == "สมชาย 4002"
        states = (await session.exec(select(ChatState.telegram_id))).all()
    assert states == [4002]


async def test_merged_records_are_not_purged_on_their_own(sessions: SessionFactory) -> None:
    long_ago = NOW - timedelta(days=800)
    kept = await add_person(sessions, telegram_id=5001)
    walkin = await add_person(sessions, telegram_id=None, last_active_at=long_ago)
    async with sessions() as session:
        record = await session.get(Person, walkin)
        assert record is not None
        record.merged_into_id = kept
        session.add(record)
        await session.commit()
        assert await privacy.purge_inactive(session=session, now=NOW, retention_days=730) == []


async def test_abandoned_flows_lose_their_drafts(sessions: SessionFactory) -> None:
    async with sessions() as session:
        session.add_all(
            [
                ChatState(
                    telegram_id=1,
                    flow="registration",
                    step="phone",
                    nonce="abcd",
                    draft={"person": {"full_name": "สมชาย ใจดี"}},
                    updated_at=NOW - timedelta(hours=2),
                ),
                ChatState(
                    telegram_id=2,
                    flow="walkin",
                    step="full_name",
                    nonce="efgh",
                    draft={"event_id": 1},
                    updated_at=NOW - timedelta(minutes=5),
                ),
                ChatState(telegram_id=3, language="th", updated_at=NOW - timedelta(days=9)),
            ]
        )
        await session.commit()
        dropped = await privacy.clear_abandoned_flows(
            session=session, idle_since=NOW - timedelta(hours=1)
        )
        await session.commit()
    assert dropped == 1
    async with sessions() as session:
        states = {s.telegram_id: s for s in (await session.exec(select(ChatState))).all()}
    assert (states[1].flow, states[1].draft) == (None, {})
    assert states[2].flow == "walkin"
    assert states[3].language == "th"
