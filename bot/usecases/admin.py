"""Admin use cases: role changes (with the notice to the person affected), /roles and /audit.

Each is one transaction. A role change and its notice are written together: the person is
told if and only if the change happened, in their own language, through the outbox.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import terms
from bot.scope import Actor
from bot.services import audit, roles
from bot.services.access import Access, access_for
from bot.services.audit import AuditAction
from bot.services.notify import Notice, Notifier, Term
from bot.services.roles import RoleAction, RoleChange, RoleHolder
from bot.usecases import transaction
from storage.models import Role


@dataclass(frozen=True)
class PersonRef:
    """How an admin named a person: a Telegram account, a phone number (E.164) or @username."""

    telegram_id: int | None = None
    phone: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class RoleTarget:
    """The person whose roles changed, as the admin's reply and their command menu need."""

    person_id: int
    full_name: str | None
    username: str | None
    chat_id: int
    lang: str
    # What they may do now (their command menu is redrawn from it).
    access: Access


@dataclass(frozen=True)
class RoleChanged:
    """A role granted or revoked."""

    action: RoleAction
    target: RoleTarget
    change: RoleChange


@dataclass(frozen=True)
class AuditLine:
    """One entry of the audit trail, as /audit shows it (no personal data is stored in one)."""

    at: datetime
    actor_id: int | None
    # The action, or None for a code this version does not know (shown as stored).
    action: AuditAction | None
    code: str
    target_type: str | None
    target_id: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@transaction
async def zone_choices(
    session: AsyncSession,
    *,
    actor: Actor,
    action: RoleAction,
    role: Role | None,
    zones: Collection[int],
    zones_final: bool,
) -> tuple[int, ...]:
    """Re-check the admin and what they chose so far; the deployment's zones, in order."""
    known = await roles.check_choice(
        session=session,
        actor=actor.access,
        action=action,
        role=role,
        zones=zones,
        zones_final=zones_final,
    )
    return tuple(sorted(known))


@transaction
async def change_role(
    session: AsyncSession,
    *,
    actor: Actor,
    action: RoleAction,
    role: Role,
    zones: Collection[int],
    person: PersonRef,
    notifier: Notifier,
    config_admins: tuple[int, ...],
    now: datetime,
) -> RoleChanged:
    """Grant or revoke, audited, and queue the notice to the person in the same transaction."""
    target = await roles.find_person(
        session=session,
        actor=actor.access,
        telegram_id=person.telegram_id,
        phone=person.phone,
        username=person.username,
    )
    if action is RoleAction.GRANT:
        change = await roles.grant(
            session=session, actor=actor.access, target=target, role=role, zones=zones, now=now
        )
    else:
        change = await roles.revoke(
            session=session,
            actor=actor.access,
            target=target,
            role=role,
            zones=zones,
            now=now,
            config_admins=config_admins,
        )
    await notifier.notify(
        session,
        role_notice(action, change),
        person_ids=[change.person_id],
        author_id=actor.person_id,
        now=now,
    )
    access = await access_for(
        session=session, person=target, telegram_id=target.telegram_id, config_admins=config_admins
    )
    return RoleChanged(
        action=action,
        target=RoleTarget(
            person_id=change.person_id,
            full_name=target.full_name,
            username=target.telegram_username,
            chat_id=target.telegram_id or 0,
            lang=target.language,
            access=access,
        ),
        change=change,
    )


def role_notice(action: RoleAction, change: RoleChange) -> Notice:
    """What the person whose roles changed is told (rendered in their language)."""
    role = Term(terms.access_role(change.role))
    zones = ", ".join(str(zone) for zone in sorted(change.zones_after))
    if change.role == Role.COORDINATOR and change.role in change.roles_after:
        if action is RoleAction.GRANT:
            return Notice("admin.you_were_granted_zones", {"role": role, "zones": zones})
        return Notice("admin.your_zones_changed", {"zones": zones})
    if action is RoleAction.GRANT:
        return Notice("admin.you_were_granted", {"role": role})
    return Notice("admin.you_were_revoked", {"role": role})


@transaction
async def role_holders(
    session: AsyncSession, *, actor: Actor, config_admins: tuple[int, ...]
) -> list[RoleHolder]:
    """Everyone holding a role, config admins first."""
    return await roles.list_roles(session=session, actor=actor.access, config_admins=config_admins)


@transaction
async def latest_audit(session: AsyncSession, *, actor: Actor, limit: int) -> list[AuditLine]:
    """The newest audit entries first (at most audit.MAX_LATEST)."""
    entries = await audit.latest(session=session, access=actor.access, limit=limit)
    known = {action.value: action for action in AuditAction}
    return [
        AuditLine(
            at=entry.at,
            actor_id=entry.actor_id,
            action=known.get(entry.action),
            code=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            detail=dict(entry.detail or {}),
        )
        for entry in entries
    ]
