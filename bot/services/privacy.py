"""Personal data rights (PDPA): export everything about a person, erase it, and retention.

Erasure keeps the person row and its anonymous attributes (participant type, agency, district,
volunteer role) so that headcounts by group and zone, and every past event's numbers, stay
exactly as they were; every field that identifies or reaches the person is cleared, on their
record, on walk-in records merged into it, and in their chat state (language, open flow).
Nothing here commits: the use case around it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import audit, chat_state
from bot.services.audit import AuditAction
from bot.services.errors import NotRegistered
from storage.models import (
    ChatState,
    CheckIn,
    CoordinatorZone,
    Delivery,
    DeliveryStatus,
    District,
    Event,
    Person,
    Registration,
    RoleGrant,
)

EXPORT_FORMAT = "asa-mydata/1"
ERASE_ACTION = AuditAction.PERSON_ERASE
# Deliveries not yet sent to an erased person must never go out: they end here, with this note.
ERASED_DELIVERY_NOTE = "recipient erased"


@dataclass(frozen=True)
class Erased:
    """Who was erased: the row that stays, and the Telegram account it no longer names."""

    person_id: int
    telegram_id: int | None


def _iso(moment: datetime | None) -> str | None:
    """A datetime as ISO 8601 text for the JSON export."""
    return moment.isoformat() if moment is not None else None


async def export_person(*, session: AsyncSession, person_id: int) -> dict[str, Any]:
    """Everything stored about a person, as plain JSON-ready values."""
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotRegistered()
    district = await session.get(District, person.district_code) if person.district_code else None
    return {
        "format": EXPORT_FORMAT,
        "profile": {
            "telegram_id": person.telegram_id,
            "telegram_username": person.telegram_username,
            "language": person.language,
            "full_name": person.full_name,
            "phone": person.phone,
            "participant_type": person.participant_type,
            "agency": person.agency,
            "district_code": person.district_code,
            "district_name_th": district.name_th if district else None,
            "district_name_en": district.name_en if district else None,
            "zone": district.zone if district else None,
            "volunteer_role": person.volunteer_role,
            "registered_at": _iso(person.registered_at),
            "last_active_at": _iso(person.last_active_at),
        },
        "consent": {
            "given_at": _iso(person.consent_at),
            "notice_version": person.consent_version,
        },
        "roles": await _roles(session, person_id),
        "registrations": await _registrations(session, person_id),
        "check_ins": await _check_ins(session, person_id),
    }


async def _roles(session: AsyncSession, person_id: int) -> list[str]:
    """The privileges granted to the person."""
    rows = await session.exec(select(RoleGrant.role).where(RoleGrant.person_id == person_id))
    return sorted(rows.all())


async def _registrations(session: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    """The person's RSVPs, oldest event first."""
    statement = (
        select(Registration, Event)
        .join(Event, col(Event.id) == col(Registration.event_id))
        .where(Registration.person_id == person_id)
        .order_by(col(Event.starts_at), col(Registration.id))
    )
    return [
        {
            "event_id": event.id,
            "event_title": event.title,
            "event_starts_at": _iso(event.starts_at),
            "status": registration.status,
            "attending": registration.attending,
            "registered_at": _iso(registration.created_at),
            "updated_at": _iso(registration.updated_at),
        }
        for registration, event in (await session.exec(statement)).all()
    ]


async def _check_ins(session: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    """The person's arrivals, oldest first."""
    statement = (
        select(CheckIn, Event)
        .join(Event, col(Event.id) == col(CheckIn.event_id))
        .where(CheckIn.person_id == person_id)
        .order_by(col(CheckIn.checked_in_at), col(CheckIn.id))
    )
    return [
        {
            "event_id": event.id,
            "event_title": event.title,
            "checked_in_at": _iso(check_in.checked_in_at),
            "method": check_in.method,
            "late": check_in.late,
            "checked_out_at": _iso(check_in.checked_out_at),
        }
        for check_in, event in (await session.exec(statement)).all()
    ]


async def erase_person(
    *,
    session: AsyncSession,
    person_id: int,
    now: datetime,
    reason: str,
    actor_id: int | None = None,
) -> Erased:
    """Erase a person's personal data (idempotent), with an audit entry."""
    person = await session.get(Person, person_id)
    if person is None:
        raise NotRegistered()
    return await _erase(session, person, now=now, reason=reason, actor_id=actor_id)


async def _erase(
    session: AsyncSession, person: Person, *, now: datetime, reason: str, actor_id: int | None
) -> Erased:
    """Clear every personal field, stop every message to the person, and record the act."""
    assert person.id is not None  # noqa: S101  (a loaded row always has its key)
    telegram_id = person.telegram_id
    if person.erased_at is None:
        person.erased_at = now
        audit.record(
            session=session,
            actor_id=actor_id,
            action=ERASE_ACTION,
            at=now,
            target_type="person",
            target_id=person.id,
            detail={"reason": reason},
        )
    _clear(person, now)
    person_id = person.id
    # Walk-in records found to be this person hold their name and phone too.
    merged = await session.exec(select(Person).where(col(Person.merged_into_id) == person_id))
    for record in merged.all():
        record.erased_at = record.erased_at or now
        _clear(record, now)
    # Privileges of someone who is gone, and the chat id kept on every delivery to them.
    await session.exec(delete(RoleGrant).where(col(RoleGrant.person_id) == person_id))
    await session.exec(delete(CoordinatorZone).where(col(CoordinatorZone.person_id) == person_id))
    await _stop_deliveries(session, person_id)
    if telegram_id is not None:
        await forget_chat(session=session, telegram_id=telegram_id)
    return Erased(person_id=person_id, telegram_id=telegram_id)


def _clear(person: Person, now: datetime) -> None:
    """Identifying or reaching fields go; type, agency, district and role stay for the counts."""
    person.full_name = None
    person.phone = None
    person.telegram_id = None
    person.telegram_username = None
    person.consent_at = None
    person.consent_version = None
    person.unreachable_at = now


async def forget_chat(*, session: AsyncSession, telegram_id: int) -> None:
    """Drop a Telegram account's chat state: its language and any unfinished flow."""
    await session.exec(delete(ChatState).where(col(ChatState.telegram_id) == telegram_id))


async def _stop_deliveries(session: AsyncSession, person_id: int) -> None:
    """Forget the chat id on every delivery to the person; unsent ones will never be sent."""
    unsent = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
    await session.exec(
        update(Delivery)
        .where(col(Delivery.person_id) == person_id, col(Delivery.status).in_(unsent))
        .values(status=DeliveryStatus.FAILED, error=ERASED_DELIVERY_NOTE)
    )
    await session.exec(
        # Unique per announcement and chat: an erased chat becomes a number no chat has.
        update(Delivery).where(col(Delivery.person_id) == person_id).values(chat_id=-person_id)
    )


async def purge_inactive(
    *, session: AsyncSession, now: datetime, retention_days: int
) -> list[Erased]:
    """Erase everyone with no activity, RSVP or check-in within the retention period."""
    cutoff = now - timedelta(days=retention_days)
    recent_check_in = exists().where(
        col(CheckIn.person_id) == col(Person.id), col(CheckIn.checked_in_at) >= cutoff
    )
    recent_rsvp = exists().where(
        col(Registration.person_id) == col(Person.id), col(Registration.updated_at) >= cutoff
    )
    statement = (
        select(Person)
        .where(
            col(Person.erased_at).is_(None),
            # A merged-away record goes with the record it was merged into.
            col(Person.merged_into_id).is_(None),
            col(Person.last_active_at) < cutoff,
            ~recent_check_in,
            ~recent_rsvp,
        )
        .order_by(col(Person.id))
    )
    stale = (await session.exec(statement)).all()
    return [
        await _erase(session, person, now=now, reason="retention", actor_id=None)
        for person in stale
    ]


async def clear_abandoned_flows(*, session: AsyncSession, idle_since: datetime) -> int:
    """Drop the drafts of flows nobody has touched since `idle_since` (a flow that timed out
    is otherwise only dropped when its person writes again); returns how many."""
    result = await session.exec(
        update(ChatState)
        .where(col(ChatState.flow).is_not(None), col(ChatState.updated_at) < idle_since)
        .values(**chat_state.NO_FLOW)
    )
    return int(result.rowcount or 0)
