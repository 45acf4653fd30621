"""Who may do what: capabilities, the roles that grant them, and one person's access.

Capabilities, not roles, are what the rest of the code asks about: "may this person manage
events?". Only this module knows which roles grant that (and, for coordinators, within which
zones). Granting and revoking roles is in `bot/services/roles.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.errors import NotAllowed
from storage.driver import Statements
from storage.models import CoordinatorZone, Person, Role, RoleGrant


class Capability(StrEnum):
    """Something privileged a person may be allowed to do."""

    MANAGE_EVENTS = "manage_events"
    CHECK_IN_OTHERS = "check_in_others"
    REGISTER_WALKINS = "register_walkins"
    VIEW_HEADCOUNT = "view_headcount"
    EXPORT = "export"
    BROADCAST = "broadcast"
    MANAGE_ROLES = "manage_roles"
    VIEW_AUDIT = "view_audit"


# Which roles grant each capability. Coordinators' grants are limited to their zones, which
# the services that take a zone into account check with `Access.zones`.
GRANTS: dict[Capability, frozenset[Role]] = {
    Capability.MANAGE_EVENTS: frozenset({Role.ADMIN, Role.ORGANISER}),
    Capability.CHECK_IN_OTHERS: frozenset(
        {Role.ADMIN, Role.ORGANISER, Role.COORDINATOR, Role.STAFF}
    ),
    Capability.REGISTER_WALKINS: frozenset({Role.ADMIN, Role.ORGANISER, Role.STAFF}),
    Capability.VIEW_HEADCOUNT: frozenset({Role.ADMIN, Role.ORGANISER, Role.COORDINATOR}),
    Capability.EXPORT: frozenset({Role.ADMIN, Role.ORGANISER}),
    Capability.BROADCAST: frozenset({Role.ADMIN, Role.ORGANISER, Role.COORDINATOR}),
    Capability.MANAGE_ROLES: frozenset({Role.ADMIN}),
    Capability.VIEW_AUDIT: frozenset({Role.ADMIN}),
}

# Roles whose reach is the whole deployment; a coordinator alone is limited to their zones.
UNSCOPED_ROLES = frozenset({Role.ADMIN, Role.ORGANISER})


@dataclass(frozen=True)
class Access:
    """A person's roles, and the zones a coordinator-only person is limited to."""

    person_id: int | None
    roles: frozenset[Role]
    coordinator_zones: frozenset[int]

    def can(self, capability: Capability) -> bool:
        """Whether any of the person's roles grants the capability."""
        return bool(self.roles & GRANTS[capability])

    @property
    def unscoped(self) -> bool:
        """Admins and organisers see every zone."""
        return bool(self.roles & UNSCOPED_ROLES)

    def zone_limit(self) -> frozenset[int] | None:
        """None when the person sees everything; else the zones they are limited to."""
        return None if self.unscoped else self.coordinator_zones

    def require(self, capability: Capability) -> None:
        """Raise NotAllowed unless the person has the capability."""
        if not self.can(capability):
            raise NotAllowed(capability.value)


NOBODY = Access(person_id=None, roles=frozenset(), coordinator_zones=frozenset())


async def access_for(
    *,
    session: AsyncSession,
    person: Person | None,
    telegram_id: int | None,
    config_admins: tuple[int, ...],
) -> Access:
    """Everything a person may do: config admins, granted roles and coordinator zones."""
    person_id = person.id if person is not None else None
    granted: list[str] = []
    if person is not None and person_id is not None and person.erased_at is None:
        found = await session.exec(select(RoleGrant.role).where(RoleGrant.person_id == person_id))
        granted = list(found.all())
    return await access_of(
        connection=await session.connection(),
        person_id=person_id,
        granted=granted,
        telegram_id=telegram_id,
        config_admins=config_admins,
    )


# A coordinator's zones, built once (it runs on the sender read of every coordinator's update).
_ZONES = core_select(col(CoordinatorZone.zone)).where(
    col(CoordinatorZone.person_id) == bindparam("person_id")
)


async def access_of(
    *,
    connection: Statements,
    person_id: int | None,
    granted: Iterable[str],
    telegram_id: int | None,
    config_admins: tuple[int, ...],
) -> Access:
    """The access of a person whose granted roles are already read (their zones are read here
    when they coordinate: few people do)."""
    roles = {Role(value) for value in granted if value in Role._value2member_map_}
    if telegram_id is not None and telegram_id in config_admins:
        roles.add(Role.ADMIN)
    zones: frozenset[int] = frozenset()
    if person_id is not None and Role.COORDINATOR in roles:
        found = await connection.execute(_ZONES, {"person_id": person_id})
        zones = frozenset(row.zone for row in found.all())
    return Access(person_id=person_id, roles=frozenset(roles), coordinator_zones=zones)
