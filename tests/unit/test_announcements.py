"""Announcements: created with their deliveries in one go, scheduled, cancelled, reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from bot.services import announcements
from bot.services.announcements import AlreadyStarted, EmptyText, NotInFuture, TextTooLong
from bot.services.audiences import AudienceTooWide
from bot.services.errors import NotAllowed
from storage.models import (
    Announcement,
    AnnouncementStatus,
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Role,
)
from tests import outbox_seed as seed

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
TEXT = "ประชุมอาสาสมัครวันเสาร์นี้ 09.00 น."


async def _deliveries(session, announcement_id: int) -> list[Delivery]:
    rows = await session.exec(
        select(Delivery).where(Delivery.announcement_id == announcement_id).order_by(Delivery.id)
    )
    return list(rows.all())


async def test_send_now_creates_one_pending_delivery_per_recipient(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        author = await seed.person(session)
        people = [await seed.person(session, district_code=seed.ZONE3_DISTRICT) for _ in range(3)]
        await seed.person(session, district_code=seed.ZONE4_DISTRICT)
        entities = [{"type": "bold", "offset": 0, "length": 5}]
        created = await announcements.create(
            session=session,
            access=seed.access(author, Role.ORGANISER),
            audience={"kind": "zones", "values": [3]},
            text=TEXT,
            entities=entities,
            send_at=None,
            now=NOW,
        )
        assert created.status == AnnouncementStatus.SENDING
        assert created.started_at == NOW
        assert created.entities == entities
        rows = await _deliveries(session, created.id)
        assert [(d.person_id, d.chat_id, d.status) for d in rows] == [
            (p.id, p.telegram_id, DeliveryStatus.PENDING) for p in people
        ]
        audit = (await session.exec(select(AuditEntry))).one()
        assert audit.action == "broadcast.create"
        assert audit.detail["recipients"] == 3
        assert TEXT not in str(audit.detail)


async def test_scheduled_announcements_start_once_with_the_audience_of_their_time(
    database_url: str,
) -> None:
    async with seed.open_session(database_url) as session:
        author = await seed.person(session)
        created = await announcements.create(
            session=session,
            access=seed.access(author, Role.ADMIN),
            audience={"kind": "everyone"},
            text=TEXT,
            entities=None,
            send_at=NOW + timedelta(hours=1),
            now=NOW,
        )
        assert created.status == AnnouncementStatus.SCHEDULED
        assert await _deliveries(session, created.id) == []
        late_comer = await seed.person(session)
        assert await announcements.start_due(session=session, now=NOW) == []
        due = NOW + timedelta(hours=1)
        assert await announcements.start_due(session=session, now=due) == [created.id]
        # The sweep and an alarm firing together: the second finds nothing to start.
        assert await announcements.start_due(session=session, now=due) == []
        rows = await _deliveries(session, created.id)
        assert {d.person_id for d in rows} == {author.id, late_comer.id}


async def test_cancel_and_reschedule_only_before_the_start(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        author = await seed.person(session)
        other = await seed.person(session)
        mine = seed.access(author, Role.COORDINATOR, zones=frozenset({3}))
        created = await announcements.create(
            session=session,
            access=mine,
            audience={"kind": "zones", "values": [3]},
            text=TEXT,
            entities=None,
            send_at=NOW + timedelta(hours=1),
            now=NOW,
        )
        with pytest.raises(NotAllowed):
            await announcements.cancel(
                session=session,
                access=seed.access(other, Role.COORDINATOR, zones=frozenset({3})),
                announcement_id=created.id,
                now=NOW,
            )
        with pytest.raises(NotInFuture):
            await announcements.reschedule(
                session=session, access=mine, announcement_id=created.id, send_at=NOW, now=NOW
            )
        moved = await announcements.reschedule(
            session=session,
            access=mine,
            announcement_id=created.id,
            send_at=NOW + timedelta(hours=3),
            now=NOW,
        )
        assert moved.send_at == NOW + timedelta(hours=3)
        assert await announcements.start_due(session=session, now=NOW + timedelta(hours=2)) == []
        cancelled = await announcements.cancel(
            session=session, access=mine, announcement_id=created.id, now=NOW
        )
        assert cancelled.status == AnnouncementStatus.CANCELLED
        assert await announcements.start_due(session=session, now=NOW + timedelta(days=1)) == []
        with pytest.raises(AlreadyStarted):
            await announcements.cancel(
                session=session, access=mine, announcement_id=created.id, now=NOW
            )
        started = await announcements.create(
            session=session,
            access=mine,
            audience={"kind": "zones", "values": [3]},
            text=TEXT,
            entities=None,
            send_at=None,
            now=NOW,
        )
        with pytest.raises(AlreadyStarted):
            await announcements.reschedule(
                session=session,
                access=mine,
                announcement_id=started.id,
                send_at=NOW + timedelta(hours=1),
                now=NOW,
            )
        actions = (await session.exec(select(AuditEntry.action).order_by(AuditEntry.id))).all()
        assert actions == [
            "broadcast.create",
            "broadcast.reschedule",
            "broadcast.cancel",
            "broadcast.create",
        ]


async def test_refusals_leave_nothing_behind(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        author = await seed.person(session)
        coordinator = seed.access(author, Role.COORDINATOR, zones=frozenset({3}))
        cases = [
            (coordinator, {"kind": "everyone"}, TEXT, None, AudienceTooWide),
            (coordinator, {"kind": "zones", "values": [4]}, TEXT, None, AudienceTooWide),
            (seed.access(author, Role.STAFF), {"kind": "everyone"}, TEXT, None, NotAllowed),
            (coordinator, {"kind": "zones", "values": [3]}, "   ", None, EmptyText),
            (coordinator, {"kind": "zones", "values": [3]}, "ก" * 4097, None, TextTooLong),
            (coordinator, {"kind": "zones", "values": [3]}, TEXT, NOW, NotInFuture),
        ]
        for who, audience, text, send_at, error in cases:
            with pytest.raises(error):
                await announcements.create(
                    session=session,
                    access=who,
                    audience=audience,
                    text=text,
                    entities=None,
                    send_at=send_at,
                    now=NOW,
                )
            await session.rollback()
        assert (await session.exec(select(func.count()).select_from(Announcement))).one() == 0
        assert (await session.exec(select(func.count()).select_from(AuditEntry))).one() == 0
        # The longest message Telegram takes is fine.
        assert announcements.check_text("ก" * 4096)


async def test_finish_and_report_once_with_reasons(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        author = await seed.person(session, language="en")
        for _ in range(4):
            await seed.person(session)
        created = await announcements.create(
            session=session,
            access=seed.access(author, Role.ORGANISER),
            audience={"kind": "everyone"},
            text=TEXT,
            entities=None,
            send_at=None,
            now=NOW,
        )
        rows = await _deliveries(session, created.id)
        assert len(rows) == 5
        outcomes = [
            (DeliveryStatus.SENT, None),
            (DeliveryStatus.SENT, None),
            (DeliveryStatus.BLOCKED, "blocked"),
            (DeliveryStatus.FAILED, "TimedOut: Timed out"),
            (DeliveryStatus.PENDING, None),
        ]
        for row, (status, error) in zip(rows, outcomes, strict=True):
            row.status, row.error = status, error
            session.add(row)
        await session.commit()
        assert await announcements.finish_complete(session=session, now=NOW) == []
        rows[-1].status, rows[-1].error = DeliveryStatus.FAILED, "TimedOut: Timed out"
        session.add(rows[-1])
        await session.commit()
        finished_at = NOW + timedelta(minutes=2, seconds=5)
        assert await announcements.finish_complete(session=session, now=finished_at) == [created.id]
        reports = await announcements.claim_reports(session=session, now=finished_at)
        assert reports == [
            announcements.Report(
                announcement_id=created.id,
                chat_id=author.telegram_id,
                language="en",
                delivered=2,
                blocked=1,
                failed=2,
                reasons={"TimedOut: Timed out": 2},
                seconds=125.0,
            )
        ]
        assert await announcements.claim_reports(session=session, now=finished_at) == []


async def test_an_empty_audience_is_done_at_once(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        author = await seed.person(session, district_code=seed.ZONE4_DISTRICT)
        created = await announcements.create(
            session=session,
            access=seed.access(author, Role.ORGANISER),
            audience={"kind": "zones", "values": [3]},
            text=TEXT,
            entities=None,
            send_at=None,
            now=NOW,
        )
        assert created.status == AnnouncementStatus.DONE
        reports = await announcements.claim_reports(session=session, now=NOW)
        assert [(r.delivered, r.blocked, r.failed) for r in reports] == [(0, 0, 0)]


async def test_listing_shows_scheduled_and_recent_with_progress(database_url: str) -> None:
    async with seed.open_session(database_url) as session:
        organiser = await seed.person(session)
        coordinator = await seed.person(session, district_code=seed.ZONE3_DISTRICT)
        coord_access = seed.access(coordinator, Role.COORDINATOR, zones=frozenset({3}))
        sent = await announcements.create(
            session=session,
            access=seed.access(organiser, Role.ORGANISER),
            audience={"kind": "everyone"},
            text="ส่งแล้ว",
            entities=None,
            send_at=None,
            now=NOW,
        )
        later = await announcements.create(
            session=session,
            access=coord_access,
            audience={"kind": "zones", "values": [3]},
            text="ภายหลัง",
            entities=None,
            send_at=NOW + timedelta(days=1),
            now=NOW,
        )
        everything = await announcements.listing(
            session=session, access=seed.access(organiser, Role.ORGANISER)
        )
        assert [(s.id, s.status) for s in everything] == [
            (later.id, AnnouncementStatus.SCHEDULED),
            (sent.id, AnnouncementStatus.SENDING),
        ]
        assert everything[1].progress == announcements.Progress(total=2, pending=2)
        own = await announcements.listing(session=session, access=coord_access)
        assert [s.id for s in own] == [later.id]
        total = (
            await session.exec(
                select(func.count()).select_from(Delivery).where(col(Delivery.status) == "pending")
            )
        ).one()
        assert total == 2
