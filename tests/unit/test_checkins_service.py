"""The check-in service: every method, the window rules, staff and check-out (walk-ins:
test_walkins.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import checkins, events
from bot.services.checkins import (
    AlreadyCheckedIn,
    AlreadyCheckedOut,
    BadToken,
    CheckInClosed,
    CheckInNotOpen,
    CheckoutNotEnabled,
    EventCancelled,
    EventEnded,
    ForwardedLocation,
    NoOpenEvent,
    NotCheckedIn,
    NoVenuePin,
    SearchTooShort,
    TooFar,
    TooManyWrongCodes,
    WrongCode,
    WrongCodeLimiter,
)
from bot.services.errors import NotAllowed
from bot.services.events import OVERRIDE_CLOSED
from storage.database import create_engine, session_factory
from storage.models import (
    AuditEntry,
    CheckIn,
    CheckInMethod,
    District,
    EventStatus,
    Role,
)
from tests.factories import VENUE_LAT, VENUE_LON, access_of, make_event, make_person

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


async def rows(session: AsyncSession) -> list[CheckIn]:
    """Every check-in row."""
    return list((await session.exec(select(CheckIn))).all())


async def by_code(
    session: AsyncSession,
    person_id: int | None,
    code: str,
    *,
    now: datetime = NOW,
    limiter: WrongCodeLimiter | None = None,
) -> checkins.CheckInResult:
    """A typed-code check-in, with a fresh wrong-code limiter unless one is given."""
    assert person_id is not None  # a committed person
    return await checkins.check_in_by_code(
        session=session,
        person_id=person_id,
        code_text=code,
        now=now,
        limiter=limiter or WrongCodeLimiter(),
    )


async def test_code_check_in_records_method_time_and_lateness(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW, starts_in=timedelta(minutes=-5))
    person = await make_person(session)
    result = await by_code(session, person.id, event.code.lower())
    assert (result.method, result.late, result.event_title) == (
        CheckInMethod.CODE,
        True,
        event.title,
    )
    [row] = await rows(session)
    assert (row.person_id, row.method, row.late, row.checked_in_at) == (
        person.id,
        "code",
        True,
        NOW,
    )


async def test_second_check_in_by_any_method_says_when_and_changes_nothing(
    session: AsyncSession,
) -> None:
    event = await make_event(session, now=NOW, latitude=VENUE_LAT, longitude=VENUE_LON)
    person = await make_person(session)
    first = await checkins.check_in_by_token(
        session=session, person_id=person.id, token=event.token, now=NOW
    )
    assert (first.method, first.late) == (CheckInMethod.QR, False)
    later = NOW + timedelta(minutes=7)
    with pytest.raises(AlreadyCheckedIn) as again:
        await by_code(session, person.id, event.code, now=later)
    assert again.value.values["at"] == NOW
    with pytest.raises(AlreadyCheckedIn):
        await checkins.check_in_by_location(
            session=session,
            person_id=person.id,
            latitude=VENUE_LAT,
            longitude=VENUE_LON,
            forwarded=False,
            now=later,
        )
    staff = await make_person(session)
    with pytest.raises(AlreadyCheckedIn):
        await checkins.check_in_for(
            session=session,
            access=access_of(staff, Role.STAFF),
            event_id=event.id,
            person_id=person.id,
            now=later,
        )
    [row] = await rows(session)
    assert (row.method, row.checked_in_at) == ("qr", NOW)
    assert (await session.exec(select(AuditEntry))).all() == []


async def test_window_opens_an_hour_before_and_closes_at_the_end(session: AsyncSession) -> None:
    event = await make_event(
        session, now=NOW, starts_in=timedelta(hours=2), lasts=timedelta(hours=1)
    )
    person = await make_person(session)

    async def attempt(at: datetime) -> None:
        await checkins.check_in(
            session=session, event_id=event.id, person_id=person.id, method=CheckInMethod.QR, now=at
        )

    with pytest.raises(CheckInNotOpen) as early:
        await attempt(NOW + timedelta(minutes=59))
    assert early.value.values["opens_at"] == NOW + timedelta(hours=1)
    with pytest.raises(EventEnded):
        await attempt(NOW + timedelta(hours=3))
    await attempt(NOW + timedelta(hours=1))
    assert len(await rows(session)) == 1


async def test_per_event_window_and_manual_open_and_close(session: AsyncSession) -> None:
    event = await make_event(
        session,
        now=NOW,
        starts_in=timedelta(hours=3),
        opens_before_minutes=15,
        closes_after_minutes=30,
    )
    organiser = await make_person(session)
    access = access_of(organiser, Role.ORGANISER)
    assert not checkins.window_open(event, NOW + timedelta(hours=2, minutes=44))
    assert checkins.window_open(event, NOW + timedelta(hours=2, minutes=45))
    assert checkins.window_open(event, event.ends_at + timedelta(minutes=29))
    assert not checkins.window_open(event, event.ends_at + timedelta(minutes=30))

    opened = await events.set_checkin_override(
        session=session, access=access, event_id=event.id, override="open", now=NOW
    )
    assert checkins.window_open(opened, NOW)
    closed = await events.set_checkin_override(
        session=session, access=access, event_id=event.id, override="closed", now=NOW
    )
    with pytest.raises(CheckInClosed):
        checkins.check_window(closed, event.starts_at)


async def test_cancelled_and_ended_events_refuse_codes_and_tokens(session: AsyncSession) -> None:
    cancelled = await make_event(session, now=NOW, status=EventStatus.CANCELLED)
    ended = await make_event(session, now=NOW, starts_in=timedelta(hours=-5))
    person = await make_person(session)
    with pytest.raises(EventCancelled):
        await checkins.check_in_by_token(
            session=session, person_id=person.id, token=cancelled.token, now=NOW
        )
    with pytest.raises(EventEnded):
        await by_code(session, person.id, ended.code)
    for token in ("nonsense-but-long-enough-token", "../../etc/passwd", "x" * 500):
        with pytest.raises(BadToken):
            await checkins.check_in_by_token(
                session=session, person_id=person.id, token=token, now=NOW
            )
    assert await rows(session) == []


async def test_a_refused_code_leaves_no_row_even_when_the_caller_commits(
    session: AsyncSession,
) -> None:
    """A registration commits even when the code its newcomer came with is refused, so no
    refusal may leave a row behind. On PostgreSQL one statement finds the event and inserts
    before the window is checked; a refusal takes the row back before it is raised."""
    person = await make_person(session)
    refused = [
        (await make_event(session, now=NOW, status=EventStatus.CANCELLED), EventCancelled),
        (await make_event(session, now=NOW, starts_in=timedelta(hours=-5)), EventEnded),
        (await make_event(session, now=NOW, starts_in=timedelta(hours=3)), CheckInNotOpen),
        (await make_event(session, now=NOW, checkin_override=OVERRIDE_CLOSED), CheckInClosed),
    ]
    for event, refusal in refused:
        with pytest.raises(refusal):
            await by_code(session, person.id, event.code)
        await session.commit()
    assert await rows(session) == []
    # The same person can still check in where the window is open, not late before the start.
    open_event = await make_event(session, now=NOW)
    result = await by_code(session, person.id, open_event.code)
    await session.commit()
    assert (result.event_id, result.late) == (open_event.id, False)
    [row] = await rows(session)
    assert (row.event_id, row.person_id, row.late) == (open_event.id, person.id, False)


async def test_wrong_codes_are_slowed_down_after_five_a_minute(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW)
    person = await make_person(session)
    limiter = WrongCodeLimiter()

    async def attempt(code: str, at: datetime) -> None:
        await by_code(session, person.id, code, now=at, limiter=limiter)

    for i in range(5):
        with pytest.raises(WrongCode):
            await attempt("ZZZZZZ" if i % 2 else "hello", NOW + timedelta(seconds=i))
    with pytest.raises(TooManyWrongCodes) as slow:
        await attempt(event.code, NOW + timedelta(seconds=10))
    assert slow.value.values["seconds"] == 50
    # Someone else is not affected, and a minute after the first mistake the person may retry.
    other = await make_person(session)
    await by_code(session, other.id, event.code, limiter=limiter)
    await attempt(event.code, NOW + timedelta(seconds=61))
    assert len(await rows(session)) == 2


async def test_rotation_makes_the_old_code_stop_at_once(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW)
    organiser = await make_person(session)
    access = access_of(organiser, Role.ORGANISER)
    old = event.code
    await events.rotate_code(session=session, access=access, event_id=event.id, now=NOW)
    assert await checkins.event_for_code(session=session, code=old, now=NOW) is None


async def test_auto_rotating_codes_change_every_window(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW)
    organiser = await make_person(session)
    rotating = await events.set_auto_rotation(
        session=session,
        access=access_of(organiser, Role.ORGANISER),
        event_id=event.id,
        seconds=60,
        now=NOW,
    )
    first = checkins.current_code(rotating, NOW + timedelta(seconds=30))
    second = checkins.current_code(rotating, NOW + timedelta(seconds=60))
    assert first != second
    assert checkins.code_valid_until(rotating, NOW + timedelta(seconds=30)) == NOW + timedelta(
        seconds=60
    )
    found = await checkins.event_for_code(
        session=session, code=first, now=NOW + timedelta(seconds=59)
    )
    assert found is not None
    assert found.id == event.id
    # A photo of the screen sent home is useless a window later; the stored seed never works.
    late = NOW + timedelta(seconds=61)
    assert await checkins.event_for_code(session=session, code=first, now=late) is None
    assert await checkins.event_for_code(session=session, code=rotating.code, now=late) is None
    person = await make_person(session)
    result = await by_code(session, person.id, second, now=late)
    assert result.event_id == event.id


async def test_location_within_radius_checks_in_and_far_away_says_how_far(
    session: AsyncSession,
) -> None:
    event = await make_event(
        session, now=NOW, latitude=VENUE_LAT, longitude=VENUE_LON, radius_m=200
    )
    person = await make_person(session)

    async def share(lat: float, lon: float, *, forwarded: bool = False) -> checkins.CheckInResult:
        return await checkins.check_in_by_location(
            session=session,
            person_id=person.id,
            latitude=lat,
            longitude=lon,
            forwarded=forwarded,
            now=NOW,
        )

    with pytest.raises(TooFar) as far:
        await share(VENUE_LAT + 0.01, VENUE_LON)  # about 1.1 km north
    assert far.value.values["distance_m"] == pytest.approx(1_112, rel=0.01)
    with pytest.raises(ForwardedLocation):
        await share(VENUE_LAT, VENUE_LON, forwarded=True)
    assert await rows(session) == []
    result = await share(VENUE_LAT + 0.001, VENUE_LON)  # about 110 m away
    assert (result.event_id, result.method) == (event.id, CheckInMethod.LOCATION)


async def test_location_without_open_event_or_pin(session: AsyncSession) -> None:
    person = await make_person(session)
    with pytest.raises(NoOpenEvent):
        await checkins.check_in_by_location(
            session=session,
            person_id=person.id,
            latitude=VENUE_LAT,
            longitude=VENUE_LON,
            forwarded=False,
            now=NOW,
        )
    await make_event(session, now=NOW)
    with pytest.raises(NoVenuePin):
        await checkins.check_in_by_location(
            session=session,
            person_id=person.id,
            latitude=VENUE_LAT,
            longitude=VENUE_LON,
            forwarded=False,
            now=NOW,
        )


async def test_staff_check_in_is_audited_and_volunteers_cannot(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW)
    staff = await make_person(session)
    person = await make_person(session)
    with pytest.raises(NotAllowed):
        await checkins.check_in_for(
            session=session,
            access=access_of(staff),
            event_id=event.id,
            person_id=person.id,
            now=NOW,
        )
    result = await checkins.check_in_for(
        session=session,
        access=access_of(staff, Role.STAFF),
        event_id=event.id,
        person_id=person.id,
        now=NOW,
    )
    assert result.method == CheckInMethod.STAFF
    [row] = await rows(session)
    assert row.performed_by_id == staff.id
    [entry] = (await session.exec(select(AuditEntry))).all()
    assert (entry.action, entry.actor_id, entry.target_id) == (
        "checkin.staff",
        staff.id,
        str(person.id),
    )


async def test_coordinators_check_in_only_people_of_their_zones(session: AsyncSession) -> None:
    session.add(District(code="1001", name_th="พระนคร", name_en="Phra Nakhon", zone=1))
    session.add(District(code="1033", name_th="คลองเตย", name_en="Khlong Toei", zone=3))
    await session.commit()
    event = await make_event(session, now=NOW)
    coordinator = await make_person(session)
    access = access_of(coordinator, Role.COORDINATOR, zones=frozenset({3}))
    mine = await make_person(session, full_name="สมศรี คลองเตย", district_code="1033")
    other = await make_person(session, full_name="สมศักดิ์ พระนคร", district_code="1001")
    with pytest.raises(NotAllowed):
        await checkins.check_in_for(
            session=session, access=access, event_id=event.id, person_id=other.id, now=NOW
        )
    await checkins.check_in_for(
        session=session, access=access, event_id=event.id, person_id=mine.id, now=NOW
    )
    found = await checkins.search_people(session=session, access=access, query="สมศ")
    assert [m.person_id for m in found.matches] == [mine.id]


async def test_search_needs_three_characters_and_shows_at_most_ten(session: AsyncSession) -> None:
    staff = await make_person(session)
    access = access_of(staff, Role.STAFF)
    for i in range(12):
        await make_person(session, full_name=f"Somchai Jaidee {i:02d}")
    target = await make_person(session, full_name="วิภา ใจดี", phone="+66812345678")
    for short in ("", "  ", "So", "%%", "08"):
        with pytest.raises(SearchTooShort):
            await checkins.search_people(session=session, access=access, query=short)
    many = await checkins.search_people(session=session, access=access, query="somchai")
    assert (len(many.matches), many.more) == (10, True)
    for query in ("0812345678", "081-234-5678", "+66 81 234 5678", "5678", "วิภา"):
        found = await checkins.search_people(session=session, access=access, query=query)
        assert [m.person_id for m in found.matches] == [target.id], query
        assert found.matches[0].masked_phone == "+66 8x xxx 5678"
    # Wildcards and SQL are searched for literally, never as "everyone".
    for query in ("%%%", "___", "' OR 1=1 --", "%' OR '1'='1"):
        found = await checkins.search_people(session=session, access=access, query=query)
        assert found.matches == [], query
    with pytest.raises(NotAllowed):
        await checkins.search_people(session=session, access=access_of(staff), query="somchai")


async def test_check_out(session: AsyncSession) -> None:
    person = await make_person(session)
    with pytest.raises(NotCheckedIn):
        await checkins.check_out(session=session, person_id=person.id, now=NOW)
    event = await make_event(session, now=NOW)
    await checkins.check_in(
        session=session, event_id=event.id, person_id=person.id, method=CheckInMethod.QR, now=NOW
    )
    with pytest.raises(CheckoutNotEnabled):
        await checkins.check_out(session=session, person_id=person.id, now=NOW)
    event.checkout_enabled = True
    session.add(event)
    await session.commit()
    leaving = NOW + timedelta(hours=3)
    result = await checkins.check_out(session=session, person_id=person.id, now=leaving)
    assert (result.checked_in_at, result.checked_out_at) == (NOW, leaving)
    with pytest.raises(AlreadyCheckedOut) as again:
        await checkins.check_out(session=session, person_id=person.id, now=leaving)
    assert again.value.values["at"] == leaving
    [row] = await rows(session)
    assert row.checked_out_at == leaving


async def test_overlapping_venues_check_in_to_the_next_one(session: AsyncSession) -> None:
    morning = await make_event(session, now=NOW, latitude=VENUE_LAT, longitude=VENUE_LON)
    afternoon = await make_event(session, now=NOW, latitude=VENUE_LAT + 0.0005, longitude=VENUE_LON)
    person = await make_person(session)

    async def share() -> checkins.CheckInResult:
        return await checkins.check_in_by_location(
            session=session,
            person_id=person.id,
            latitude=VENUE_LAT,
            longitude=VENUE_LON,
            forwarded=False,
            now=NOW,
        )

    assert (await share()).event_id == morning.id  # the nearest first
    assert (await share()).event_id == afternoon.id
    with pytest.raises(AlreadyCheckedIn):
        await share()
    assert len(await rows(session)) == 2


def test_the_wrong_code_limiter_forgets_people_whose_minute_has_passed() -> None:
    """100,000 people each mistyping once, a minute apart in batches: the limiter's memory
    holds only the last minute's people, not everyone who ever mistyped."""
    limiter = WrongCodeLimiter()
    for n in range(100_000):
        limiter.failed(n, NOW + timedelta(seconds=n // 1000 * 61))
    assert limiter.people <= 2 * checkins.SWEEP_EVERY
    # Someone still within their minute is remembered through a sweep.
    later = NOW + timedelta(seconds=100 * 61)
    for _ in range(checkins.WRONG_CODE_LIMIT):
        limiter.failed(1, later)
    limiter.sweep(later + timedelta(seconds=30))
    with pytest.raises(TooManyWrongCodes):
        limiter.check(1, later + timedelta(seconds=31))
