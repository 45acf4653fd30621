"""Inbox use cases: writing a webhook update down, claiming, renewing and finishing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import inbox
from bot.services.inbox import Claimed
from bot.usecases import transaction

# Replicas LISTEN on this channel; a new update NOTIFYs it when its transaction commits.
CHANNEL = "asa_inbox"


@transaction
async def receive(
    session: AsyncSession, *, payload: dict[str, Any], now: datetime, receiver: str
) -> bool:
    """Write an update down (once) and tell every replica; True when it was new."""
    new = await inbox.store(session=session, payload=payload, now=now, receiver=receiver)
    if new and session.get_bind().dialect.name == "postgresql":
        await session.exec(text(f"NOTIFY {CHANNEL}"))  # type: ignore[call-overload]
    return new


@transaction
async def claim(
    session: AsyncSession, *, me: str, now: datetime, stale: datetime, limit: int
) -> list[Claimed]:
    """The next updates this replica may process."""
    return await inbox.claim(session=session, me=me, now=now, stale=stale, limit=limit)


@transaction
async def renew(session: AsyncSession, *, me: str, update_ids: list[int], now: datetime) -> None:
    """Keep this replica's claims alive."""
    await inbox.renew(session=session, me=me, update_ids=update_ids, now=now)


@transaction
async def release(session: AsyncSession, *, me: str) -> int:
    """Hand this replica's unfinished claims back."""
    return await inbox.release(session=session, me=me)


@transaction
async def finish(session: AsyncSession, *, update_ids: list[int], now: datetime) -> None:
    """These updates are processed."""
    await inbox.finish(session=session, update_ids=update_ids, now=now)


@transaction
async def purge(session: AsyncSession, *, before: datetime) -> int:
    """Forget updates done before `before`."""
    return await inbox.purge_done(session=session, before=before)


@transaction
async def waiting(session: AsyncSession) -> int:
    """Updates not processed yet."""
    return await inbox.pending_count(session=session)
