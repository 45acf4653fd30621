"""Reminders: the missed-time rule, creation exactly once, and the RSVP answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.config import ReminderSettings
from bot.delivery.notifier import OutboxNotifier
from bot.services import reminders
from bot.services.reminders import EventOver, EventTimes, RegistrationGone, ReminderKind
from storage.models import (
    Announcement,
    Delivery,
    Person,
    Registration,
    RegistrationStatus,
    Role,
)
from tests import outbox_seed as seed

START = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 09.00 in Bangkok
OFFSETS = ReminderSettings(
    day_before_hours=24, hour_before_minutes=60, nudge_after_start_minutes=30
)
TIMES = EventTimes(
    created_at=START - timedelta(days=7),
    starts_at=START,
    ends_at=START + timedelta(hours=3),
    opens_at=START - timedelta(minutes=45),
    closes_at=START + timedelta(hours=3, minutes=30),
)
H, M = timedelta(hours=1), timedelta(minutes=1)


@pytest.mark.parametrize(
    ("kind", "now", "expected"),
    [
        # Day before: from 24 h before until the one-hour reminder takes over.
        (ReminderKind.DAY_BEFORE, START - 24 * H - M, False),
        (ReminderKind.DAY_BEFORE, START - 24 * H, True),
        (ReminderKind.DAY_BEFORE, START - 2 * H, True),
        (ReminderKind.DAY_BEFORE, START - 1 * H, False),
        (ReminderKind.DAY_BEFORE, START + H, False),
        # One hour before: never once the event has started.
        (ReminderKind.HOUR_BEFORE, START - H - M, False),
        (ReminderKind.HOUR_BEFORE, START - H, True),
        (ReminderKind.HOUR_BEFORE, START - M, True),
        (ReminderKind.HOUR_BEFORE, START, False),
        (ReminderKind.HOUR_BEFORE, START + 2 * H, False),
        # Check-in open: only while the window is open.
        (ReminderKind.CHECKIN_OPEN, START - 46 * M, False),
        (ReminderKind.CHECKIN_OPEN, START - 45 * M, True),
        (ReminderKind.CHECKIN_OPEN, START + 3 * H + 29 * M, True),
        (ReminderKind.CHECKIN_OPEN, START + 3 * H + 30 * M, False),
        # The nudge and the coordinators' list: after 30 minutes, before the end.
        (ReminderKind.NUDGE, START + 29 * M, False),
        (ReminderKind.NUDGE, START + 30 * M, True),
        (ReminderKind.NUDGE, START + 3 * H - M, True),
        (ReminderKind.NUDGE, START + 3 * H, False),
        (ReminderKind.ABSENT_LIST, START + 30 * M, True),
        (ReminderKind.ABSENT_LIST, START + 3 * H, False),
    ],
)
def test_the_missed_time_rule(kind: ReminderKind, now: datetime, expected: bool) -> None:
    assert reminders.should_send(kind, TIMES, OFFSETS, now) is expected


def test_cancelled_events_and_times_before_creation_get_nothing() -> None:
    cancelled = EventTimes(**{**TIMES.__dict__, "active": False})
    assert not any(
        reminders.should_send(kind, cancelled, OFFSETS, START - M) for kind in ReminderKind
    )
    # Created three hours before the start: there never was a day-before reminder to send.
    late = EventTimes(**{**TIMES.__dict__, "created_at": START - 3 * H})
    assert not reminders.should_send(ReminderKind.DAY_BEFORE, late, OFFSETS, START - 2 * H)
    assert reminders.should_send(ReminderKind.HOUR_BEFORE, late, OFFSETS, START - 30 * M)


def test_one_message_when_check_in_opens_with_the_one_hour_reminder() -> None:
    # The defaults: check-in opens 60 minutes before the start, as the one-hour reminder is due.
    together = EventTimes(**{**TIMES.__dict__, "opens_at": START - H})
    assert not reminders.should_send(ReminderKind.HOUR_BEFORE, together, OFFSETS, START - H)
    assert reminders.should_send(ReminderKind.CHECKIN_OPEN, together, OFFSETS, START - H)
    # Fifteen minutes apart (TIMES opens 45 minutes before): two moments, two messages.
    assert reminders.should_send(ReminderKind.HOUR_BEFORE, TIMES, OFFSETS, START - H)


def test_offsets_are_configurable_and_alarms_follow_them() -> None:
    offsets = ReminderSettings(
        day_before_hours=48, hour_before_minutes=120, nudge_after_start_minutes=10
    )
    alarms = reminders.next_alarms(TIMES, offsets, START - 72 * H)
    assert alarms == {
        ReminderKind.DAY_BEFORE: START - 48 * H,
        ReminderKind.HOUR_BEFORE: START - 2 * H,
        ReminderKind.CHECKIN_OPEN: START - 45 * M,
        ReminderKind.NUDGE: START + 10 * M,
        ReminderKind.ABSENT_LIST: START + 10 * M,
    }
    assert reminders.next_alarms(TIMES, offsets, START) == {
        ReminderKind.NUDGE: START + 10 * M,
        ReminderKind.ABSENT_LIST: START + 10 * M,
    }


async def _event_with_people(session):
    event = await seed.event(
        session, starts_at=START, created_at=START - timedelta(days=7), opens_before_minutes=45
    )
    coming = await seed.person(session, district_code=seed.ZONE3_DISTRICT)
    arrived = await seed.person(session, district_code=seed.ZONE3_DISTRICT)
    waiting = await seed.person(session)
    await seed.register(session, event, coming)
    await seed.register(session, event, arrived)
    await seed.register(session, event, waiting, status=RegistrationStatus.WAITLISTED)
    return event, coming, arrived, waiting


def _notifier() -> OutboxNotifier:
    """The outbox notifier, with nobody to wake."""
    return OutboxNotifier(lambda: None)


async def _reminder_deliveries(session, event_id: int) -> dict[str, set[int]]:
    """Who each reminder of the event goes to (the coordinators' lists are notices)."""
    rows = await session.exec(
        select(Announcement.reminder_kind, Announcement.template, Delivery.person_id)
        .join(Delivery, col(Delivery.announcement_id) == col(Announcement.id), isouter=True)
        .where(col(Announcement.event_id) == event_id)
    )
    found: dict[str, set[int]] = {}
    for kind, template, person_id in rows.all():
        name = kind or template
        found.setdefault(name, set())
        if person_id is not None:
            found[name].add(person_id)
    return found


async def test_reminders_are_created_once_each_with_the_right_recipients(
    database_url: str,
) -> None:
    async with seed.open_session(database_url) as session:
        event, coming, arrived, _ = await _event_with_people(session)
        coordinator = await seed.person(session)
        await seed.grant(session, coordinator, Role.COORDINATOR, (3,))

        async def run(now: datetime) -> list[int]:
            return await reminders.materialise_due(
                session=session, notifier=_notifier(), offsets=OFFSETS, now=now
            )

        assert await run(START - 25 * H) == []
        assert len(await run(START - 23 * H)) == 1
        assert await run(START - 23 * H) == []  # the sweep and an alarm together
        assert await _reminder_deliveries(session, event.id) == {
            "day_before": {coming.id, arrived.id}
        }
        # The bot was down from 23 h before until 20 minutes before the start.
        assert len(await run(START - 20 * M)) == 2
        await seed.check_in(session, event, arrived, at=START - 10 * M)
        # ...and again until after the start: no "one hour before" now, but the nudge.
        assert len(await run(START + 40 * M)) == 2
        found = await _reminder_deliveries(session, event.id)
        assert found == {
            "day_before": {coming.id, arrived.id},
            "hour_before": {coming.id, arrived.id},
            "checkin_open": {coming.id, arrived.id},
            "nudge": {coming.id},
            # Recorded once as a reminder; the list itself is a notice to the coordinator.
            "absent_list": set(),
            "reminder.absent_list": {coordinator.id},
        }
        assert await run(START + 2 * H) == []
        listing = (
            await session.exec(
                select(Announcement).where(col(Announcement.template) == "reminder.absent_list")
            )
        ).one()
        values = listing.params["values"]
        assert values["count"] == 1
        assert values["names"].startswith(f"• {coming.full_name} (")


async def test_the_absent_list_is_done_at_once_when_everyone_came(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        event, coming, arrived, _ = await _event_with_people(session)
        for who in (coming, arrived):
            await seed.check_in(session, event, who, at=START)
        await reminders.materialise_due(
            session=session, notifier=_notifier(), offsets=OFFSETS, now=START + 31 * M
        )
        lists = (
            await session.exec(
                select(Announcement).where(col(Announcement.reminder_kind) == "absent_list")
            )
        ).one()
        assert lists.status == "done"
        assert await _reminder_deliveries(session, event.id) == {
            "absent_list": set(),
            "nudge": set(),
            "checkin_open": set(),
        }


async def test_a_long_absent_list_fits_one_message(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        event = await seed.event(session, starts_at=START, created_at=START - 7 * 24 * H)
        coordinator = await seed.person(session, language="en")
        await seed.grant(session, coordinator, Role.COORDINATOR, (3,))
        ids = [8_100_000 + n for n in range(200)]
        await seed.many_people(session, telegram_ids=ids, district_code=seed.ZONE3_DISTRICT)
        people = await session.exec(select(Person.id).where(col(Person.telegram_id).in_(ids)))
        session.add_all(
            Registration(event_id=event.id, person_id=person_id) for person_id in people.all()
        )
        await session.commit()
        await reminders.materialise_due(
            session=session, notifier=_notifier(), offsets=OFFSETS, now=START + 31 * M
        )
        listing = (
            await session.exec(
                select(Announcement).where(col(Announcement.template) == "reminder.absent_list")
            )
        ).one()
        values = listing.params["values"]
        names = values["names"].splitlines()
        assert values["count"] == 200
        # The coordinator reads English: district names in English.
        assert names[0] == "• อาสา 8100000 (Khlong Toei)"
        assert names[-1] == f"… +{200 - (len(names) - 1)}"
        assert len(values["names"]) <= reminders.LIST_BUDGET_CHARS + 20


async def test_rsvp_yes_no_and_the_waiting_list(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        event = await seed.event(session, starts_at=START, capacity=2)
        first = await seed.person(session, language="en")
        second = await seed.person(session)
        waiting = await seed.person(session)
        later = await seed.person(session)
        await seed.register(session, event, first)
        await seed.register(session, event, second)
        await seed.register(
            session, event, waiting, status=RegistrationStatus.WAITLISTED, at=START - 5 * H
        )
        await seed.register(
            session, event, later, status=RegistrationStatus.WAITLISTED, at=START - 4 * H
        )
        now = START - 2 * H
        yes = await reminders.attend(
            session=session, person_id=second.id, event_id=event.id, now=now
        )
        assert (yes.attending, yes.cancelled, yes.promoted) == (True, False, 0)
        # "I can't come" asks first: checking it changes nothing.
        asked = await reminders.check_withdrawal(
            session=session, person_id=first.id, event_id=event.id, now=now
        )
        assert (asked.attending, asked.cancelled) == (False, False)
        no = await reminders.withdraw(
            session=session, notifier=_notifier(), person_id=first.id, event_id=event.id, now=now
        )
        assert (no.attending, no.cancelled, no.promoted) == (False, True, 1)
        statuses = dict(
            (
                await session.exec(
                    select(Registration.person_id, Registration.status).where(
                        col(Registration.event_id) == event.id
                    )
                )
            ).all()
        )
        assert statuses == {
            first.id: RegistrationStatus.CANCELLED,
            second.id: RegistrationStatus.REGISTERED,
            waiting.id: RegistrationStatus.REGISTERED,
            later.id: RegistrationStatus.WAITLISTED,
        }
        attending = (
            await session.exec(
                select(Registration.attending).where(col(Registration.person_id) == second.id)
            )
        ).one()
        assert attending == "yes"
        # The promoted one is told through the outbox.
        told = (
            await session.exec(
                select(Delivery.person_id)
                .join(Announcement, col(Announcement.id) == col(Delivery.announcement_id))
                .where(col(Announcement.template) == "events.promoted")
            )
        ).all()
        assert told == [waiting.id]
        with pytest.raises(RegistrationGone):
            await reminders.attend(session=session, person_id=first.id, event_id=event.id, now=now)
        with pytest.raises(RegistrationGone):
            await reminders.check_withdrawal(
                session=session, person_id=first.id, event_id=event.id, now=now
            )
        with pytest.raises(EventOver):
            await reminders.withdraw(
                session=session,
                notifier=_notifier(),
                person_id=second.id,
                event_id=event.id,
                now=START + 4 * H,
            )
