"""Roles: granting and revoking them, and who holds which (admins only, every change audited).

What each role may do is `bot/services/access.py`; this module changes who holds them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit
from bot.services.access import Access, Capability
from bot.services.audit import AuditAction
from bot.services.errors import DomainError
from storage.models import CoordinatorZone, District, Person, Role, RoleGrant

# ---------------------------------------------------------------------------------------------
# Granting and revoking roles (admins only)
# ---------------------------------------------------------------------------------------------


class RoleAction(StrEnum):
    """What an admin does to a role."""

    GRANT = "grant"
    REVOKE = "revoke"


# The role names admins may type, in English and Thai, with common spellings.
ROLE_WORDS: dict[str, Role] = {
    "admin": Role.ADMIN,
    "administrator": Role.ADMIN,
    "ผู้ดูแล": Role.ADMIN,
    "ผู้ดูแลระบบ": Role.ADMIN,
    "organiser": Role.ORGANISER,
    "organizer": Role.ORGANISER,
    "ผู้จัด": Role.ORGANISER,
    "ผู้จัดงาน": Role.ORGANISER,
    "coordinator": Role.COORDINATOR,
    "ผู้ประสานงาน": Role.COORDINATOR,
    "ผู้ประสานงานโซน": Role.COORDINATOR,
    "staff": Role.STAFF,
    "ทีมงาน": Role.STAFF,
    # The word offices used for staff before the term table; it names agencies' officials now,
    # but an admin who types it for the role can only mean staff (there is no official role).
    "เจ้าหน้าที่": Role.STAFF,
}


class PersonNotFound(DomainError):
    """Nobody registered matches the reference an admin gave."""

    key = "admin.person_not_found"


class RoleAlreadyHeld(DomainError):
    """The person already holds the role (and, for coordinators, every zone named)."""

    key = "admin.already_holds"


class RoleNotHeld(DomainError):
    """The person does not hold the role (or zone) being revoked."""

    key = "admin.not_holding"


class ZonesRequired(DomainError):
    """A coordinator must be given at least one zone."""

    key = "admin.zones_required"


class ZonesOnlyForCoordinators(DomainError):
    """Zones were named for a role that has none."""

    key = "admin.zones_only_coordinator"


class UnknownZone(DomainError):
    """A zone number that the deployment does not have."""

    key = "admin.unknown_zone"


class ConfigAdminProtected(DomainError):
    """Admins from the config file are removed only by editing the config."""

    key = "admin.config_admin"


class SelfRevoke(DomainError):
    """An admin may not remove their own admin role (and lock themselves out)."""

    key = "admin.self_revoke"


@dataclass(frozen=True)
class RoleChange:
    """What a grant or revoke did: the person's roles and zones afterwards."""

    person_id: int
    role: Role
    roles_after: frozenset[Role]
    zones_after: frozenset[int]


@dataclass(frozen=True)
class RoleHolder:
    """One line of /roles: a person (or a config admin not registered) and what they hold."""

    person_id: int | None
    telegram_id: int | None
    full_name: str | None
    username: str | None
    roles: frozenset[Role]
    zones: frozenset[int]
    config_admin: bool


def parse_role(word: str) -> Role | None:
    """The role an admin typed, in Thai or English, or None."""
    return ROLE_WORDS.get(word.strip().lower())


async def known_zones(*, session: AsyncSession) -> frozenset[int]:
    """Zone numbers of this deployment (the district table is synced at start-up)."""
    found = await session.exec(
        select(District.zone).where(District.zone.is_not(None)).distinct()  # type: ignore[union-attr]
    )
    return frozenset(zone for zone in found.all() if zone is not None)


async def check_choice(
    *,
    session: AsyncSession,
    actor: Access,
    action: RoleAction,
    role: Role | None,
    zones: Collection[int],
    zones_final: bool,
) -> frozenset[int]:
    """Re-check an admin part-way through naming a role change; the deployment's zones.

    What is chosen so far must already fit: zones only for coordinators, and only zones that
    exist; once the zones are final, a new coordinator must have one.
    """
    actor.require(Capability.MANAGE_ROLES)
    known = await known_zones(session=session)
    if role is not None:
        required = zones_final and action is RoleAction.GRANT
        _check_zones(role=role, zones=frozenset(zones), known=known, required=required)
    return known


async def find_person(
    *,
    session: AsyncSession,
    actor: Access,
    telegram_id: int | None = None,
    phone: str | None = None,
    username: str | None = None,
) -> Person:
    """A registered person by Telegram id, E.164 phone or @username; admins only."""
    # Looking people up by phone is itself privileged: it confirms who is registered.
    actor.require(Capability.MANAGE_ROLES)
    statement = select(Person).where(
        Person.erased_at.is_(None),  # type: ignore[union-attr]
        Person.is_walkin.is_(False),  # type: ignore[attr-defined]
    )
    if telegram_id is not None:
        statement = statement.where(Person.telegram_id == telegram_id)
    elif phone is not None:
        statement = statement.where(Person.phone == phone)
    elif username:
        name = username.removeprefix("@").lower()
        statement = statement.where(func.lower(Person.telegram_username) == name)
    else:
        raise PersonNotFound("no reference given")
    # A phone number may belong to two records only by accident; the oldest one wins.
    person = (await session.exec(statement.order_by(Person.id))).first()  # type: ignore[arg-type]
    if person is None or person.telegram_id is None:
        raise PersonNotFound("no registered person matches")
    return person


async def grant(
    *,
    session: AsyncSession,
    actor: Access,
    target: Person,
    role: Role,
    zones: Collection[int] = (),
    now: datetime,
) -> RoleChange:
    """Give a registered person a role (coordinators: in zones), audited; admins only."""
    actor.require(Capability.MANAGE_ROLES)
    person_id = _registered_id(target)
    wanted = frozenset(zones)
    _check_zones(role=role, zones=wanted, known=await _zones_if(session, role), required=True)
    current = await _held(session=session, person_id=person_id)
    current_zones = await _zones_of(session=session, person_id=person_id)
    new_zones = wanted - current_zones
    if role in current and not new_zones:
        raise RoleAlreadyHeld("role already held")
    if role not in current:
        session.add(RoleGrant(person_id=person_id, role=role, granted_by_id=actor.person_id))
    for zone in sorted(new_zones):
        session.add(CoordinatorZone(person_id=person_id, zone=zone))
    audit.record(
        session=session,
        actor_id=actor.person_id,
        action=AuditAction.ROLE_GRANT,
        at=now,
        target_type="person",
        target_id=person_id,
        detail=_detail(role, frozenset(new_zones)),
    )
    await _flush_or_already_held(session)
    return RoleChange(
        person_id=person_id,
        role=role,
        roles_after=frozenset(current | {role}),
        zones_after=current_zones | new_zones,
    )


async def revoke(
    *,
    session: AsyncSession,
    actor: Access,
    target: Person,
    role: Role,
    zones: Collection[int] = (),
    now: datetime,
    config_admins: tuple[int, ...] = (),
) -> RoleChange:
    """Take a role (or some of a coordinator's zones) away, audited; admins only."""
    actor.require(Capability.MANAGE_ROLES)
    person_id = _registered_id(target)
    dropped = frozenset(zones)
    _check_zones(role=role, zones=dropped, known=await _zones_if(session, role), required=False)
    if role == Role.ADMIN and target.telegram_id in config_admins:
        raise ConfigAdminProtected("config admins are removed in the config file")
    if role == Role.ADMIN and actor.person_id == person_id:
        raise SelfRevoke("admins cannot remove their own admin role")
    current = await _held(session=session, person_id=person_id)
    current_zones = await _zones_of(session=session, person_id=person_id)
    if role not in current or (dropped and not dropped <= current_zones):
        raise RoleNotHeld("role or zone not held")
    # Naming zones removes just those; a coordinator left with none is no coordinator.
    zones_after = current_zones - dropped if dropped else frozenset[int]()
    await _remove_zones(session=session, person_id=person_id, zones=current_zones - zones_after)
    roles_after = frozenset(current)
    if not zones_after or role != Role.COORDINATOR:
        await _remove_grant(session=session, person_id=person_id, role=role)
        roles_after = roles_after - {role}
    audit.record(
        session=session,
        actor_id=actor.person_id,
        action=AuditAction.ROLE_REVOKE,
        at=now,
        target_type="person",
        target_id=person_id,
        detail=_detail(role, dropped),
    )
    await session.flush()
    return RoleChange(
        person_id=person_id, role=role, roles_after=roles_after, zones_after=zones_after
    )


async def list_roles(
    *, session: AsyncSession, actor: Access, config_admins: tuple[int, ...] = ()
) -> list[RoleHolder]:
    """Everyone who holds a role, config admins first; admins only."""
    actor.require(Capability.MANAGE_ROLES)
    grants = (await session.exec(select(RoleGrant))).all()
    zone_rows = (await session.exec(select(CoordinatorZone))).all()
    by_person: dict[int, set[Role]] = {}
    for row in grants:
        if row.role in Role._value2member_map_:
            by_person.setdefault(row.person_id, set()).add(Role(row.role))
    zones: dict[int, set[int]] = {}
    for zone_row in zone_rows:
        zones.setdefault(zone_row.person_id, set()).add(zone_row.zone)
    people = await _people(session=session, ids=set(by_person), telegram_ids=set(config_admins))
    holders = [_holder(person, by_person, zones, config_admins) for person in people]
    seen = {holder.telegram_id for holder in holders}
    unregistered = [
        RoleHolder(None, telegram_id, None, None, frozenset({Role.ADMIN}), frozenset(), True)
        for telegram_id in config_admins
        if telegram_id not in seen
    ]
    holders.sort(key=lambda holder: (not holder.config_admin, holder.person_id or 0))
    return unregistered + holders


def _holder(
    person: Person,
    by_person: dict[int, set[Role]],
    zones: dict[int, set[int]],
    config_admins: tuple[int, ...],
) -> RoleHolder:
    """One person's line for /roles."""
    person_id = person.id or 0
    roles = set(by_person.get(person_id, set()))
    config_admin = person.telegram_id in config_admins
    if config_admin:
        roles.add(Role.ADMIN)
    return RoleHolder(
        person_id=person.id,
        telegram_id=person.telegram_id,
        full_name=person.full_name,
        username=person.telegram_username,
        roles=frozenset(roles),
        zones=frozenset(zones.get(person_id, set())) if Role.COORDINATOR in roles else frozenset(),
        config_admin=config_admin,
    )


def _detail(role: Role, zones: frozenset[int]) -> dict[str, object]:
    """What the audit keeps about a role change: the role and the zones it touched."""
    return {"role": role.value, "zones": sorted(zones)} if zones else {"role": role.value}


def _registered_id(target: Person) -> int:
    """The id of a registered, not erased person with Telegram, or PersonNotFound."""
    if target.id is None or target.erased_at is not None or target.telegram_id is None:
        raise PersonNotFound("not a registered person")
    return target.id


async def _zones_if(session: AsyncSession, role: Role) -> frozenset[int]:
    """The deployment's zones when the role has zones (no query for the others)."""
    if role != Role.COORDINATOR:
        return frozenset()
    return await known_zones(session=session)


def _check_zones(
    *, role: Role, zones: frozenset[int], known: frozenset[int], required: bool
) -> None:
    """Zones belong to coordinators only, must exist, and a new coordinator needs one."""
    if role != Role.COORDINATOR:
        if zones:
            raise ZonesOnlyForCoordinators("zones given for a role without zones")
        return
    if required and not zones:
        raise ZonesRequired("a coordinator needs a zone")
    unknown = sorted(zones - known)
    if unknown:
        raise UnknownZone("no such zone", zone=unknown[0])


async def _held(*, session: AsyncSession, person_id: int) -> set[Role]:
    """The roles granted to a person (not counting the config file)."""
    rows = await session.exec(select(RoleGrant.role).where(RoleGrant.person_id == person_id))
    return {Role(value) for value in rows.all() if value in Role._value2member_map_}


async def _zones_of(*, session: AsyncSession, person_id: int) -> frozenset[int]:
    """The zones a person coordinates."""
    rows = await session.exec(
        select(CoordinatorZone.zone).where(CoordinatorZone.person_id == person_id)
    )
    return frozenset(rows.all())


async def _remove_zones(*, session: AsyncSession, person_id: int, zones: frozenset[int]) -> None:
    """Delete some of a coordinator's zones."""
    if not zones:
        return
    await session.exec(
        delete(CoordinatorZone).where(
            CoordinatorZone.person_id == person_id,  # type: ignore[arg-type]
            CoordinatorZone.zone.in_(zones),  # type: ignore[attr-defined]
        )
    )


async def _remove_grant(*, session: AsyncSession, person_id: int, role: Role) -> None:
    """Delete one role grant."""
    await session.exec(
        delete(RoleGrant).where(
            RoleGrant.person_id == person_id,  # type: ignore[arg-type]
            RoleGrant.role == role.value,  # type: ignore[arg-type]
        )
    )


async def _flush_or_already_held(session: AsyncSession) -> None:
    """Write the grant now: two admins granting the same thing at once meet the unique
    constraint here, and the second is told it is already held (its transaction rolls back)."""
    try:
        await session.flush()
    except IntegrityError as error:
        raise RoleAlreadyHeld("granted concurrently") from error


async def _people(*, session: AsyncSession, ids: set[int], telegram_ids: set[int]) -> list[Person]:
    """People by database id or Telegram id (erased people hold nothing)."""
    if not ids and not telegram_ids:
        return []
    statement = select(Person).where(
        Person.erased_at.is_(None),  # type: ignore[union-attr]
        or_(
            Person.id.in_(ids),  # type: ignore[union-attr]
            Person.telegram_id.in_(telegram_ids),  # type: ignore[union-attr]
        ),
    )
    return list((await session.exec(statement)).all())
