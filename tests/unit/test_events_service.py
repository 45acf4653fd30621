"""The events service: creating, changing, cancelling, and RSVPs with a waiting list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import events
from bot.services.errors import NotAllowed, NotFound
from bot.services.events import EventFields, EventIsCancelled, InvalidEventField
from storage.database import create_engine, session_factory
from storage.models import AuditEntry, Event, EventStatus, RegistrationStatus, Role
from tests.factories import access_of, make_event, make_person

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """One session on this test's database."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def fields(**overrides: object) -> EventFields:
    """Typical fields for a seminar tomorrow."""
    values: dict[str, object] = {
        "title": "  สัมมนา   อาสาสมัครแรงงาน ",
        "venue": "กระทรวงแรงงาน",
        "starts_at": NOW + timedelta(days=1),
        "ends_at": NOW + timedelta(days=1, hours=3),
    }
    values.update(overrides)
    return EventFields(**values)  # type: ignore[arg-type]


async def test_organiser_creates_an_event_with_code_and_token(session: AsyncSession) -> None:
    organiser = await make_person(session)
    access = access_of(organiser, Role.ORGANISER)
    event = await events.create_event(session=session, access=access, fields=fields(), now=NOW)
    assert event.id is not None
    assert event.title == "สัมมนา อาสาสมัครแรงงาน"
    assert len(event.code) == 6
    assert len(event.token) >= 32
    assert event.created_by_id == organiser.id
    audit = (await session.exec(select(AuditEntry))).all()
    assert [(a.action, a.target_id) for a in audit] == [("event.create", str(event.id))]


async def test_volunteers_cannot_create_events(session: AsyncSession) -> None:
    volunteer = await make_person(session)
    with pytest.raises(NotAllowed):
        await events.create_event(
            session=session, access=access_of(volunteer), fields=fields(), now=NOW
        )
    assert (await session.exec(select(Event))).all() == []


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"title": "   "}, "events.invalid.title.empty"),
        ({"title": "ก" * 201}, "events.invalid.title.too_long"),
        ({"venue": "a\u200bb"}, "events.invalid.venue.bad_characters"),
        ({"ends_at": NOW + timedelta(days=1)}, "events.invalid.ends_at.before_start"),
        ({"ends_at": NOW + timedelta(days=40)}, "events.invalid.ends_at.too_long"),
        (
            {"starts_at": NOW - timedelta(hours=5), "ends_at": NOW - timedelta(hours=1)},
            "events.invalid.starts_at.in_past",
        ),
        ({"latitude": 13.7}, "events.invalid.location.incomplete"),
        ({"capacity": 0}, "events.invalid.capacity.out_of_range"),
    ],
)
async def test_bad_fields_are_refused(
    session: AsyncSession, overrides: dict[str, object], key: str
) -> None:
    organiser = await make_person(session)
    with pytest.raises(InvalidEventField) as refused:
        await events.create_event(
            session=session,
            access=access_of(organiser, Role.ADMIN),
            fields=fields(**overrides),
            now=NOW,
        )
    assert refused.value.key == key


def test_typed_numbers() -> None:
    assert events.parse_radius("300") == 300
    assert events.parse_radius("1,500 m") == 1500
    assert events.parse_radius("๒๐๐") == 200
    assert events.parse_capacity(" 1 000 ") == 1000
    for bad in ("-5", "abc", "12.5", "'; DROP TABLE event; --", "9" * 50):
        with pytest.raises(InvalidEventField):
            events.parse_capacity(bad)
    with pytest.raises(InvalidEventField):
        events.parse_radius("5")


async def test_upcoming_lists_current_and_future_active_events(session: AsyncSession) -> None:
    later = await make_event(session, now=NOW, starts_in=timedelta(days=2), title="later")
    current = await make_event(session, now=NOW, starts_in=timedelta(hours=-1), title="now")
    await make_event(session, now=NOW, starts_in=timedelta(days=-2), title="past")
    await make_event(session, now=NOW, title="cancelled", status=EventStatus.CANCELLED)
    listed = await events.upcoming(session=session, now=NOW)
    assert [e.id for e in listed] == [current.id, later.id]


async def test_rotation_override_checkout_and_cancel(session: AsyncSession) -> None:
    organiser = await make_person(session)
    access = access_of(organiser, Role.ORGANISER)
    event = await make_event(session, now=NOW)
    old_code = event.code
    rotated = await events.rotate_code(session=session, access=access, event_id=event.id, now=NOW)
    assert rotated.code != old_code
    opened = await events.set_checkin_override(
        session=session, access=access, event_id=event.id, override="open", now=NOW
    )
    assert opened.checkin_override == "open"
    on = await events.set_checkout(
        session=session, access=access, event_id=event.id, enabled=True, now=NOW
    )
    assert on.checkout_enabled
    registrant = await make_person(session, telegram_id=5001, language="en")
    waiting = await make_person(session, telegram_id=5002)
    walkin = await make_person(session)  # no Telegram: nobody to tell
    for person in (registrant, waiting, walkin):
        await events.rsvp(session=session, event_id=event.id, person_id=person.id, now=NOW)
    told = await events.cancel_event(session=session, access=access, event_id=event.id, now=NOW)
    assert [(r.telegram_id, r.language) for r in told] == [(5001, "en"), (5002, "th")]
    with pytest.raises(EventIsCancelled):
        await events.rotate_code(session=session, access=access, event_id=event.id, now=NOW)
    with pytest.raises(EventIsCancelled):
        await events.rsvp(session=session, event_id=event.id, person_id=waiting.id, now=NOW)
    actions = [a.action for a in (await session.exec(select(AuditEntry))).all()]
    assert actions == [
        "event.rotate_code",
        "event.checkin_open",
        "event.checkout_on",
        "event.cancel",
    ]
    with pytest.raises(NotAllowed):
        await events.rotate_code(
            session=session, access=access_of(registrant), event_id=event.id, now=NOW
        )
    with pytest.raises(NotFound):
        await events.rotate_code(session=session, access=access, event_id=999, now=NOW)


async def test_waiting_list_moves_up_in_order(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW, capacity=2)
    people = [await make_person(session, telegram_id=7000 + i) for i in range(5)]
    results = []
    for i, person in enumerate(people):
        moment = NOW + timedelta(seconds=i)
        results.append(
            await events.rsvp(session=session, event_id=event.id, person_id=person.id, now=moment)
        )
    assert [r.status for r in results] == [
        RegistrationStatus.REGISTERED,
        RegistrationStatus.REGISTERED,
        RegistrationStatus.WAITLISTED,
        RegistrationStatus.WAITLISTED,
        RegistrationStatus.WAITLISTED,
    ]
    assert [r.waitlist_position for r in results[2:]] == [1, 2, 3]
    # Registering twice changes nothing.
    again = await events.rsvp(session=session, event_id=event.id, person_id=people[3].id, now=NOW)
    assert again.waitlist_position == 2

    # A waitlisted person leaving frees no place; a registered one moves the first in line up.
    none = await events.cancel_rsvp(
        session=session, event_id=event.id, person_id=people[3].id, now=NOW
    )
    assert none.promoted is None
    moved = await events.cancel_rsvp(
        session=session, event_id=event.id, person_id=people[0].id, now=NOW
    )
    assert moved.promoted is not None
    assert moved.promoted.telegram_id == people[2].telegram_id
    assert await events.registration_counts(session=session, event_id=event.id) == (2, 1)
    with pytest.raises(NotFound):
        await events.cancel_rsvp(
            session=session, event_id=event.id, person_id=people[0].id, now=NOW
        )
    # Coming back after cancelling joins the end of the queue.
    back = await events.rsvp(
        session=session, event_id=event.id, person_id=people[0].id, now=NOW + timedelta(hours=1)
    )
    assert (back.status, back.waitlist_position) == (RegistrationStatus.WAITLISTED, 2)


async def test_raising_capacity_moves_people_up(session: AsyncSession) -> None:
    organiser = await make_person(session)
    event = await make_event(session, now=NOW, capacity=1)
    first = await make_person(session, telegram_id=8001)
    second = await make_person(session, telegram_id=8002)
    for person in (first, second):
        await events.rsvp(session=session, event_id=event.id, person_id=person.id, now=NOW)
    updated, promoted = await events.update_event(
        session=session,
        access=access_of(organiser, Role.ORGANISER),
        event_id=event.id,
        fields=fields(capacity=5),
        now=NOW,
    )
    assert updated.capacity == 5
    assert [p.telegram_id for p in promoted] == [8002]
