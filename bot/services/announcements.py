"""Announcements: writing one, scheduling it, and turning it into one delivery per recipient.

The outbox rule: an announcement starts sending by becoming `sending` and getting all of its
delivery rows in the same transaction, once, guarded by a conditional UPDATE on its status. The
dispatcher (bot/delivery/dispatcher.py) then works through the deliveries; this module finishes
announcements whose deliveries are all settled and hands out each author's report once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audiences, audit
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.errors import DomainError, NotAllowed, NotFound
from storage.models import Announcement, AnnouncementStatus, Delivery, DeliveryStatus, Person

# Telegram's limit for one message.
MAX_TEXT_CHARS = 4096
UNSETTLED = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


class EmptyText(DomainError):
    """An announcement needs some text."""

    key = "broadcast.error.empty"


class TextTooLong(DomainError):
    """More than one Telegram message can hold."""

    key = "broadcast.error.too_long"


class NotInFuture(DomainError):
    """A scheduled time that has already passed."""

    key = "broadcast.error.in_past"


class AlreadyStarted(DomainError):
    """Only announcements that have not started can be changed."""

    key = "broadcast.error.started"


@dataclass(frozen=True)
class Progress:
    """How far an announcement's deliveries have got."""

    total: int = 0
    pending: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Summary:
    """One line of /announcements."""

    id: int
    status: str
    send_at: datetime
    audience: dict[str, Any]
    preview: str
    progress: Progress


@dataclass(frozen=True)
class Report:
    """What the author hears when an announcement has finished."""

    announcement_id: int
    chat_id: int
    language: str
    delivered: int
    blocked: int
    failed: int
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def check_text(text: str) -> str:
    """The text, if it can be sent as one message; EmptyText / TextTooLong otherwise."""
    if not text.strip():
        raise EmptyText()
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(limit=MAX_TEXT_CHARS, length=len(text))
    return text


async def preview_count(*, session: AsyncSession, access: Access, audience: dict[str, Any]) -> int:
    """How many people the audience reaches now (after checking this person may use it)."""
    spec = audiences.normalise(audience)
    await audiences.check_allowed(session=session, access=access, spec=spec)
    return await audiences.count(session=session, spec=spec)


async def create(
    *,
    session: AsyncSession,
    access: Access,
    audience: dict[str, Any],
    text: str,
    entities: list[dict[str, Any]] | None,
    send_at: datetime | None,
    now: datetime,
) -> Announcement:
    """Confirm an announcement: sent now (deliveries created at once) or scheduled for later."""
    spec = audiences.normalise(audience)
    await audiences.check_allowed(session=session, access=access, spec=spec)
    check_text(text)
    if send_at is not None and send_at <= now:
        raise NotInFuture()
    announcement = Announcement(
        author_id=access.person_id,
        audience=spec,
        text=text,
        entities=entities or None,
        status=AnnouncementStatus.SCHEDULED,
        send_at=send_at or now,
        created_at=now,
    )
    session.add(announcement)
    await session.flush()
    recipients = 0
    if send_at is None:
        recipients = await _start(session=session, announcement=announcement, now=now)
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=AuditAction.BROADCAST_CREATE,
        at=now,
        target_type="announcement",
        target_id=announcement.id,
        detail={"audience": spec, "recipients": recipients, "scheduled": send_at is not None},
    )
    await session.commit()
    return announcement


async def _start(*, session: AsyncSession, announcement: Announcement, now: datetime) -> int:
    """Mark it sending and create its deliveries (in the caller's transaction)."""
    announcement.status = AnnouncementStatus.SENDING
    announcement.started_at = now
    session.add(announcement)
    return await materialise(session=session, announcement=announcement, now=now)


async def materialise(*, session: AsyncSession, announcement: Announcement, now: datetime) -> int:
    """One pending delivery per current recipient; an empty audience finishes at once."""
    if announcement.id is None:
        raise ValueError("flush the announcement before creating its deliveries")
    recipients = await audiences.resolve(session=session, spec=announcement.audience)
    if recipients:
        await session.exec(
            insert(Delivery),
            params=[
                {
                    "announcement_id": announcement.id,
                    "person_id": r.person_id,
                    "chat_id": r.chat_id,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
                for r in recipients
            ],
        )
    else:
        announcement.status = AnnouncementStatus.DONE
        announcement.finished_at = now
        session.add(announcement)
    return len(recipients)


async def start_due(*, session: AsyncSession, now: datetime) -> list[int]:
    """Start every scheduled announcement whose time has come; each starts exactly once."""
    due = await session.exec(
        select(Announcement.id).where(
            col(Announcement.status) == AnnouncementStatus.SCHEDULED,
            col(Announcement.send_at) <= now,
        )
    )
    started: list[int] = []
    for announcement_id in list(due.all()):
        if announcement_id is not None and await _start_one(
            session=session, announcement_id=announcement_id, now=now
        ):
            started.append(announcement_id)
    return started


async def _start_one(*, session: AsyncSession, announcement_id: int, now: datetime) -> bool:
    """Flip one announcement from scheduled to sending and create its deliveries, atomically."""
    # The conditional UPDATE is the guard: the sweep, an alarm or a second process racing
    # for the same announcement find it already flipped and create nothing.
    flipped = await session.exec(
        update(Announcement)
        .where(
            col(Announcement.id) == announcement_id,
            col(Announcement.status) == AnnouncementStatus.SCHEDULED,
        )
        .values(status=AnnouncementStatus.SENDING.value, started_at=now)
    )
    if flipped.rowcount != 1:
        await session.rollback()
        return False
    announcement = await session.get(Announcement, announcement_id, populate_existing=True)
    if announcement is None:  # deleted between the UPDATE and now: nothing to send
        await session.rollback()
        return False
    await materialise(session=session, announcement=announcement, now=now)
    await session.commit()
    return True


async def _editable(*, session: AsyncSession, access: Access, announcement_id: int) -> Announcement:
    """A broadcast this person may change: their own, or any for admins and organisers."""
    access.require(Capability.BROADCAST)
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None or announcement.reminder_kind is not None:
        raise NotFound()
    if not access.unscoped and announcement.author_id != access.person_id:
        raise NotAllowed("not the author")
    return announcement


async def check_editable(
    *, session: AsyncSession, access: Access, announcement_id: int
) -> Announcement:
    """The announcement, if this person may still cancel or move it; else a DomainError."""
    announcement = await _editable(session=session, access=access, announcement_id=announcement_id)
    if announcement.status != AnnouncementStatus.SCHEDULED:
        raise AlreadyStarted()
    return announcement


async def cancel(
    *, session: AsyncSession, access: Access, announcement_id: int, now: datetime
) -> Announcement:
    """Cancel a scheduled announcement that has not started."""
    announcement = await _editable(session=session, access=access, announcement_id=announcement_id)
    result = await session.exec(
        update(Announcement)
        .where(
            col(Announcement.id) == announcement_id,
            col(Announcement.status) == AnnouncementStatus.SCHEDULED,
        )
        .values(status=AnnouncementStatus.CANCELLED.value, finished_at=now)
    )
    if result.rowcount != 1:
        await session.rollback()
        raise AlreadyStarted()
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=AuditAction.BROADCAST_CANCEL,
        at=now,
        target_type="announcement",
        target_id=announcement_id,
    )
    await session.commit()
    await session.refresh(announcement)
    return announcement


async def reschedule(
    *,
    session: AsyncSession,
    access: Access,
    announcement_id: int,
    send_at: datetime,
    now: datetime,
) -> Announcement:
    """Move a scheduled announcement that has not started to a new (future) time."""
    announcement = await _editable(session=session, access=access, announcement_id=announcement_id)
    if send_at <= now:
        raise NotInFuture()
    result = await session.exec(
        update(Announcement)
        .where(
            col(Announcement.id) == announcement_id,
            col(Announcement.status) == AnnouncementStatus.SCHEDULED,
        )
        .values(send_at=send_at)
    )
    if result.rowcount != 1:
        await session.rollback()
        raise AlreadyStarted()
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=AuditAction.BROADCAST_RESCHEDULE,
        at=now,
        target_type="announcement",
        target_id=announcement_id,
        detail={"send_at": send_at.isoformat()},
    )
    await session.commit()
    await session.refresh(announcement)
    return announcement


async def progress(*, session: AsyncSession, announcement_ids: list[int]) -> dict[int, Progress]:
    """Delivery counts by status for each announcement."""
    if not announcement_ids:
        return {}
    rows = await session.exec(
        select(Delivery.announcement_id, Delivery.status, func.count())
        .where(col(Delivery.announcement_id).in_(announcement_ids))
        .group_by(col(Delivery.announcement_id), col(Delivery.status))
    )
    counts: dict[int, Counter[str]] = {i: Counter() for i in announcement_ids}
    for announcement_id, status, number in rows.all():
        counts[announcement_id][status] = number
    return {i: _progress(c) for i, c in counts.items()}


def _progress(counts: Counter[str]) -> Progress:
    """Counts by status as a Progress."""
    return Progress(
        total=sum(counts.values()),
        pending=counts[DeliveryStatus.PENDING] + counts[DeliveryStatus.SENDING],
        sent=counts[DeliveryStatus.SENT],
        blocked=counts[DeliveryStatus.BLOCKED],
        failed=counts[DeliveryStatus.FAILED],
    )


async def listing(*, session: AsyncSession, access: Access, limit: int = 10) -> list[Summary]:
    """Scheduled and recent broadcasts this person may see (coordinators: their own)."""
    access.require(Capability.BROADCAST)
    statement = select(Announcement).where(col(Announcement.reminder_kind).is_(None))
    if not access.unscoped:
        statement = statement.where(col(Announcement.author_id) == access.person_id)
    scheduled = await session.exec(
        statement.where(col(Announcement.status) == AnnouncementStatus.SCHEDULED).order_by(
            col(Announcement.send_at)
        )
    )
    recent = await session.exec(
        statement.where(col(Announcement.status) != AnnouncementStatus.SCHEDULED)
        .order_by(col(Announcement.send_at).desc(), col(Announcement.id).desc())
        .limit(limit)
    )
    rows = [*list(scheduled.all())[:limit], *recent.all()]
    counts = await progress(session=session, announcement_ids=[a.id for a in rows if a.id])
    return [
        Summary(
            id=a.id or 0,
            status=a.status,
            send_at=a.send_at,
            audience=a.audience,
            preview=a.text[:60],
            progress=counts.get(a.id or 0, Progress()),
        )
        for a in rows
    ]


async def finish_complete(*, session: AsyncSession, now: datetime) -> list[int]:
    """Mark done every sending announcement whose deliveries have all settled."""
    unsettled = exists().where(
        col(Delivery.announcement_id) == col(Announcement.id),
        col(Delivery.status).in_(UNSETTLED),
    )
    result = await session.exec(
        update(Announcement)
        .where(col(Announcement.status) == AnnouncementStatus.SENDING, ~unsettled)
        .values(status=AnnouncementStatus.DONE.value, finished_at=now)
        .returning(col(Announcement.id))
    )
    finished = [row[0] for row in result.all()]
    await session.commit()
    return finished


async def claim_reports(*, session: AsyncSession, now: datetime) -> list[Report]:
    """The reports due to authors, each handed out once (claimed before it is sent)."""
    # At most once: if the process dies between this commit and the send, that one report is
    # lost, which is better than an author receiving it twice after every restart.
    result = await session.exec(
        update(Announcement)
        .where(
            col(Announcement.status) == AnnouncementStatus.DONE,
            col(Announcement.report_sent_at).is_(None),
            col(Announcement.author_id).is_not(None),
        )
        .values(report_sent_at=now)
        .returning(col(Announcement.id))
    )
    claimed = [row[0] for row in result.all()]
    await session.commit()
    reports = []
    for announcement_id in claimed:
        report = await report_for(session=session, announcement_id=announcement_id)
        if report is not None:
            reports.append(report)
    return reports


async def report_for(*, session: AsyncSession, announcement_id: int) -> Report | None:
    """The figures of a finished announcement, addressed to its author (if reachable)."""
    row = (
        await session.exec(
            select(Announcement, Person)
            .join(Person, col(Person.id) == col(Announcement.author_id))
            .where(col(Announcement.id) == announcement_id)
        )
    ).first()
    if row is None:
        return None
    announcement, author = row
    if author.telegram_id is None or author.erased_at is not None:
        return None
    counts = (await progress(session=session, announcement_ids=[announcement_id]))[announcement_id]
    reasons = await session.exec(
        select(Delivery.error, func.count())
        .where(
            col(Delivery.announcement_id) == announcement_id,
            col(Delivery.status) == DeliveryStatus.FAILED,
        )
        .group_by(col(Delivery.error))
    )
    started = announcement.started_at or announcement.send_at
    finished = announcement.finished_at or started
    return Report(
        announcement_id=announcement_id,
        chat_id=author.telegram_id,
        language=author.language,
        delivered=counts.sent,
        blocked=counts.blocked,
        failed=counts.failed,
        reasons={reason or "unknown": number for reason, number in reasons.all()},
        seconds=max(0.0, (finished - started).total_seconds()),
    )
