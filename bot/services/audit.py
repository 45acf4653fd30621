"""The append-only audit trail of privileged acts.

Entries name people by their database id, never by phone number or message text, so that
erasing a person's data leaves the audit intact without keeping their personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEntry

if TYPE_CHECKING:
    from bot.services.roles import Access

# Keys that must never reach the audit, whatever a caller passes.
FORBIDDEN_DETAIL_KEYS = frozenset({"phone", "text", "message", "full_name", "name"})

# /audit shows at most this many entries at once (they must fit in one Telegram message).
MAX_LATEST = 30
DEFAULT_LATEST = 10


def record(
    *,
    session: AsyncSession,
    actor_id: int | None,
    action: str,
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
        action=action,
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
    from bot.services.roles import Capability  # roles records through this module

    access.require(Capability.VIEW_AUDIT)
    count = max(1, min(limit, MAX_LATEST))
    statement = (
        select(AuditEntry)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
        .limit(count)
    )
    return list((await session.exec(statement)).all())
