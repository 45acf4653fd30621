"""Who needs a command menu of their own: everyone holding a role, and the config admins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.access import Access, access_for
from bot.usecases import transaction
from storage.models import Person, Role, RoleGrant

# A config admin who has not registered: admin by the config file alone.
CONFIG_ADMIN = Access(person_id=None, roles=frozenset({Role.ADMIN}), coordinator_zones=frozenset())


@dataclass(frozen=True)
class MenuHolder:
    """A chat whose command menu depends on its person's roles."""

    chat_id: int
    access: Access
    registered: bool
    lang: str


@transaction
async def privileged_people(
    session: AsyncSession, *, config_admins: tuple[int, ...], default_language: str
) -> list[MenuHolder]:
    """Every person with a role or named in the config, with what they may do."""
    holders = select(RoleGrant.person_id).distinct()
    statement = select(Person).where(
        col(Person.erased_at).is_(None),
        col(Person.telegram_id).is_not(None),
        col(Person.id).in_(holders) | col(Person.telegram_id).in_(config_admins),
    )
    found: list[MenuHolder] = []
    for person in (await session.exec(statement)).all():
        access = await access_for(
            session=session,
            person=person,
            telegram_id=person.telegram_id,
            config_admins=config_admins,
        )
        found.append(MenuHolder(person.telegram_id or 0, access, True, person.language))
    known = {holder.chat_id for holder in found}
    found += [
        MenuHolder(telegram_id, CONFIG_ADMIN, False, default_language)
        for telegram_id in config_admins
        if telegram_id not in known
    ]
    return found
