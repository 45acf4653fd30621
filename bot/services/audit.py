"""The append-only audit trail of privileged acts.

Entries name people by their database id, never by phone number or message text, so that
erasing a person's data leaves the audit intact without keeping their personal data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services.access import Access, Capability
from storage.models import AuditEntry


class AuditAction(StrEnum):
    """Every privileged act the audit trail records (stored as these strings)."""

    EVENT_CREATE = "event.create"
    EVENT_UPDATE = "event.update"
    EVENT_CHECKIN_OPEN = "event.checkin_open"
    EVENT_CHECKIN_CLOSED = "event.checkin_closed"
    EVENT_CHECKIN_AUTO = "event.checkin_auto"
    EVENT_ROTATE_CODE = "event.rotate_code"
    EVENT_AUTO_ROTATE = "event.auto_rotate"
    EVENT_CHECKOUT_ON = "event.checkout_on"
    EVENT_CHECKOUT_OFF = "event.checkout_off"
    EVENT_CANCEL = "event.cancel"
    ROLE_GRANT = "role.grant"
    ROLE_REVOKE = "role.revoke"
    PERSON_ERASE = "person.erase"
    PERSON_MERGE = "person.merge"
    PERSON_UNMERGE = "person.unmerge"
    BROADCAST_CREATE = "broadcast.create"
    BROADCAST_CANCEL = "broadcast.cancel"
    BROADCAST_RESCHEDULE = "broadcast.reschedule"
    CHECKIN_STAFF = "checkin.staff"
    CHECKIN_WALKIN = "checkin.walkin"
    EXPORT_ATTENDEES = "export.attendees"
    EXPORT_VOLUNTEERS = "export.volunteers"


# Keys that must never reach the audit, whatever a caller passes.
FORBIDDEN_DETAIL_KEYS = frozenset({"phone", "text", "message", "full_name", "name"})

# /audit shows at most this many entries at once (they must fit in one Telegram message).
MAX_LATEST = 30
DEFAULT_LATEST = 10


def record(
    *,
    session: AsyncSession,
    actor_id: int | None,
    action: AuditAction,
    at: datetime,
    target_type: str | None = None,
    target_id: int | str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry to the session; it is committed with the act it records."""
    clean = {
        key: value for key, value in (detail or {}).items() if key not in FORBIDDEN_DETAIL_KEYS
    }
    entry = AuditEntry(
        at=at,
        actor_id=actor_id,
        action=action.value,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        detail=clean,
    )
    session.add(entry)
    return entry


async def latest(
    *, session: AsyncSession, access: Access, limit: int = DEFAULT_LATEST
) -> list[AuditEntry]:
    """The newest entries first, at most `limit` (1 to MAX_LATEST); admins only."""
    access.require(Capability.VIEW_AUDIT)
    count = max(1, min(limit, MAX_LATEST))
    statement = (
        select(AuditEntry)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(count)
    )
    return list((await session.exec(statement)).all())
