"""The append-only audit trail of privileged acts.

Entries name people by their database id, never by phone number or message text, so that
erasing a person's data leaves the audit intact without keeping their personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEntry

# Keys that must never reach the audit, whatever a caller passes.
FORBIDDEN_DETAIL_KEYS = frozenset({"phone", "text", "message", "full_name", "name"})


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
