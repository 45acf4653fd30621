"""The outbox's bookkeeping: claiming deliveries, recording outcomes, recovering a dead sender's.

At least once, with the smallest window the database allows: a delivery is claimed (`sending`,
with the claiming process's name and the time) in a committed transaction right before its
request, and its outcome is recorded right after. A process that dies in between leaves the
row `sending`. A live process renews the claims of its sends in flight (`renew`), so a claim
older than the lease belongs to a process that is gone: `recover` puts it back to `pending`,
marked `resent`, because its first copy may or may not have arrived. A notice nobody got is
worse than one a few got twice; the author's report counts the copies that may have arrived
twice. A delivery interrupted `max_attempts` times is given up ("interrupted"), so a message
that somehow kills the process cannot kill it forever.

Nothing here talks to Telegram (bot/delivery/dispatcher.py does, between `claim` and `record`)
and nothing commits: the dispatcher runs each step in its own short transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Table, bindparam, func, or_, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import skipping_locked_rows
from storage.models import Announcement, AnnouncementStatus, Delivery, DeliveryStatus, Person

INTERRUPTED = "interrupted"
# The leader LISTENs on this channel (bot/delivery/dispatcher.py): work queued on another
# replica reaches it when that transaction commits, not at its next sweep.
CHANNEL = "asa_outbox"
_DELIVERY: Table = Delivery.__table__  # type: ignore[attr-defined]
_PERSON: Table = Person.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    """A delivery this process has claimed and must now send."""

    id: int
    announcement_id: int
    person_id: int | None
    chat_id: int
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery.

    `status` is where it goes: sent, blocked, failed, or pending again (with `next_attempt_at`).
    """

    delivery_id: int
    status: DeliveryStatus
    attempts: int
    person_id: int | None = None
    sent_at: datetime | None = None
    message_id: int | None = None
    next_attempt_at: datetime | None = None
    error: str | None = None
    # Pending again after a send that may have arrived (a timeout): counted as possibly twice.
    resent: bool = False


async def claim(
    *, session: AsyncSession, now: datetime, limit: int, instance: str
) -> list[Claimed]:
    """Mark up to `limit` due deliveries as sending by `instance`, oldest first."""
    pick = (
        select(Delivery.id)
        .where(
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.next_attempt_at) <= now,
        )
        .order_by(col(Delivery.id))
        .limit(limit)
    )
    picked = skipping_locked_rows(pick, session).scalar_subquery()
    result = await session.exec(
        update(Delivery)
        .where(col(Delivery.id).in_(picked))
        .values(
            status=DeliveryStatus.SENDING.value,
            claimed_at=now,
            claimed_by=instance,
            attempts=col(Delivery.attempts) + 1,
        )
        .returning(
            col(Delivery.id),
            col(Delivery.announcement_id),
            col(Delivery.person_id),
            col(Delivery.chat_id),
            col(Delivery.attempts),
        )
    )
    return sorted((Claimed(*row) for row in result.all()), key=lambda c: c.id)


def _ours(instance: str) -> Any:
    """Rows this process still holds (a recovered row is no longer ours to record)."""
    return (_DELIVERY.c.status == DeliveryStatus.SENDING.value) & (
        _DELIVERY.c.claimed_by == instance
    )


async def _write(
    session: AsyncSession, instance: str, values: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    """One UPDATE for many deliveries (`b_id` in each row), only where the claim is ours."""
    if rows:
        await session.exec(
            update(_DELIVERY)
            .where(_DELIVERY.c.id == bindparam("b_id"), _ours(instance))
            .values(**values),
            params=rows,
        )


async def record(
    *, session: AsyncSession, outcomes: Iterable[Outcome], instance: str, now: datetime
) -> None:
    """Write the outcomes of this process's sends, a few statements for any number of them."""
    by_status: dict[DeliveryStatus, list[Outcome]] = {}
    for outcome in outcomes:
        by_status.setdefault(outcome.status, []).append(outcome)
    # Bind names differ from column names: SQLAlchemy reserves those for its own SET clause.
    sent: dict[str, Any] = {
        "sent_at": bindparam("b_sent_at"),
        "message_id": bindparam("b_message_id"),
    }
    await _write(
        session,
        instance,
        {"status": DeliveryStatus.SENT.value, "error": None, **sent},
        [
            {"b_id": o.delivery_id, "b_sent_at": o.sent_at, "b_message_id": o.message_id}
            for o in by_status.get(DeliveryStatus.SENT, [])
        ],
    )
    await _write(
        session,
        instance,
        {
            "status": DeliveryStatus.PENDING.value,
            "attempts": bindparam("b_attempts"),
            "next_attempt_at": bindparam("b_next_attempt_at"),
            "claimed_at": None,
            "claimed_by": None,
            "error": bindparam("b_error"),
            "resent": or_(_DELIVERY.c.resent, bindparam("b_resent", type_=Boolean)),
        },
        [
            {
                "b_id": o.delivery_id,
                "b_attempts": o.attempts,
                "b_next_attempt_at": o.next_attempt_at,
                "b_error": o.error,
                "b_resent": o.resent,
            }
            for o in by_status.get(DeliveryStatus.PENDING, [])
        ],
    )
    for status in (DeliveryStatus.FAILED, DeliveryStatus.BLOCKED):
        await _write(
            session,
            instance,
            {"status": status.value, "error": bindparam("b_error")},
            [{"b_id": o.delivery_id, "b_error": o.error} for o in by_status.get(status, [])],
        )
    blocked = sorted(
        {o.person_id for o in by_status.get(DeliveryStatus.BLOCKED, []) if o.person_id is not None}
    )
    if blocked:
        # Left out of later audiences until they write again.
        await session.exec(
            update(_PERSON)
            .where(_PERSON.c.id.in_(blocked), _PERSON.c.unreachable_at.is_(None))
            .values(unreachable_at=now)
        )


async def renew(*, session: AsyncSession, instance: str, now: datetime) -> int:
    """Keep this process's claims fresh while their sends are in flight."""
    result = await session.exec(update(_DELIVERY).where(_ours(instance)).values(claimed_at=now))
    return int(result.rowcount)


async def recover(
    *, session: AsyncSession, now: datetime, lease: timedelta, max_attempts: int
) -> int:
    """Deliveries a gone process left `sending`: sent again (marked resent), or given up after
    `max_attempts`. Returns how many go out again."""
    stale = (_DELIVERY.c.status == DeliveryStatus.SENDING.value) & (
        _DELIVERY.c.claimed_at < now - lease
    )
    await session.exec(
        update(_DELIVERY)
        .where(stale, _DELIVERY.c.attempts >= max_attempts)
        .values(status=DeliveryStatus.FAILED.value, error=INTERRUPTED)
    )
    result = await session.exec(
        update(_DELIVERY)
        .where(stale)
        .values(
            status=DeliveryStatus.PENDING.value,
            resent=True,
            claimed_at=None,
            claimed_by=None,
            next_attempt_at=now,
        )
    )
    return int(result.rowcount)


async def next_due(*, session: AsyncSession, lease: timedelta) -> datetime | None:
    """The earliest moment something becomes due: a retry, a scheduled announcement, or a
    claim that will have outlived its lease if nobody renews it."""
    retry = (
        await session.exec(
            select(func.min(Delivery.next_attempt_at)).where(
                col(Delivery.status) == DeliveryStatus.PENDING
            )
        )
    ).one()
    scheduled = (
        await session.exec(
            select(func.min(Announcement.send_at)).where(
                col(Announcement.status) == AnnouncementStatus.SCHEDULED
            )
        )
    ).one()
    claimed = (
        await session.exec(
            select(func.min(Delivery.claimed_at)).where(
                col(Delivery.status) == DeliveryStatus.SENDING
            )
        )
    ).one()
    # A strictly later moment than the lease's end: recover() takes claims older than it.
    expiry = claimed + lease + timedelta(milliseconds=1) if claimed is not None else None
    moments = [m for m in (retry, scheduled, expiry) if m is not None]
    return min(moments) if moments else None


async def announce(session: AsyncSession) -> None:
    """There is new work for the sender: tell every replica once this transaction commits
    (on SQLite, one process, the caller wakes its own dispatcher)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.exec(text(f"NOTIFY {CHANNEL}"))  # type: ignore[call-overload]
