"""Walk-ins: people staff register and check in at the door, because they have no Telegram.

Nobody is counted twice: before a new record is written, staff are shown the records that may
be the same person (the same phone number, or the same name in the same district), and
choosing one checks that person in instead. Functions here never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from bot.services import checkins, people, registration
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.checkins import CheckInResult
from bot.services.events import get_event
from bot.services.registration import PersonFields
from storage.models import CheckInMethod, Person

# At most this many possible matches are shown; more means the name is too common to help.
MAX_MATCHES = 5


@dataclass(frozen=True)
class KnownPerson:
    """A record that may be the person at the door."""

    person_id: int
    full_name: str
    phone: str | None
    district_code: str | None
    has_telegram: bool
    same_phone: bool


def same_person(
    phone: str | None, full_name: str, district_code: str | None
) -> ColumnElement[bool] | None:
    """The condition "may be this person": the same phone, or the same name in the same
    district (names are stored tidied, so equal names are equal text, case aside)."""
    conditions: list[ColumnElement[bool]] = []
    if phone:
        conditions.append(col(Person.phone) == phone)
    if district_code:
        conditions.append(
            (col(Person.district_code) == district_code)
            & (func.lower(col(Person.full_name)) == full_name.lower())
        )
    return or_(*conditions) if conditions else None


async def find_known(
    *, session: AsyncSession, access: Access, fields: PersonFields, geo: Geography
) -> list[KnownPerson]:
    """Records that may be the person staff are entering, the likeliest first."""
    access.require(Capability.REGISTER_WALKINS)
    checked = registration.clean(fields, geo=geo, phone_required=False)
    condition = same_person(checked.phone, checked.full_name, checked.district_code)
    if condition is None:
        return []
    statement = (
        select(Person).where(*people.counted(), condition).order_by(col(Person.id)).limit(50)
    )
    found = [
        KnownPerson(
            person_id=person.id or 0,
            full_name=person.full_name or "",
            phone=person.phone,
            district_code=person.district_code,
            has_telegram=person.telegram_id is not None,
            same_phone=checked.phone is not None and person.phone == checked.phone,
        )
        for person in (await session.exec(statement)).all()
    ]
    found.sort(key=lambda known: (not known.same_phone, not known.has_telegram, known.person_id))
    return found[:MAX_MATCHES]


async def register_walkin(
    *,
    session: AsyncSession,
    access: Access,
    event_id: int,
    fields: PersonFields,
    geo: Geography,
    now: datetime,
) -> CheckInResult:
    """Create a person without Telegram and check them in, in one transaction; audited."""
    access.require(Capability.REGISTER_WALKINS)
    checked = registration.clean(fields, geo=geo, phone_required=False)
    event = await get_event(session=session, event_id=event_id)
    checkins.check_window(event, now)
    person = Person(
        telegram_id=None,
        is_walkin=True,
        created_by_id=access.person_id,
        registered_at=now,
        last_active_at=now,
    )
    registration.apply(person, checked)
    session.add(person)
    await session.flush()
    return await checkins.record(
        session=session,
        event=event,
        person_id=person.id or 0,
        method=CheckInMethod.WALKIN,
        now=now,
        performed_by_id=access.person_id,
        audit_action=AuditAction.CHECKIN_WALKIN,
    )


async def check_in_known(
    *, session: AsyncSession, access: Access, event_id: int, person_id: int, now: datetime
) -> tuple[CheckInResult, str]:
    """The person at the door is a known record: check that one in (by staff); audited.
    Returns the check-in and the name on the record."""
    access.require(Capability.REGISTER_WALKINS)
    # Refuses a record that was erased or merged into another one.
    result = await checkins.check_in_for(
        session=session, access=access, event_id=event_id, person_id=person_id, now=now
    )
    person = await session.get(Person, person_id)
    name = person.full_name if person is not None else None
    return result, name or ""
