"""Audiences: who an announcement goes to, as a JSON-able spec, and who that is right now.

A spec is a small dict stored on the announcement, e.g. ``{"kind": "everyone"}``,
``{"kind": "zones", "values": [3, 4]}`` or ``{"kind": "event", "event_id": 12}``. It is resolved
against the current tables when deliveries are created, so a scheduled announcement reaches
the people who match at its time, not at the time it was written.

Nobody who cannot or may not receive a message is ever in an audience: erased people, walk-ins
without Telegram, and people who blocked the bot (`unreachable_at`, cleared when they write).

A zone coordinator may address their own zones and districts, and volunteer roles, participant
types and an event's registrants narrowed to their zones: the spec then carries ``"zones"``
(``{"kind": "roles", "values": ["zone_chair"], "zones": [3]}``), set by `narrow` and checked
by `check_allowed`, so the people reached never reach past the coordinator's zones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.access import Access, Capability
from bot.services.errors import DomainError, NotAllowed
from storage.models import (
    CheckIn,
    CoordinatorZone,
    District,
    Event,
    EventStatus,
    ParticipantType,
    Person,
    Registration,
    RegistrationStatus,
    VolunteerRole,
)


class AudienceKind(StrEnum):
    """The ways an audience can be chosen."""

    EVERYONE = "everyone"
    ZONES = "zones"
    DISTRICTS = "districts"
    ROLES = "roles"
    TYPES = "types"
    EVENT = "event"
    EVENT_ABSENT = "event_absent"
    # Automatic only: the coordinators of the given zones (the nudge's list of absentees).
    COORDINATORS = "coordinators"


# Kinds whose spec carries a list of `values`; the event kinds carry an `event_id` instead.
VALUE_KINDS = frozenset(
    {AudienceKind.ZONES, AudienceKind.DISTRICTS, AudienceKind.ROLES, AudienceKind.TYPES}
)
EVENT_KINDS = frozenset({AudienceKind.EVENT, AudienceKind.EVENT_ABSENT})
# What a coordinator (limited to their zones) may choose: their own zones and districts...
ZONE_SCOPED_KINDS = frozenset({AudienceKind.ZONES, AudienceKind.DISTRICTS})
# ... and these, narrowed to their zones (the spec's "zones").
NARROWED_KINDS = frozenset(
    {AudienceKind.ROLES, AudienceKind.TYPES, AudienceKind.EVENT, AudienceKind.EVENT_ABSENT}
)
# What a person may choose from /broadcast, in the order it is offered.
CHOSEN_KINDS = (
    AudienceKind.EVERYONE,
    AudienceKind.ZONES,
    AudienceKind.DISTRICTS,
    AudienceKind.ROLES,
    AudienceKind.TYPES,
    AudienceKind.EVENT,
    AudienceKind.EVENT_ABSENT,
)
MAX_VALUES = 100


class InvalidAudience(DomainError):
    """The audience spec is malformed."""

    key = "broadcast.error.bad_audience"


class AudienceTooWide(NotAllowed):
    """A coordinator chose people outside their own zones."""

    key = "broadcast.error.too_wide"


class NoZones(NotAllowed):
    """A coordinator who has no zones yet can address nobody."""

    key = "broadcast.no_zones"


@dataclass(frozen=True)
class Recipient:
    """One person an announcement goes to."""

    person_id: int
    chat_id: int
    language: str


def normalise(spec: Any) -> dict[str, Any]:
    """The spec checked and in canonical form (sorted unique values); InvalidAudience if bad."""
    if not isinstance(spec, dict):
        raise InvalidAudience("spec is not a dict")
    try:
        kind = AudienceKind(str(spec.get("kind")))
    except ValueError:
        raise InvalidAudience("unknown kind") from None
    normal: dict[str, Any] = {"kind": kind.value}
    if kind in EVENT_KINDS:
        event_id = spec.get("event_id")
        if not isinstance(event_id, int) or isinstance(event_id, bool) or event_id <= 0:
            raise InvalidAudience("bad event id")
        normal["event_id"] = event_id
    elif kind in VALUE_KINDS or kind is AudienceKind.COORDINATORS:
        normal["values"] = _values(kind, spec.get("values"))
    if kind in NARROWED_KINDS and spec.get("zones") is not None:
        normal["zones"] = _values(AudienceKind.ZONES, spec.get("zones"))
    return normal


def _values(kind: AudienceKind, raw: Any) -> list[Any]:
    """The spec's values, checked for their kind."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_VALUES:
        raise InvalidAudience("values must be a non-empty list")
    if kind in (AudienceKind.ZONES, AudienceKind.COORDINATORS):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in raw):
            raise InvalidAudience("zones are positive numbers")
        return sorted(set(raw))
    if not all(isinstance(v, str) and 0 < len(v) <= 24 for v in raw):
        raise InvalidAudience("values are short strings")
    allowed: set[str] | None = None
    if kind is AudienceKind.ROLES:
        allowed = {role.value for role in VolunteerRole}
    elif kind is AudienceKind.TYPES:
        allowed = {kind.value for kind in ParticipantType}
    if allowed is not None and not set(raw) <= allowed:
        raise InvalidAudience("unknown value")
    return sorted(set(raw))


def kinds_for(access: Access) -> list[AudienceKind]:
    """The kinds of audience this person may choose, in the order /broadcast offers them."""
    access.require(Capability.BROADCAST)
    limit = access.zone_limit()
    if limit is None:
        return list(CHOSEN_KINDS)
    if not limit:
        raise NoZones()
    return [kind for kind in CHOSEN_KINDS if kind in ZONE_SCOPED_KINDS | NARROWED_KINDS]


def narrow(spec: dict[str, Any], access: Access) -> dict[str, Any]:
    """The spec as this person may send it: a coordinator's roles, types and events are
    narrowed to their own zones (other kinds are left for `check_allowed` to judge)."""
    limit = access.zone_limit()
    if limit is None or AudienceKind(spec["kind"]) not in NARROWED_KINDS:
        return spec
    if not limit:
        raise NoZones()
    return {**spec, "zones": sorted(limit)}


async def check_allowed(*, session: AsyncSession, access: Access, spec: dict[str, Any]) -> None:
    """Refuse unless this person may broadcast to this audience (coordinators: own zones only)."""
    access.require(Capability.BROADCAST)
    limit = access.zone_limit()
    if limit is None:
        return
    kind = AudienceKind(spec["kind"])
    if not limit:
        raise NoZones()
    if kind in NARROWED_KINDS:
        zones = spec.get("zones")
        if not zones or not set(zones) <= limit:
            raise AudienceTooWide(kind.value)
        return
    if kind not in ZONE_SCOPED_KINDS:
        raise AudienceTooWide(kind.value)
    if kind is AudienceKind.ZONES:
        if not set(spec["values"]) <= limit:
            raise AudienceTooWide("zones")
        return
    zones = await session.exec(select(District.zone).where(col(District.code).in_(spec["values"])))
    found = list(zones.all())
    # An unknown district code, or one outside the coordinator's zones, is refused alike.
    if len(found) != len(spec["values"]) or not all(z in limit for z in found):
        raise AudienceTooWide("districts")


def _reachable() -> ColumnElement[bool]:
    """People a message can reach at all."""
    return and_(
        col(Person.erased_at).is_(None),
        col(Person.telegram_id).is_not(None),
        col(Person.unreachable_at).is_(None),
        col(Person.is_walkin).is_(False),
    )


def _in_zones(zones: list[int]) -> ColumnElement[bool]:
    """People living in one of these zones."""
    in_zone = select(District.code).where(col(District.zone).in_(zones))
    return col(Person.district_code).in_(in_zone)


def _criteria(spec: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The WHERE clauses that pick the spec's people (besides reachability)."""
    narrowed = [_in_zones(spec["zones"])] if spec.get("zones") else []
    return _kind_criteria(spec) + narrowed


def _kind_criteria(spec: dict[str, Any]) -> list[ColumnElement[bool]]:
    """The clauses of the spec's kind and values."""
    kind = AudienceKind(spec["kind"])
    values = spec.get("values", [])
    if kind is AudienceKind.EVERYONE:
        return []
    if kind is AudienceKind.ZONES:
        return [_in_zones(values)]
    if kind is AudienceKind.DISTRICTS:
        return [col(Person.district_code).in_(values)]
    if kind is AudienceKind.ROLES:
        return [col(Person.volunteer_role).in_(values)]
    if kind is AudienceKind.TYPES:
        return [col(Person.participant_type).in_(values)]
    if kind is AudienceKind.COORDINATORS:
        coordinators = select(CoordinatorZone.person_id).where(
            col(CoordinatorZone.zone).in_(values)
        )
        return [col(Person.id).in_(coordinators)]
    event_id = spec["event_id"]
    registered = exists().where(
        col(Registration.person_id) == col(Person.id),
        col(Registration.event_id) == event_id,
        col(Registration.status) == RegistrationStatus.REGISTERED,
    )
    if kind is AudienceKind.EVENT:
        return [registered]
    checked_in = exists().where(
        col(CheckIn.person_id) == col(Person.id), col(CheckIn.event_id) == event_id
    )
    return [registered, ~checked_in]


async def resolve(*, session: AsyncSession, spec: dict[str, Any]) -> list[Recipient]:
    """Everyone the spec reaches right now, in a stable order."""
    spec = normalise(spec)
    statement = (
        select(Person.id, Person.telegram_id, Person.language)
        .where(_reachable(), *_criteria(spec))
        .order_by(col(Person.id))
    )
    rows = (await session.exec(statement)).all()
    # The WHERE clause guarantees both ids; the `or 0` only satisfies the type checker.
    return [
        Recipient(person_id=pid or 0, chat_id=chat or 0, language=lang) for pid, chat, lang in rows
    ]


async def count(*, session: AsyncSession, spec: dict[str, Any]) -> int:
    """How many people the spec reaches right now."""
    spec = normalise(spec)
    statement = select(func.count()).select_from(Person).where(_reachable(), *_criteria(spec))
    return int((await session.exec(statement)).one())


@dataclass(frozen=True)
class EventChoice:
    """An event someone may address the registrants of."""

    id: int
    title: str
    starts_at: datetime


async def event_choices(
    *, session: AsyncSession, now: datetime, limit: int = 10
) -> list[EventChoice]:
    """Active events that are coming or ended less than a day ago, soonest first."""
    rows = await session.exec(
        select(Event)
        .where(
            col(Event.status) == EventStatus.ACTIVE, col(Event.ends_at) > now - timedelta(days=1)
        )
        .order_by(col(Event.starts_at))
        .limit(limit)
    )
    return [EventChoice(id=e.id or 0, title=e.title, starts_at=e.starts_at) for e in rows.all()]


async def labels(*, session: AsyncSession, spec: dict[str, Any], lang: str) -> dict[str, str]:
    """Names for the districts or the event a spec names (zones, roles, types: the caller's)."""
    found: dict[str, str] = {}
    if spec.get("kind") == AudienceKind.DISTRICTS:
        rows = await session.exec(
            select(District).where(col(District.code).in_(spec.get("values", [])))
        )
        found.update({d.code: d.name_th if lang == "th" else d.name_en for d in rows.all()})
    if isinstance(spec.get("event_id"), int):
        event = await session.get(Event, spec["event_id"])
        if event is not None:
            found[str(event.id)] = event.title
    return found
