"""Merging two records of one person: what moves, what is kept, and an exact undo."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import merges
from bot.services.errors import NotAllowed, NotFound
from bot.services.merges import MergeRefused
from storage.database import create_engine, session_factory
from storage.models import (
    AuditEntry,
    CheckIn,
    CheckInMethod,
    Person,
    Registration,
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


async def merge(session: AsyncSession, kept_id: int | None, merged_id: int | None) -> Any:
    """Merge by staff's word, as nobody in particular."""
    return await merges.merge(
        session=session,
        kept_id=kept_id or 0,
        merged_id=merged_id or 0,
        reason="staff",
        by_id=None,
        now=NOW,
    )


async def walkin(session: AsyncSession, name: str = "สมชาย ใจดี", **extra: Any) -> Person:
    """A record staff entered, without Telegram."""
    person = Person(full_name=name, is_walkin=True, **extra)
    session.add(person)
    await session.commit()
    return person


async def check_in(session: AsyncSession, event_id: int, person: Person, at: datetime) -> None:
    session.add(
        CheckIn(event_id=event_id, person_id=person.id or 0, checked_in_at=at, method="walkin")
    )
    await session.commit()


async def sign_up(
    session: AsyncSession,
    event_id: int,
    person: Person,
    at: datetime,
    status: str = RegistrationStatus.REGISTERED,
) -> None:
    session.add(
        Registration(
            event_id=event_id, person_id=person.id or 0, created_at=at, updated_at=at, status=status
        )
    )
    await session.commit()


async def snapshot(session: AsyncSession) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every check-in and sign-up, as comparable tuples (as the database has them now)."""
    fresh = {"populate_existing": True}
    checks = (
        await session.exec(select(CheckIn).order_by(col(CheckIn.id)).execution_options(**fresh))
    ).all()
    signs = (
        await session.exec(
            select(Registration).order_by(col(Registration.id)).execution_options(**fresh)
        )
    ).all()
    return (
        [(c.id, c.event_id, c.person_id, c.checked_in_at, c.method) for c in checks],
        [(r.id, r.event_id, r.person_id, r.status, r.created_at) for r in signs],
    )


async def test_a_merge_moves_everything_keeps_the_earlier_and_undoes_exactly(
    session: AsyncSession,
) -> None:
    first = await make_event(session, now=NOW, title="ครั้งที่ 1")
    second = await make_event(session, now=NOW, title="ครั้งที่ 2")
    third = await make_event(session, now=NOW, title="ครั้งที่ 3")
    kept = await make_person(session, full_name="สมชาย ใจดี", telegram_id=11, phone="+66812345678")
    gone = await walkin(session, phone="+66812345678")
    # Only the walk-in came to the first; both "came" to the second and third.
    await check_in(session, first.id or 0, gone, NOW)
    await check_in(session, second.id or 0, kept, NOW + timedelta(minutes=5))
    await check_in(session, second.id or 0, gone, NOW)  # the walk-in's is earlier: kept
    await check_in(session, third.id or 0, kept, NOW)
    await check_in(session, third.id or 0, gone, NOW + timedelta(minutes=9))  # later: dropped
    await sign_up(session, first.id or 0, gone, NOW)
    await sign_up(session, second.id or 0, kept, NOW, RegistrationStatus.CANCELLED)
    await sign_up(session, second.id or 0, gone, NOW + timedelta(hours=1))  # active wins
    before = await snapshot(session)

    record = await merge(session, kept.id, gone.id)
    await session.commit()
    check_ins, sign_ups = await snapshot(session)
    assert {row[2] for row in check_ins} == {kept.id}
    assert sorted((row[1], row[3]) for row in check_ins) == [
        (first.id, NOW),
        (second.id, NOW),
        (third.id, NOW),
    ]
    assert {row[2] for row in sign_ups} == {kept.id}
    assert [(row[1], row[3]) for row in sorted(sign_ups, key=lambda r: r[1])] == [
        (first.id, "registered"),
        (second.id, "registered"),
    ]
    merged = await session.get(Person, gone.id)
    assert merged is not None
    assert merged.merged_into_id == kept.id
    assert len(record.detail["check_ins"]["dropped"]) == 2
    [entry] = (await session.exec(select(AuditEntry))).all()
    assert (entry.action, entry.target_id, entry.detail["kept_id"]) == (
        "person.merge",
        str(gone.id),
        kept.id,
    )
    assert "+66" not in str(entry.detail)
    assert "สมชาย" not in str(entry.detail)

    await merges.unmerge(session=session, merge_id=record.id or 0, by_id=None, now=NOW)
    await session.commit()
    assert await snapshot(session) == before
    merged = await session.get(Person, gone.id)
    assert merged is not None
    assert merged.merged_into_id is None
    with pytest.raises(MergeRefused):
        await merges.unmerge(session=session, merge_id=record.id or 0, by_id=None, now=NOW)
    actions = (await session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id)))).all()
    assert list(actions) == ["person.merge", "person.unmerge"]


async def test_a_telegram_record_is_never_merged_away(session: AsyncSession) -> None:
    one = await make_person(session, telegram_id=1)
    other = await make_person(session, telegram_id=2)
    for kept, merged in ((one, other), (one, one)):
        with pytest.raises(MergeRefused):
            await merge(session, kept.id, merged.id)
    with pytest.raises(NotFound):
        await merge(session, one.id, 999)


async def test_an_undo_waits_for_a_later_merge_of_the_kept_record(session: AsyncSession) -> None:
    a, b = await walkin(session, "ก ข"), await walkin(session, "ก ข")
    c = await make_person(session, telegram_id=3, full_name="ก ข")
    first = await merge(session, b.id, a.id)
    second = await merge(session, c.id, b.id)
    with pytest.raises(MergeRefused):
        await merges.unmerge(session=session, merge_id=first.id or 0, by_id=None, now=NOW)
    with pytest.raises(MergeRefused):  # merged away already
        await merge(session, c.id, a.id)
    await merges.unmerge(session=session, merge_id=second.id or 0, by_id=None, now=NOW)
    await merges.unmerge(session=session, merge_id=first.id or 0, by_id=None, now=NOW)
    await session.commit()
    assert all(
        person.merged_into_id is None for person in (await session.exec(select(Person))).all()
    )


async def test_a_shared_number_claims_only_walkins_with_it(session: AsyncSession) -> None:
    event = await make_event(session, now=NOW)
    registered = await make_person(session, telegram_id=9, phone="+66812345678")
    mine = await walkin(session, phone="+66812345678")
    erased = await walkin(session, phone="+66812345678", erased_at=NOW)
    another_account = await make_person(session, telegram_id=10, phone="+66812345678")
    not_mine = await walkin(session, phone="+66898765432")
    await check_in(session, event.id or 0, mine, NOW)
    done = await merges.link_shared_phone(session=session, person=registered, now=NOW)
    await session.commit()
    assert [(m.kept_id, m.merged_id, m.reason) for m in done] == [
        (registered.id, mine.id, "contact")
    ]
    for person, into in (
        (mine, registered.id),
        (erased, None),
        (another_account, None),
        (not_mine, None),
    ):
        fresh = await session.get(Person, person.id, populate_existing=True)
        assert fresh is not None
        assert fresh.merged_into_id == into
    [row] = (await session.exec(select(CheckIn).execution_options(populate_existing=True))).all()
    assert (row.person_id, row.method) == (registered.id, CheckInMethod.WALKIN)


async def test_candidates_are_pairs_with_a_walkin_by_phone_or_name_and_district(
    session: AsyncSession,
) -> None:
    staff = await make_person(session)
    registered = await make_person(
        session, telegram_id=20, full_name="สมชาย ใจดี", phone="+66812345678"
    )
    by_phone = await walkin(session, "สมชาย", phone="+66812345678")
    by_name = await walkin(session, "Malee Srisuk", district_code="1033")
    twin = await walkin(session, "MALEE SRISUK", district_code="1033")
    await make_person(session, telegram_id=21, phone="+66898765432")
    await make_person(session, telegram_id=22, phone="+66898765432")  # two accounts: never
    await walkin(session, "Malee Srisuk", district_code="1006")  # another district
    access = access_of(staff, Role.STAFF)
    found = await merges.candidates(session=session, access=access)
    pairs = [(c.kept.person_id, c.merged.person_id, c.same_phone) for c in found]
    assert pairs == [(registered.id, by_phone.id, True), (by_name.id, twin.id, False)]
    only = await merges.candidates(session=session, access=access, phone="+66812345678")
    assert [(c.kept.person_id, c.merged.person_id) for c in only] == [(registered.id, by_phone.id)]
    with pytest.raises(NotAllowed):
        await merges.candidates(session=session, access=access_of(staff, Role.COORDINATOR))
    pair = await merges.pair(
        session=session, access=access, kept_id=registered.id or 0, merged_id=by_phone.id or 0
    )
    assert (pair.kept.has_telegram, pair.merged.has_telegram) == (True, False)
    with pytest.raises(MergeRefused):  # the other way round would merge a Telegram record away
        await merges.pair(
            session=session, access=access, kept_id=by_phone.id or 0, merged_id=registered.id or 0
        )
    done = await merges.merge_by_staff(
        session=session,
        access=access,
        kept_id=registered.id or 0,
        merged_id=by_phone.id or 0,
        now=NOW,
    )
    await session.commit()
    assert done.by_id == staff.id
    [recent] = await merges.recent(session=session, access=access)
    assert (recent.kept.person_id, recent.merged.person_id, recent.reason) == (
        registered.id,
        by_phone.id,
        "staff",
    )
    assert [
        c.merged.person_id for c in await merges.candidates(session=session, access=access)
    ] == [twin.id]


async def test_two_walkins_of_one_number_at_one_event_leave_one_check_in(
    session: AsyncSession,
) -> None:
    event = await make_event(session, now=NOW)
    registered = await make_person(session, telegram_id=30, phone="+66812345678")
    earlier = await walkin(session, phone="+66812345678")
    later = await walkin(session, phone="+66812345678")
    await check_in(session, event.id or 0, later, NOW + timedelta(minutes=3))
    await check_in(session, event.id or 0, earlier, NOW)
    done = await merges.link_shared_phone(session=session, person=registered, now=NOW)
    await session.commit()
    assert [m.merged_id for m in done] == [earlier.id, later.id]
    [row] = (await session.exec(select(CheckIn).execution_options(populate_existing=True))).all()
    assert (row.person_id, row.checked_in_at) == (registered.id, NOW)
