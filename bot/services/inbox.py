"""The webhook inbox: updates written down on arrival, processed by any replica, in order.

- `store` writes an update once (a copy Telegram sends again, or that reaches two replicas,
  changes nothing) before the webhook answers 200, so an acknowledged update is never lost.
- `claim` takes the oldest unfinished update of each person who has one, and only if none of
  that person's earlier updates is unfinished: one person's updates are processed one at a
  time, in update_id order, across every replica. Different people run concurrently. On
  PostgreSQL, `FOR UPDATE SKIP LOCKED` lets replicas claim side by side without waiting.
- A claim is a lease: the claiming replica renews it while it works (`renew`); a claim not
  renewed for `stale` (its replica died) is claimable again, by anyone.
- `finish` marks updates done; `purge_done` forgets them a day later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import skipping_locked_rows
from storage.models import ChatState, InboxStatus, InboxUpdate


@dataclass(frozen=True)
class Claimed:
    """An update this replica now processes."""

    update_id: int
    person_key: int
    payload: dict[str, Any]
    attempts: int


def person_key_of(payload: dict[str, Any]) -> int:
    """Whose update this is: the sender's id, else the chat's; 0 when neither can be read.

    Read from the raw JSON (the update may be one the library cannot parse): the first object
    of the update that has a "from" user, else a "chat".
    """
    for value in payload.values():
        if not isinstance(value, dict):
            continue
        sender = value.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
    return 0


async def store(
    *, session: AsyncSession, payload: dict[str, Any], now: datetime, receiver: str
) -> bool:
    """Write the update down unless it is already there; True when it is new."""
    update_id = payload.get("update_id")
    if not isinstance(update_id, int):
        raise ValueError("an update without an update_id")
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    result = await session.exec(
        insert(InboxUpdate)
        .values(
            update_id=update_id,
            person_key=person_key_of(payload),
            payload=payload,
            status=InboxStatus.PENDING.value,
            received_at=now,
            received_by=receiver,
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(col(InboxUpdate.update_id))
    )
    return result.first() is not None


async def claim(
    *, session: AsyncSession, me: str, now: datetime, stale: datetime, limit: int
) -> list[Claimed]:
    """Claim up to `limit` updates, each the oldest unfinished one of its person."""
    claimable = or_(
        col(InboxUpdate.status) == InboxStatus.PENDING,
        and_(
            col(InboxUpdate.status) == InboxStatus.PROCESSING,
            col(InboxUpdate.claimed_at) < stale,
        ),
    )
    earlier = aliased(InboxUpdate)
    waits = exists().where(
        col(earlier.person_key) == col(InboxUpdate.person_key),
        col(earlier.update_id) < col(InboxUpdate.update_id),
        col(earlier.status) != InboxStatus.DONE,
    )
    pick = (
        select(InboxUpdate.update_id)
        .where(claimable, ~waits)
        .order_by(col(InboxUpdate.update_id))
        .limit(limit)
    )
    rows = await session.exec(
        update(InboxUpdate)
        .where(
            col(InboxUpdate.update_id).in_(skipping_locked_rows(pick, session).scalar_subquery())
        )
        .values(
            status=InboxStatus.PROCESSING.value,
            claimed_by=me,
            claimed_at=now,
            attempts=col(InboxUpdate.attempts) + 1,
        )
        .returning(
            col(InboxUpdate.update_id),
            col(InboxUpdate.person_key),
            col(InboxUpdate.payload),
            col(InboxUpdate.attempts),
        )
    )
    claimed = [Claimed(*row) for row in rows.all()]
    return sorted(claimed, key=lambda item: item.update_id)


async def stamp(*, session: AsyncSession, telegram_id: int, update_id: int, now: datetime) -> None:
    """This transaction holds the effects of `update_id` for this person: remember it with them,
    so the update is recognised if it is ever processed again (its replica died after this)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(ChatState).values(
        telegram_id=telegram_id, draft={}, updated_at=now, last_update_id=update_id
    )
    newer = statement.excluded.last_update_id
    current = col(ChatState.last_update_id)
    await session.exec(
        statement.on_conflict_do_update(
            index_elements=["telegram_id"],
            set_={
                "last_update_id": case(
                    (or_(current.is_(None), newer > current), newer), else_=current
                )
            },
        )
    )


async def renew(*, session: AsyncSession, me: str, update_ids: list[int], now: datetime) -> None:
    """Keep this replica's claims alive while it works on them."""
    if update_ids:
        await session.exec(
            update(InboxUpdate)
            .where(
                col(InboxUpdate.update_id).in_(update_ids),
                col(InboxUpdate.claimed_by) == me,
                col(InboxUpdate.status) == InboxStatus.PROCESSING,
            )
            .values(claimed_at=now)
        )


async def release(*, session: AsyncSession, me: str) -> int:
    """Hand this replica's unfinished claims back (it is stopping): anyone may take them."""
    result = await session.exec(
        update(InboxUpdate)
        .where(
            col(InboxUpdate.claimed_by) == me,
            col(InboxUpdate.status) == InboxStatus.PROCESSING,
        )
        .values(status=InboxStatus.PENDING.value, claimed_by=None, claimed_at=None)
    )
    return int(result.rowcount)


async def finish(*, session: AsyncSession, update_ids: list[int], now: datetime) -> None:
    """These updates are processed."""
    if update_ids:
        await session.exec(
            update(InboxUpdate)
            .where(col(InboxUpdate.update_id).in_(update_ids))
            .values(status=InboxStatus.DONE.value, done_at=now)
        )


async def pending_count(*, session: AsyncSession) -> int:
    """How many updates wait or are being processed (for metrics and readiness)."""
    rows = await session.exec(
        select(func.count()).select_from(InboxUpdate).where(col(InboxUpdate.status) != "done")
    )
    return int(rows.one())


async def purge_done(*, session: AsyncSession, before: datetime) -> int:
    """Forget updates done before `before`."""
    result = await session.exec(
        delete(InboxUpdate).where(
            col(InboxUpdate.status) == InboxStatus.DONE, col(InboxUpdate.done_at) < before
        )
    )
    return int(result.rowcount)
