"""The organisers' dashboard's lists of people: late arrivals and who has not arrived yet.

Names appear here (the dashboard is for organisers), never full phone numbers; a coordinator
sees only people of their zones. The figures themselves come from bot/services/headcount.py,
the same as /headcount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Mapped
from sqlmodel import col, func
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.checkins import _escape_like
from bot.services.headcount import AnySelect, rows_of
from bot.services.validation import mask_phone
from storage.models import CheckIn, District, Person, Registration, RegistrationStatus

LIST_LIMIT = 50
QUERY_MAX_CHARS = 100


@dataclass(frozen=True)
class ListedPerson:
    """One person in a dashboard list."""

    person_id: int
    name: str
    masked_phone: str | None
    district_th: str | None
    district_en: str | None
    checked_in_at: datetime | None = None

    def district(self, lang: str) -> str:
        """The district's name in a language ("" when none)."""
        return (self.district_th if lang == "th" else self.district_en) or ""


@dataclass(frozen=True)
class PeopleList:
    """At most LIST_LIMIT people, and how many match in all."""

    people: tuple[ListedPerson, ...]
    total: int


def _filtered(stmt: AnySelect, *, zone_limit: frozenset[int] | None, query: str) -> AnySelect:
    """Only the viewer's zones, and names (or phone digits) containing the query."""
    if zone_limit is not None:
        stmt = stmt.where(col(District.zone).in_(sorted(zone_limit)) if zone_limit else false())
    text = " ".join(query.split())[:QUERY_MAX_CHARS]
    if text:
        pattern = "%" + _escape_like(text) + "%"
        digits = "".join(ch for ch in text if ch.isdigit()).removeprefix("0")
        matches: list[ColumnElement[bool]] = [col(Person.full_name).ilike(pattern, escape="\\")]
        if len(digits) >= 3:
            matches.append(col(Person.phone).like("%" + _escape_like(digits) + "%", escape="\\"))
        stmt = stmt.where(or_(*matches))
    return stmt


def _person(row: tuple[object, ...]) -> ListedPerson:
    person_id, name, phone, district_th, district_en, at = row
    return ListedPerson(
        person_id=int(str(person_id)),
        name=str(name or ""),
        masked_phone=mask_phone(str(phone)) if phone else None,
        district_th=str(district_th) if district_th else None,
        district_en=str(district_en) if district_en else None,
        checked_in_at=at if isinstance(at, datetime) else None,
    )


async def _listed(session: AsyncSession, stmt: AnySelect, *, limit: int) -> PeopleList:
    """The first `limit` rows and the number of all of them."""
    counted = sql_select(func.count()).select_from(stmt.order_by(None).subquery())
    (total,) = (await rows_of(session, counted))[0]
    rows = await rows_of(session, stmt.limit(limit))
    return PeopleList(people=tuple(_person(tuple(row)) for row in rows), total=int(total))


def _people(rows: type[CheckIn] | type[Registration], at: Mapped[datetime]) -> AnySelect:
    """One row per person of `rows` (check-ins or registrations) with their district, still
    present (not erased) and counted (not merged into another record)."""
    return (
        sql_select(
            col(Person.id),
            col(Person.full_name),
            col(Person.phone),
            col(District.name_th),
            col(District.name_en),
            at,
        )
        .select_from(rows)
        .join(Person, col(Person.id) == rows.person_id)
        .outerjoin(District, col(District.code) == Person.district_code)
        .where(col(Person.erased_at).is_(None), col(Person.merged_into_id).is_(None))
    )


async def late_arrivals(
    *,
    session: AsyncSession,
    event_id: int,
    zone_limit: frozenset[int] | None,
    query: str = "",
    limit: int = LIST_LIMIT,
) -> PeopleList:
    """People who checked in after the start, latest first."""
    stmt = (
        _people(CheckIn, col(CheckIn.checked_in_at))
        .where(col(CheckIn.event_id) == event_id, col(CheckIn.late).is_(True))
        .order_by(col(CheckIn.checked_in_at).desc(), col(CheckIn.id).desc())
    )
    return await _listed(session, _filtered(stmt, zone_limit=zone_limit, query=query), limit=limit)


async def not_arrived(
    *,
    session: AsyncSession,
    event_id: int,
    zone_limit: frozenset[int] | None,
    query: str = "",
    limit: int = LIST_LIMIT,
) -> PeopleList:
    """People holding a place who have not checked in, by name."""
    arrived = and_(
        col(CheckIn.event_id) == Registration.event_id,
        col(CheckIn.person_id) == Registration.person_id,
    )
    stmt = (
        _people(Registration, col(Registration.created_at))
        .outerjoin(CheckIn, arrived)
        .where(
            col(Registration.event_id) == event_id,
            col(Registration.status) == RegistrationStatus.REGISTERED,
            col(CheckIn.id).is_(None),
        )
        .order_by(col(Person.full_name), col(Person.id))
    )
    found = await _listed(session, _filtered(stmt, zone_limit=zone_limit, query=query), limit=limit)
    # The registration time is only the order's tie-breaker: a list of absentees has no time.
    return PeopleList(
        people=tuple(
            ListedPerson(p.person_id, p.name, p.masked_phone, p.district_th, p.district_en)
            for p in found.people
        ),
        total=found.total,
    )


async def recent_arrivals(*, session: AsyncSession, event_id: int, since: datetime) -> int:
    """People checked in since a moment (a venue screen's "last 15 minutes")."""
    stmt: AnySelect = (
        sql_select(func.count(func.distinct(col(CheckIn.person_id))))
        .select_from(CheckIn)
        .where(col(CheckIn.event_id) == event_id, col(CheckIn.checked_in_at) >= since)
    )
    (count,) = (await rows_of(session, stmt))[0]
    return int(count)
