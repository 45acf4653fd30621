"""Rows for the outbox tests, inserted directly (registration and events are built elsewhere)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import load_geography
from bot.services.access import Access
from storage.database import create_engine, session_factory
from storage.models import (
    CheckIn,
    CheckInMethod,
    CoordinatorZone,
    District,
    Event,
    ParticipantType,
    Person,
    Registration,
    RegistrationStatus,
    Role,
    RoleGrant,
)

if TYPE_CHECKING:
    from tests.fake_telegram import FakeTelegram
    from tests.fake_telegram import Person as Chatter

_serial = itertools.count(1)

# Districts of the shipped zone file: zone 3 and zone 4, and one without a zone.
ZONE3_DISTRICT = "1033"  # Khlong Toei
ZONE3_OTHER_DISTRICT = "1047"  # Bang Na
ZONE4_DISTRICT = "1043"  # Khan Na Yao
NO_ZONE_DISTRICT = "1001"  # Phra Nakhon


def started(telegram: FakeTelegram, **kw: Any) -> Chatter:
    """A Telegram user who has opened a chat with the bot (everyone registered has)."""
    user = telegram.person(**kw)
    telegram.world.chats.setdefault(user.chat_id, user.chat)
    return user


@asynccontextmanager
async def open_session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session on a test database, with the districts in place."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            await seed_districts(session)
            yield session
    finally:
        await engine.dispose()


async def seed_districts(session: AsyncSession) -> None:
    """The shipped districts and zones (the bot syncs them at start-up; unit tests do it here)."""
    if (await session.exec(select(District))).first() is not None:
        return
    for district in load_geography().districts:
        session.add(
            District(
                code=district.code,
                name_th=district.name_th,
                name_en=district.name_en,
                zone=district.zone,
            )
        )
    await session.commit()


async def person(
    session: AsyncSession,
    *,
    telegram_id: int | None = None,
    district_code: str | None = None,
    volunteer_role: str | None = None,
    participant_type: str = ParticipantType.VOLUNTEER,
    language: str = "th",
    full_name: str | None = None,
    **extra: Any,
) -> Person:
    """A registered person (committed); a unique telegram id unless told otherwise."""
    n = next(_serial)
    row = Person(
        telegram_id=telegram_id if telegram_id is not None else 9_000_000 + n,
        full_name=full_name or f"อาสา ทดสอบ {n}",
        district_code=district_code,
        volunteer_role=volunteer_role,
        participant_type=participant_type,
        language=language,
        **extra,
    )
    session.add(row)
    await session.commit()
    return row


async def many_people(
    session: AsyncSession, *, telegram_ids: list[int], district_code: str | None = None
) -> None:
    """Many registered people at once (the 2,000-recipient broadcast)."""
    await session.exec(
        insert(Person),
        params=[
            {
                "telegram_id": telegram_id,
                "full_name": f"อาสา {telegram_id}",
                "district_code": district_code,
                "language": "th",
                "participant_type": ParticipantType.VOLUNTEER.value,
                "is_walkin": False,
            }
            for telegram_id in telegram_ids
        ],
    )
    await session.commit()


async def grant(
    session: AsyncSession, who: Person, role: Role, zones: tuple[int, ...] = ()
) -> None:
    """A role (and, for coordinators, their zones)."""
    session.add(RoleGrant(person_id=who.id or 0, role=role))
    for zone in zones:
        session.add(CoordinatorZone(person_id=who.id or 0, zone=zone))
    await session.commit()


def access(who: Person | None, *roles: Role, zones: frozenset[int] = frozenset()) -> Access:
    """An Access without asking the database."""
    return Access(
        person_id=who.id if who else None, roles=frozenset(roles), coordinator_zones=zones
    )


async def event(
    session: AsyncSession,
    *,
    starts_at: datetime,
    lasts: timedelta = timedelta(hours=3),
    created_at: datetime | None = None,
    title: str = "สัมมนาอาสาสมัครแรงงาน",
    capacity: int | None = None,
    **extra: Any,
) -> Event:
    """An active event (committed), created two days before it starts unless told."""
    row = Event(
        title=title,
        venue="ศาลาว่าการกรุงเทพมหานคร",
        starts_at=starts_at,
        ends_at=starts_at + lasts,
        capacity=capacity,
        code=secrets.token_hex(4).upper(),
        token=secrets.token_urlsafe(24),
        created_at=created_at or starts_at - timedelta(days=2),
        **extra,
    )
    session.add(row)
    await session.commit()
    return row


async def register(
    session: AsyncSession,
    on: Event,
    who: Person,
    *,
    status: str = RegistrationStatus.REGISTERED,
    at: datetime | None = None,
) -> Registration:
    """A registration (committed)."""
    row = Registration(event_id=on.id or 0, person_id=who.id or 0, status=status)
    if at is not None:
        row.created_at = at
    session.add(row)
    await session.commit()
    return row


async def check_in(session: AsyncSession, on: Event, who: Person, *, at: datetime) -> None:
    """A check-in (committed)."""
    session.add(
        CheckIn(
            event_id=on.id or 0, person_id=who.id or 0, checked_in_at=at, method=CheckInMethod.CODE
        )
    )
    await session.commit()
