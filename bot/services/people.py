"""People: finding them and keeping their last activity current."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Person

TOUCH_INTERVAL = timedelta(minutes=10)
_RECENT_KEY = "recently_touched"


def recently_touched(extras: dict[str, Any]) -> dict[int, datetime]:
    """Telegram ids whose activity this process wrote recently (kept in the runtime)."""
    recent: dict[int, datetime] = extras.setdefault(_RECENT_KEY, {})
    return recent


def forget_touch(extras: dict[str, Any], telegram_id: int) -> None:
    """Make the next update from this person write again (after marking them unreachable)."""
    recently_touched(extras).pop(telegram_id, None)


async def by_telegram_id(*, session: AsyncSession, telegram_id: int) -> Person | None:
    """The registered (not erased) person behind a Telegram account, if any."""
    statement = select(Person).where(
        Person.telegram_id == telegram_id,
        Person.erased_at.is_(None),  # type: ignore[union-attr]
    )
    return (await session.exec(statement)).first()


async def touch(*, session: AsyncSession, telegram_id: int, now: datetime) -> Person | None:
    """Record that a person wrote to us; someone who had blocked us is reachable again."""
    person = await by_telegram_id(session=session, telegram_id=telegram_id)
    if person is None:
        return None
    person.last_active_at = now
    person.unreachable_at = None
    session.add(person)
    await session.commit()
    return person


async def set_language(*, session: AsyncSession, telegram_id: int, lang: str) -> Person | None:
    """Remember a registered person's language, so notices reach them in it."""
    person = await by_telegram_id(session=session, telegram_id=telegram_id)
    if person is None:
        return None
    person.language = lang
    session.add(person)
    await session.commit()
    return person
