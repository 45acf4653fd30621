"""Registration use cases: becoming a person of record, /profile, /mydata, /forget, retention.

One transaction each, plain results, no Telegram. A registration that shares the person's own
phone number through Telegram's contact button also claims the walk-in records staff entered
with that number (bot/services/merges.py), and checks the newcomer in with the QR or code they
came with, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from bot.services import merges, people, privacy, registration
from bot.services.access import Access, access_for
from bot.services.checkins import CheckInResult, WrongCodeLimiter
from bot.services.errors import DomainError, NotRegistered
from bot.services.registration import REGISTRATION_ORDER, PersonDraft
from bot.usecases import transaction
from bot.usecases.checkin import Arrival, arrive
from storage.models import Person


@dataclass(frozen=True)
class Registered:
    """A confirmed registration."""

    person_id: int
    full_name: str
    created: bool
    # Walk-in records staff had entered with the person's own (shared) number, now theirs.
    linked: int
    # The check-in they came with (a QR scanned or a code typed before registering): its
    # result, why it was refused, or None if they came with nothing.
    arrival: CheckInResult | DomainError | None = None


@dataclass(frozen=True)
class Forgotten:
    """After /forget: whether a record was erased, and what the account may still do."""

    erased: bool
    access: Access


@dataclass(frozen=True)
class Purged:
    """What the daily retention sweep did."""

    # The Telegram accounts of the people erased, with what each may still do (a config admin).
    erased: list[tuple[int, Access]]
    drafts_dropped: int


@transaction
async def register(
    session: AsyncSession,
    *,
    telegram_id: int,
    telegram_username: str | None,
    language: str,
    draft: PersonDraft,
    consent_at: datetime | None,
    consent_version: str | None,
    geo: Geography,
    now: datetime,
    arrival: Arrival | None = None,
    limiter: WrongCodeLimiter | None = None,
) -> Registered:
    """Create the person from a confirmed draft (InvalidFields if it is not complete) and, in
    the same transaction, check them in with what they came with (`arrival`)."""
    fields = registration.complete(draft, order=REGISTRATION_ORDER, geo=geo)
    if consent_at is None or not consent_version:
        raise registration.InvalidFields("no consent", field="consent")
    done = await registration.register_person(
        session=session,
        telegram_id=telegram_id,
        telegram_username=telegram_username,
        language=language,
        fields=fields,
        consent_at=consent_at,
        consent_version=consent_version,
        now=now,
    )
    linked = []
    if done.created and fields.phone_shared:
        linked = await merges.link_shared_phone(session=session, person=done.person, now=now)
    person = done.person
    person_id = person.id or 0
    checked_in: CheckInResult | DomainError | None = None
    if arrival:
        try:
            checked_in = await arrive(
                session,
                person_id=person_id,
                arrival=arrival,
                now=now,
                limiter=limiter or WrongCodeLimiter(),
            )
        except DomainError as refused:  # a closed event, a wrong code: registered all the same
            checked_in = refused
    return Registered(person_id, person.full_name or "", done.created, len(linked), checked_in)


async def _person(session: AsyncSession, person_id: int) -> Person:
    """The registered person, or NotRegistered."""
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotRegistered()
    return person


@transaction
async def profile_of(session: AsyncSession, *, person_id: int) -> PersonDraft:
    """A registered person's answers, to show and change in /profile."""
    return registration.draft_of(await _person(session, person_id))


@transaction
async def save_profile(
    session: AsyncSession, *, person_id: int, draft: PersonDraft, geo: Geography, now: datetime
) -> int:
    """Save /profile changes; returns how many walk-in records a newly shared number claimed."""
    fields = registration.complete(draft, order=REGISTRATION_ORDER, geo=geo)
    person = await registration.update_profile(
        session=session, person_id=person_id, fields=fields, now=now
    )
    if not fields.phone_shared:
        return 0
    return len(await merges.link_shared_phone(session=session, person=person, now=now))


@transaction
async def my_data(session: AsyncSession, *, person_id: int) -> dict[str, Any]:
    """Everything stored about the person (/mydata)."""
    return await privacy.export_person(session=session, person_id=person_id)


@transaction
async def forget(
    session: AsyncSession, *, telegram_id: int, config_admins: tuple[int, ...], now: datetime
) -> Forgotten:
    """Erase the person behind this account (if any) and the account's chat state."""
    person = await people.by_telegram_id(session=session, telegram_id=telegram_id)
    if person is not None and person.id is not None:
        await privacy.erase_person(
            session=session, person_id=person.id, now=now, reason="forget", actor_id=person.id
        )
    else:
        await privacy.forget_chat(session=session, telegram_id=telegram_id)
    access = await access_for(
        session=session, person=None, telegram_id=telegram_id, config_admins=config_admins
    )
    return Forgotten(erased=person is not None, access=access)


@transaction
async def forget_chat(session: AsyncSession, *, telegram_id: int) -> None:
    """Keep nothing of someone who declined the privacy notice: not even their language."""
    await privacy.forget_chat(session=session, telegram_id=telegram_id)


@transaction
async def purge(
    session: AsyncSession,
    *,
    now: datetime,
    retention_days: int,
    flow_timeout: timedelta,
    config_admins: tuple[int, ...],
) -> Purged:
    """Daily: erase people inactive beyond the retention period, and drop abandoned drafts."""
    erased = await privacy.purge_inactive(session=session, now=now, retention_days=retention_days)
    dropped = await privacy.clear_abandoned_flows(session=session, idle_since=now - flow_timeout)
    accounts = []
    for gone in erased:
        if gone.telegram_id is None:
            continue
        access = await access_for(
            session=session, person=None, telegram_id=gone.telegram_id, config_admins=config_admins
        )
        accounts.append((gone.telegram_id, access))
    return Purged(accounts, dropped)
