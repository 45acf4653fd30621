"""Rows for tests that must not depend on other flows (registration, /grant) being finished."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import codes
from bot.services.access import Access
from storage.models import Event, Person, Role, RoleGrant

_serial = itertools.count(1)

# The Democracy Monument, Bangkok: a venue pin for location tests.
VENUE_LAT, VENUE_LON = 13.7567, 100.5018


async def make_person(
    session: AsyncSession,
    *,
    full_name: str | None = None,
    telegram_id: int | None = None,
    phone: str | None = None,
    district_code: str | None = None,
    language: str = "th",
) -> Person:
    """A registered person (committed)."""
    n = next(_serial)
    person = Person(
        telegram_id=telegram_id,
        full_name=full_name or f"อาสา ทดสอบ {n}",
        phone=phone,
        district_code=district_code,
        language=language,
    )
    session.add(person)
    await session.commit()
    return person


async def grant(session: AsyncSession, person: Person, role: Role) -> None:
    """Give a person a role, as /grant would."""
    session.add(RoleGrant(person_id=person.id or 0, role=role))
    await session.commit()


def access_of(person: Person | None, *roles: Role, zones: frozenset[int] = frozenset()) -> Access:
    """An Access with the given roles, without asking the database."""
    return Access(
        person_id=person.id if person else None, roles=frozenset(roles), coordinator_zones=zones
    )


async def make_event(
    session: AsyncSession,
    *,
    now: datetime,
    starts_in: timedelta = timedelta(minutes=30),
    lasts: timedelta = timedelta(hours=3),
    title: str = "สัมมนาอาสาสมัครแรงงาน",
    latitude: float | None = None,
    longitude: float | None = None,
    radius_m: int = 200,
    capacity: int | None = None,
    **extra: object,
) -> Event:
    """An active event starting `starts_in` from `now` (committed)."""
    starts_at = now + starts_in
    event = Event(
        title=title,
        venue="ศาลาว่าการกรุงเทพมหานคร",
        starts_at=starts_at,
        ends_at=starts_at + lasts,
        latitude=latitude,
        longitude=longitude,
        radius_m=radius_m,
        capacity=capacity,
        code=codes.new_code(),
        token=codes.new_token(),
        code_rotated_at=now,
        created_at=now,
        **extra,  # type: ignore[arg-type]
    )
    session.add(event)
    await session.commit()
    return event
