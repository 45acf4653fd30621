"""Announcements: writing one, scheduling it, and turning it into one delivery per recipient.

The outbox rule: an announcement starts sending by becoming `sending` and getting all of its
delivery rows in the same transaction, once, guarded by a conditional UPDATE on its status. The
dispatcher (bot/delivery/dispatcher.py) then works through the deliveries; this module finishes
announcements whose deliveries are all settled and, in the same transaction, queues each
author's report as a notice (so the report is as sure to arrive as the announcement itself).

Nothing here commits: the caller's transaction (a use case, or the dispatcher's) does.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audiences, audit, outbox
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.errors import DomainError, NotAllowed, NotFound
from bot.services.notify import Notice, Notifier, Value
from storage.models import (
    Announcement,
    AnnouncementKind,
    AnnouncementStatus,
    Delivery,
    DeliveryStatus,
    Event,
)

# Telegram's limit for one message, in characters (MessageLimit.MAX_TEXT_LENGTH; services do
# not import Telegram).
MAX_TEXT_CHARS = 4096
UNSETTLED = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)
# The report notice (rendered by bot/delivery/notifier.py) and the prefix of its reason counts.
REPORT_TEMPLATE = "broadcast.report"
REASON_PREFIX = "reason:"
# Where a broadcast keeps the chat of whoever confirmed it (a config admin may have no record).
AUTHOR_CHAT = "author_chat"
# Characters that show nothing on their own, besides spaces and format characters (category
# Cf: zero-width spaces and joiners, the BOM...): blank "letters" people paste to send emptiness.
_BLANK_LOOKING = frozenset("\u2800\u3164\u115f\u1160\uffa0\u17b4\u17b5")


class EmptyText(DomainError):
    """An announcement needs some text a person can see."""

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
    event_title: str | None = None


@dataclass(frozen=True)
class Report:
    """What the author hears when an announcement has finished."""

    announcement_id: int
    delivered: int
    blocked: int
    failed: int
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # Delivered again after the bot stopped mid-send: the first copy may have arrived too.
    twice: int = 0

    def notice(self) -> Notice:
        """The report as a notice, rendered in the author's language when it is sent."""
        values: dict[str, Value] = {
            "id": self.announcement_id,
            "delivered": self.delivered,
            "blocked": self.blocked,
            "failed": self.failed,
            "twice": self.twice,
            "seconds": self.seconds,
        }
        values.update({f"{REASON_PREFIX}{r}": n for r, n in sorted(self.reasons.items())})
        return Notice(REPORT_TEMPLATE, values)


@dataclass(frozen=True)
class Preview:
    """Who an audience reaches now, as this person may send it."""

    audience: dict[str, Any]
    count: int


# -- the text --------------------------------------------------------------------------------


def visible(text: str) -> bool:
    """Whether the text shows anything at all (not only spaces and invisible characters)."""
    for ch in text:
        if ch.isspace() or ch in _BLANK_LOOKING:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me", "Zs"):
            continue
        return True
    return False


def check_text(text: str) -> str:
    """The text, if it can be sent as one message; EmptyText / TextTooLong otherwise."""
    if not visible(text):
        raise EmptyText()
    if len(text) > MAX_TEXT_CHARS:
        raise TextTooLong(limit=MAX_TEXT_CHARS, length=len(text))
    return text


def check_send_at(send_at: datetime | None, *, now: datetime) -> None:
    """A scheduled time must be in the future (None: now)."""
    if send_at is not None and send_at <= now:
        raise NotInFuture()


# -- writing one -----------------------------------------------------------------------------


async def preview(*, session: AsyncSession, access: Access, audience: dict[str, Any]) -> Preview:
    """The audience as this person may send it, and how many it reaches now."""
    spec = audiences.narrow(audiences.normalise(audience), access)
    await audiences.check_allowed(session=session, access=access, spec=spec)
    return Preview(audience=spec, count=await audiences.count(session=session, spec=spec))


async def create(
    *,
    session: AsyncSession,
    access: Access,
    author_chat: int | None = None,
    audience: dict[str, Any],
    text: str,
    entities: list[dict[str, Any]] | None,
    send_at: datetime | None,
    now: datetime,
) -> Announcement:
    """Confirm an announcement: sent now (deliveries created at once) or scheduled for later.

    `author_chat` is where the report goes when the author has no record (a config admin).
    """
    spec = audiences.narrow(audiences.normalise(audience), access)
    await audiences.check_allowed(session=session, access=access, spec=spec)
    check_text(text)
    check_send_at(send_at, now=now)
    announcement = Announcement(
        author_id=access.person_id,
        audience=spec,
        text=text,
        entities=entities or None,
        params={AUTHOR_CHAT: author_chat} if author_chat is not None else None,
        status=AnnouncementStatus.SCHEDULED,
        send_at=send_at or now,
        created_at=now,
    )
    session.add(announcement)
    await session.flush()
    recipients = 0
    if send_at is None:
        recipients = await _start(session=session, announcement=announcement, now=now)
    await outbox.announce(session)
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=AuditAction.BROADCAST_CREATE,
        at=now,
        target_type="announcement",
        target_id=announcement.id,
        detail={"audience": spec, "recipients": recipients, "scheduled": send_at is not None},
    )
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
                    "resent": False,
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
    """Flip one announcement from scheduled to sending and create its deliveries."""
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
        return False
    announcement = await session.get(Announcement, announcement_id, populate_existing=True)
    if announcement is None:  # pragma: no cover - the UPDATE just found it
        return False
    await materialise(session=session, announcement=announcement, now=now)
    return True


async def scheduled(*, session: AsyncSession) -> list[tuple[int, datetime]]:
    """(id, send_at) of every announcement still waiting for its time (for the alarms)."""
    rows = await session.exec(
        select(Announcement.id, Announcement.send_at).where(
            col(Announcement.status) == AnnouncementStatus.SCHEDULED
        )
    )
    return [(announcement_id or 0, send_at) for announcement_id, send_at in rows.all()]


# -- changing one before it starts -----------------------------------------------------------


async def _editable(*, session: AsyncSession, access: Access, announcement_id: int) -> Announcement:
    """A broadcast this person may change: their own, or any for admins and organisers."""
    access.require(Capability.BROADCAST)
    announcement = await session.get(Announcement, announcement_id)
    if (
        announcement is None
        or announcement.reminder_kind is not None
        or announcement.kind != AnnouncementKind.BROADCAST
    ):
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


async def _still_scheduled(session: AsyncSession, announcement_id: int, **values: Any) -> None:
    """Change a scheduled announcement; AlreadyStarted if it has started meanwhile."""
    result = await session.exec(
        update(Announcement)
        .where(
            col(Announcement.id) == announcement_id,
            col(Announcement.status) == AnnouncementStatus.SCHEDULED,
        )
        .values(**values)
    )
    if result.rowcount != 1:
        raise AlreadyStarted()


async def cancel(
    *, session: AsyncSession, access: Access, announcement_id: int, now: datetime
) -> None:
    """Cancel a scheduled announcement that has not started."""
    await _editable(session=session, access=access, announcement_id=announcement_id)
    await _still_scheduled(
        session, announcement_id, status=AnnouncementStatus.CANCELLED.value, finished_at=now
    )
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=AuditAction.BROADCAST_CANCEL,
        at=now,
        target_type="announcement",
        target_id=announcement_id,
    )


async def reschedule(
    *,
    session: AsyncSession,
    access: Access,
    announcement_id: int,
    send_at: datetime,
    now: datetime,
) -> None:
    """Move a scheduled announcement that has not started to a new (future) time."""
    await _editable(session=session, access=access, announcement_id=announcement_id)
    check_send_at(send_at, now=now)
    await _still_scheduled(session, announcement_id, send_at=send_at)
    await outbox.announce(session)
    audit.record(
        session=session,
        actor_id=access.person_id,
        action=AuditAction.BROADCAST_RESCHEDULE,
        at=now,
        target_type="announcement",
        target_id=announcement_id,
        detail={"send_at": send_at.isoformat()},
    )


# -- progress and /announcements -------------------------------------------------------------


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


def _broadcasts() -> Any:
    """Announcements people wrote (not reminders, not notices)."""
    return and_(
        col(Announcement.reminder_kind).is_(None),
        col(Announcement.kind) == AnnouncementKind.BROADCAST,
    )


async def listing(*, session: AsyncSession, access: Access, limit: int = 10) -> list[Summary]:
    """Scheduled and recent broadcasts this person may see (coordinators: their own)."""
    access.require(Capability.BROADCAST)
    statement = select(Announcement).where(_broadcasts())
    if not access.unscoped:
        statement = statement.where(col(Announcement.author_id) == access.person_id)
    waiting = await session.exec(
        statement.where(col(Announcement.status) == AnnouncementStatus.SCHEDULED).order_by(
            col(Announcement.send_at)
        )
    )
    recent = await session.exec(
        statement.where(col(Announcement.status) != AnnouncementStatus.SCHEDULED)
        .order_by(col(Announcement.send_at).desc(), col(Announcement.id).desc())
        .limit(limit)
    )
    rows = [*list(waiting.all())[:limit], *recent.all()]
    counts = await progress(session=session, announcement_ids=[a.id for a in rows if a.id])
    titles = await _event_titles(session, rows)
    return [
        Summary(
            id=a.id or 0,
            status=a.status,
            send_at=a.send_at,
            audience=a.audience,
            preview=a.text[:60],
            progress=counts.get(a.id or 0, Progress()),
            event_title=titles.get(a.audience.get("event_id") or 0),
        )
        for a in rows
    ]


async def _event_titles(session: AsyncSession, rows: list[Announcement]) -> dict[int, str]:
    """The titles of the events these announcements address."""
    ids = {a.audience.get("event_id") for a in rows} - {None}
    if not ids:
        return {}
    found = await session.exec(select(Event.id, Event.title).where(col(Event.id).in_(ids)))
    return {event_id or 0: title for event_id, title in found.all()}


async def event_title(*, session: AsyncSession, spec: dict[str, Any]) -> str | None:
    """The title of the event an audience addresses, if it addresses one."""
    event_id = spec.get("event_id")
    if not isinstance(event_id, int):
        return None
    event = await session.get(Event, event_id)
    return event.title if event is not None else None


# -- finishing and the report ----------------------------------------------------------------


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
    return [row[0] for row in result.all()]


async def queue_reports(*, session: AsyncSession, notifier: Notifier, now: datetime) -> int:
    """Queue the report of every finished broadcast (also of one that reached nobody) whose
    author has not had one: once each, as the claim and the notice are one transaction."""
    claimed = await session.exec(
        update(Announcement)
        .where(
            col(Announcement.status) == AnnouncementStatus.DONE,
            col(Announcement.report_sent_at).is_(None),
            _broadcasts(),
        )
        .values(report_sent_at=now)
        .returning(col(Announcement.id))
    )
    queued = 0
    for announcement_id in sorted(row[0] for row in claimed.all()):
        announcement = await session.get(Announcement, announcement_id)
        report = await report_for(session=session, announcement_id=announcement_id)
        if announcement is None or report is None:  # pragma: no cover - claimed just now
            continue
        chat = (announcement.params or {}).get(AUTHOR_CHAT)
        queued += await notifier.notify(
            session,
            report.notice(),
            person_ids=[announcement.author_id] if announcement.author_id is not None else [],
            chat_ids=[chat] if announcement.author_id is None and isinstance(chat, int) else [],
            now=now,
        )
    return queued


async def report_for(*, session: AsyncSession, announcement_id: int) -> Report | None:
    """The figures of a finished announcement."""
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None:
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
    twice = await session.exec(
        select(func.count()).where(
            col(Delivery.announcement_id) == announcement_id,
            col(Delivery.status) == DeliveryStatus.SENT,
            col(Delivery.resent).is_(True),
        )
    )
    started = announcement.started_at or announcement.send_at
    finished = announcement.finished_at or started
    return Report(
        announcement_id=announcement_id,
        delivered=counts.sent,
        blocked=counts.blocked,
        failed=counts.failed,
        reasons={reason or "unknown": number for reason, number in reasons.all()},
        seconds=max(0.0, (finished - started).total_seconds()),
        twice=int(twice.one()),
    )
