"""Announcements: created with their deliveries in one go, scheduled, cancelled, reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, func, select

from bot.delivery.notifier import OutboxNotifier
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
        await announcements.reschedule(
            session=session,
            access=mine,
            announcement_id=created.id,
            send_at=NOW + timedelta(hours=3),
            now=NOW,
        )
        moved = await session.get(Announcement, created.id, populate_existing=True)
        assert moved.send_at == NOW + timedelta(hours=3)
        assert await announcements.start_due(session=session, now=NOW + timedelta(hours=2)) == []
        await announcements.cancel(
            session=session, access=mine, announcement_id=created.id, now=NOW
        )
        cancelled = await session.get(Announcement, created.id, populate_existing=True)
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
            # Only invisible characters: zero-width spaces and joiners, a BOM, blank "letters".
            (coordinator, {"kind": "zones", "values": [3]}, "\u200b\u200d\ufeff", None, EmptyText),
            (coordinator, {"kind": "zones", "values": [3]}, "\u2800\u3164 \u00a0", None, EmptyText),
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
        # The longest message Telegram takes is fine, and so is one visible character.
        assert announcements.check_text("ก" * 4096)
        assert announcements.check_text("\u200b.\u200b")
        assert announcements.check_text("👍")


def _notifier() -> OutboxNotifier:
    """The outbox notifier, with nobody to wake."""
    return OutboxNotifier(lambda: None)


async def _reports(session) -> list[tuple[int | None, int, dict]]:
    """(person, chat, values) of every queued report copy."""
    rows = await session.exec(
        select(Delivery.person_id, Delivery.chat_id, Announcement.params)
        .join(Announcement, col(Announcement.id) == col(Delivery.announcement_id))
        .where(col(Announcement.template) == "broadcast.report")
        .order_by(col(Delivery.id))
    )
    return [(person, chat, params["values"]) for person, chat, params in rows.all()]


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
            (DeliveryStatus.SENT, None, True),
            (DeliveryStatus.SENT, None, False),
            (DeliveryStatus.BLOCKED, "blocked", False),
            (DeliveryStatus.FAILED, "TimedOut: Timed out", False),
            (DeliveryStatus.PENDING, None, False),
        ]
        for row, (status, error, resent) in zip(rows, outcomes, strict=True):
            row.status, row.error, row.resent = status, error, resent
            session.add(row)
        await session.commit()
        assert await announcements.finish_complete(session=session, now=NOW) == []
        assert (
            await announcements.queue_reports(session=session, notifier=_notifier(), now=NOW) == 0
        )
        rows[-1].status, rows[-1].error = DeliveryStatus.FAILED, "TimedOut: Timed out"
        session.add(rows[-1])
        await session.commit()
        finished_at = NOW + timedelta(minutes=2, seconds=5)
        assert await announcements.finish_complete(session=session, now=finished_at) == [created.id]
        assert (
            await announcements.queue_reports(
                session=session, notifier=_notifier(), now=finished_at
            )
            == 1
        )
        report = announcements.Report(
            announcement_id=created.id,
            delivered=2,
            blocked=1,
            failed=2,
            reasons={"TimedOut: Timed out": 2},
            seconds=125.0,
            twice=1,
        )
        assert await announcements.report_for(session=session, announcement_id=created.id) == report
        assert await _reports(session) == [
            (author.id, author.telegram_id, dict(report.notice().values))
        ]
        # Once: finishing again queues nothing more.
        assert (
            await announcements.queue_reports(
                session=session, notifier=_notifier(), now=finished_at
            )
            == 0
        )
        assert len(await _reports(session)) == 1


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
        await announcements.queue_reports(session=session, notifier=_notifier(), now=NOW)
        [(_, _, values)] = await _reports(session)
        assert (values["delivered"], values["blocked"], values["failed"]) == (0, 0, 0)


async def test_a_config_admin_without_a_record_gets_the_report_in_their_chat(
    database_url: str,
) -> None:
    async with seed.open_session(database_url) as session:
        await seed.person(session)
        created = await announcements.create(
            session=session,
            access=seed.access(None, Role.ADMIN),
            author_chat=424242,
            audience={"kind": "everyone"},
            text=TEXT,
            entities=None,
            send_at=None,
            now=NOW,
        )
        for row in await _deliveries(session, created.id):
            row.status = DeliveryStatus.SENT
            session.add(row)
        await announcements.finish_complete(session=session, now=NOW)
        await announcements.queue_reports(session=session, notifier=_notifier(), now=NOW)
        [(person, chat, values)] = await _reports(session)
        assert (person, chat, values["delivered"]) == (None, 424242, 1)


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
