"""The events service: creating, changing, cancelling, switches, and sign-ups with a waiting
list; notices go to the outbox in the same transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery.notifier import OutboxNotifier
from bot.services import events
from bot.services.errors import NotAllowed, NotFound
from bot.services.events import EventFields, EventIsCancelled, InvalidEventField, Switch
from storage.database import create_engine, session_factory
from storage.models import (
    Announcement,
    AuditEntry,
    Delivery,
    Event,
    EventStatus,
    RegistrationStatus,
    Role,
)
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


class Woken:
    """Counts how often the outbox would have been woken."""

    def __init__(self) -> None:
        self.times = 0

    def __call__(self) -> None:
        self.times += 1


def notifier() -> OutboxNotifier:
    """The real notifier (outbox rows), with nobody to wake."""
    return OutboxNotifier(Woken())


async def notices(session: AsyncSession) -> list[tuple[str | None, list[int | None]]]:
    """Each queued notice's template and the people it goes to."""
    found = []
    for announcement in (await session.exec(select(Announcement).order_by(Announcement.id))).all():
        deliveries = (
            await session.exec(
                select(Delivery)
                .where(Delivery.announcement_id == announcement.id)
                .order_by(Delivery.person_id)
            )
        ).all()
        found.append((announcement.template, [d.person_id for d in deliveries]))
    return found


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
    done = await events.cancel_event(
        session=session, access=access, event_id=event.id, now=NOW, notifier=notifier()
    )
    # Everyone with Telegram is told through the outbox; the walk-in has no chat.
    assert done.told == 2
    assert done.event.status == EventStatus.CANCELLED
    assert await notices(session) == [
        ("events.cancelled_notice", sorted([registrant.id, waiting.id]))
    ]
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
    none = await events.withdraw(
        session=session, notifier=notifier(), event_id=event.id, person_id=people[3].id, now=NOW
    )
    assert none.promoted is None
    assert await notices(session) == []
    moved = await events.withdraw(
        session=session, notifier=notifier(), event_id=event.id, person_id=people[0].id, now=NOW
    )
    assert moved.promoted is not None
    assert moved.promoted.telegram_id == people[2].telegram_id
    assert await notices(session) == [("events.promoted", [people[2].id])]
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
        notifier=notifier(),
    )
    assert updated.capacity == 5
    assert [p.telegram_id for p in promoted] == [8002]
    assert await notices(session) == [("events.promoted", [second.id])]


async def test_nothing_is_committed_by_the_service(database_url: str) -> None:
    """The use case commits: a service call whose transaction is rolled back leaves nothing."""
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            organiser = await make_person(session)
            access = access_of(organiser, Role.ORGANISER)
        async with sessions() as session:
            await events.create_event(session=session, access=access, fields=fields(), now=NOW)
            await session.rollback()
        async with sessions() as session:
            assert (await session.exec(select(Event))).all() == []
            assert (await session.exec(select(AuditEntry))).all() == []
    finally:
        await engine.dispose()


async def test_switches_offer_the_opposite_state_and_a_second_press_changes_nothing(
    session: AsyncSession,
) -> None:
    organiser = await make_person(session)
    access = access_of(organiser, Role.ORGANISER)
    event = await make_event(session, now=NOW)
    assert events.switches(event, checkin_open=False) == (
        Switch.OPEN,
        Switch.AUTO_ON,
        Switch.CHECKOUT_ON,
    )
    for switch in (Switch.AUTO_ON, Switch.CHECKOUT_ON, Switch.CLOSE):
        first = await events.flip(
            session=session, access=access, event_id=event.id, switch=switch, now=NOW
        )
        again = await events.flip(
            session=session, access=access, event_id=event.id, switch=switch, now=NOW
        )
        assert (first.changed, again.changed) == (True, False), switch
    assert (event.code_rotate_seconds, event.checkout_enabled, event.checkin_override) == (
        events.AUTO_ROTATE_SECONDS,
        True,
        "closed",
    )
    assert events.switches(event, checkin_open=True) == (
        Switch.CLOSE,
        Switch.AUTO_OFF,
        Switch.CHECKOUT_OFF,
    )
    off = await events.flip(
        session=session, access=access, event_id=event.id, switch=Switch.AUTO_OFF, now=NOW
    )
    assert off.changed
    assert event.code_rotate_seconds is None
    actions = [a.action for a in (await session.exec(select(AuditEntry))).all()]
    assert actions == [
        "event.auto_rotate",
        "event.checkout_on",
        "event.checkin_closed",
        "event.auto_rotate",
    ]
    with pytest.raises(NotAllowed):
        await events.flip(
            session=session,
            access=access_of(organiser),
            event_id=event.id,
            switch=Switch.OPEN,
            now=NOW,
        )


async def test_a_rotation_confirmed_twice_rotates_once(session: AsyncSession) -> None:
    organiser = await make_person(session)
    access = access_of(organiser, Role.ORGANISER)
    event = await make_event(session, now=NOW)
    old_code, token = event.code, event.token
    version = events.code_version(event)
    assert 0 <= version < 1_000_000_000
    first = await events.rotate_confirmed(
        session=session, access=access, event_id=event.id, version=version, now=NOW
    )
    second = await events.rotate_confirmed(
        session=session, access=access, event_id=event.id, version=version, now=NOW
    )
    assert (first.changed, second.changed) == (True, False)
    assert event.code != old_code
    # The QR code's token stays: only the typed code changes.
    assert event.token == token
    actions = [a.action for a in (await session.exec(select(AuditEntry))).all()]
    assert actions == ["event.rotate_code"]


async def test_sign_up_counts_and_own_sign_ups_for_a_list(session: AsyncSession) -> None:
    full = await make_event(session, now=NOW, capacity=1, title="full")
    open_ = await make_event(session, now=NOW, title="open")
    empty = await make_event(session, now=NOW, title="empty")
    me, other = await make_person(session), await make_person(session)
    await events.rsvp(session=session, event_id=full.id, person_id=other.id, now=NOW)
    await events.rsvp(session=session, event_id=full.id, person_id=me.id, now=NOW)
    await events.rsvp(session=session, event_id=open_.id, person_id=me.id, now=NOW)
    await events.withdraw(
        session=session, notifier=notifier(), event_id=open_.id, person_id=me.id, now=NOW
    )
    ids = [full.id, open_.id, empty.id]
    assert await events.sign_up_counts(session=session, event_ids=ids) == {
        full.id: (1, 1),
        open_.id: (0, 0),
        empty.id: (0, 0),
    }
    mine = await events.sign_ups_of(session=session, person_id=me.id, event_ids=ids)
    assert mine == {full.id: events.SignUp(RegistrationStatus.WAITLISTED, 1)}
    assert await events.sign_up_counts(session=session, event_ids=[]) == {}


def test_a_start_must_be_still_to_come() -> None:
    events.check_start(starts_at=NOW + timedelta(minutes=1), now=NOW)
    with pytest.raises(InvalidEventField) as refused:
        events.check_start(starts_at=NOW, now=NOW)
    assert refused.value.key == "events.invalid.starts_at.past"
