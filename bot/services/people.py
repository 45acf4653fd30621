"""People: finding them, which records count, and keeping their last activity current."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Person

# Last activity is written at most this often per person (a door sees hundreds a minute).
TOUCH_INTERVAL = timedelta(minutes=10)


async def by_telegram_id(*, session: AsyncSession, telegram_id: int) -> Person | None:
    """The registered (not erased) person behind a Telegram account, if any."""
    statement = select(Person).where(
        Person.telegram_id == telegram_id,
        Person.erased_at.is_(None),  # type: ignore[union-attr]
    )
    return (await session.exec(statement)).first()


def counted() -> list[ColumnElement[bool]]:
    """Conditions of a record that counts: not erased, and not merged into another record."""
    return [col(Person.erased_at).is_(None), col(Person.merged_into_id).is_(None)]


async def set_language(*, session: AsyncSession, telegram_id: int, lang: str) -> Person | None:
    """Remember a registered person's language, so notices reach them in it."""
    person = await by_telegram_id(session=session, telegram_id=telegram_id)
    if person is None:
        return None
    person.language = lang
    session.add(person)
    return person


async def touch_many(*, session: AsyncSession, telegram_ids: list[int], now: datetime) -> None:
    """Record that these people wrote to us; anyone who had blocked us is reachable again."""
    if not telegram_ids:
        return
    await session.exec(
        update(Person)
        .where(col(Person.telegram_id).in_(telegram_ids), col(Person.erased_at).is_(None))
        .values(last_active_at=now, unreachable_at=None)
    )
