"""Registration: the draft a person fills in step by step, and writing it once confirmed.

The draft is a plain dict (it lives in the person's persisted user data until the final
confirmation), so every function here takes and returns plain values. A key that is absent
means "not asked yet"; `district_code: None` means "asked, and skipped".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import Geography
from bot.services import people
from bot.services.errors import DomainError, NotRegistered
from bot.services.validation import InvalidName, InvalidPhone, normalise_name, normalise_phone
from storage.models import Agency, ParticipantType, Person, VolunteerRole

Draft = dict[str, Any]

PARTICIPANT_TYPES: tuple[ParticipantType, ...] = tuple(ParticipantType)
AGENCIES: tuple[Agency, ...] = tuple(Agency)
VOLUNTEER_ROLES: tuple[VolunteerRole, ...] = tuple(VolunteerRole)


class Step(StrEnum):
    """A question of the registration flow, named after the field it fills."""

    TYPE = "participant_type"
    AGENCY = "agency"
    NAME = "full_name"
    PHONE = "phone"
    DISTRICT = "district_code"
    ROLE = "volunteer_role"


# The order the questions are asked in; `next_step` skips those that do not apply.
STEPS: tuple[Step, ...] = (
    Step.TYPE,
    Step.AGENCY,
    Step.NAME,
    Step.PHONE,
    Step.DISTRICT,
    Step.ROLE,
)


class IncompleteDraft(DomainError):
    """The draft misses a field or holds a value that is no longer valid."""

    key = "reg.error.incomplete"


class UnknownChoice(DomainError):
    """A button carried a value that is not one of the choices (a tampered or ancient button)."""

    key = "error.stale_button"


@dataclass(frozen=True)
class Registered:
    """The outcome of a confirmation: the person and whether this call created them."""

    person: Person
    created: bool


def needs_agency(participant_type: str | None) -> bool:
    """Officials say which of the five agencies they work for."""
    return participant_type == ParticipantType.OFFICIAL


def needs_district(participant_type: str | None) -> bool:
    """Volunteers must give a district; for everyone else it is optional."""
    return participant_type == ParticipantType.VOLUNTEER


def needs_role(participant_type: str | None) -> bool:
    """Only labour volunteers have a role in the network."""
    return participant_type == ParticipantType.VOLUNTEER


def applies(step: Step, draft: Draft) -> bool:
    """Whether a step is asked at all for this draft."""
    kind = draft.get(Step.TYPE)
    if step is Step.AGENCY:
        return needs_agency(kind)
    if step is Step.ROLE:
        return needs_role(kind)
    return True


def next_step(draft: Draft) -> Step | None:
    """The first question still open, or None when the draft is ready for the summary."""
    for step in STEPS:
        if not applies(step, draft):
            continue
        if step not in draft:
            return step
        if draft[step] is None and (step is not Step.DISTRICT or needs_district(draft[Step.TYPE])):
            return step
    return None


def set_participant_type(draft: Draft, value: str) -> None:
    """Choose the participant type, dropping answers that no longer apply."""
    if value not in PARTICIPANT_TYPES:
        raise UnknownChoice(value)
    draft[Step.TYPE] = value
    if not needs_agency(value):
        draft.pop(Step.AGENCY, None)
    if not needs_role(value):
        draft.pop(Step.ROLE, None)
    if needs_district(value) and draft.get(Step.DISTRICT, "") is None:
        # A skipped district must now be given.
        draft.pop(Step.DISTRICT)


def set_agency(draft: Draft, value: str) -> None:
    """Choose one of the five agencies."""
    if value not in AGENCIES or not needs_agency(draft.get(Step.TYPE)):
        raise UnknownChoice(value)
    draft[Step.AGENCY] = value


def set_role(draft: Draft, value: str) -> None:
    """Choose a volunteer role."""
    if value not in VOLUNTEER_ROLES or not needs_role(draft.get(Step.TYPE)):
        raise UnknownChoice(value)
    draft[Step.ROLE] = value


def set_name(draft: Draft, raw: str) -> str:
    """Store a cleaned name; InvalidName says what is wrong with it."""
    name = normalise_name(raw)
    draft[Step.NAME] = name
    return name


def set_phone(draft: Draft, raw: str, *, region: str = "TH") -> str:
    """Store a typed number in E.164; InvalidPhone says what is wrong with it."""
    phone = normalise_phone(raw, region=region)
    draft[Step.PHONE] = phone
    return phone


def set_shared_phone(draft: Draft, raw: str) -> str:
    """Store the number of a shared contact (Telegram often leaves out the leading "+")."""
    text = raw.strip()
    if text and not text.startswith("+"):
        text = "+" + text
    return set_phone(draft, text)


def set_district(draft: Draft, code: str | None, *, geo: Geography) -> None:
    """Choose a district by code, or skip it (None) where that is allowed."""
    if code is None:
        if needs_district(draft.get(Step.TYPE)):
            raise UnknownChoice("skip")
        draft[Step.DISTRICT] = None
        return
    if geo.district(code) is None:
        raise UnknownChoice(code)
    draft[Step.DISTRICT] = code


def record_consent(draft: Draft, *, now: datetime, version: str) -> None:
    """Note when the person agreed to which privacy notice (written with the person)."""
    draft["consent_at"] = now.isoformat()
    draft["consent_version"] = version


def has_consent(draft: Draft) -> bool:
    """Whether the person agreed to the notice in this draft."""
    return bool(draft.get("consent_at")) and bool(draft.get("consent_version"))


def draft_of(person: Person) -> Draft:
    """A draft holding a registered person's current answers (for /profile)."""
    draft: Draft = {
        Step.TYPE.value: person.participant_type,
        Step.NAME.value: person.full_name,
        Step.PHONE.value: person.phone,
        Step.DISTRICT.value: person.district_code,
    }
    if needs_agency(person.participant_type):
        draft[Step.AGENCY.value] = person.agency
    if needs_role(person.participant_type):
        draft[Step.ROLE.value] = person.volunteer_role
    return draft


@dataclass(frozen=True)
class Answers:
    """A complete, re-checked draft."""

    participant_type: str
    agency: str | None
    full_name: str
    phone: str
    district_code: str | None
    volunteer_role: str | None


def check_draft(draft: Draft, *, geo: Geography) -> Answers:
    """Re-check every answer (the draft came back from storage); IncompleteDraft if not ready."""
    if next_step(draft) is not None:
        raise IncompleteDraft(str(next_step(draft)))
    kind = str(draft[Step.TYPE])
    try:
        name = normalise_name(str(draft[Step.NAME]))
        phone = normalise_phone(str(draft[Step.PHONE]))
    except (InvalidName, InvalidPhone) as error:
        raise IncompleteDraft(str(error)) from error
    district = draft.get(Step.DISTRICT)
    if kind not in PARTICIPANT_TYPES or (district is not None and geo.district(district) is None):
        raise IncompleteDraft("bad choice")
    agency = draft.get(Step.AGENCY) if needs_agency(kind) else None
    role = draft.get(Step.ROLE) if needs_role(kind) else None
    if (agency is not None and agency not in AGENCIES) or (
        role is not None and role not in VOLUNTEER_ROLES
    ):
        raise IncompleteDraft("bad choice")
    return Answers(kind, agency, name, phone, district, role)


def _apply(person: Person, answers: Answers) -> None:
    """Copy the answers onto a person row."""
    person.participant_type = answers.participant_type
    person.agency = answers.agency
    person.full_name = answers.full_name
    person.phone = answers.phone
    person.district_code = answers.district_code
    person.volunteer_role = answers.volunteer_role


async def register_person(
    *,
    session: AsyncSession,
    telegram_id: int,
    telegram_username: str | None,
    language: str,
    draft: Draft,
    geo: Geography,
    now: datetime,
) -> Registered:
    """Create the person from a confirmed draft; a second confirmation returns the first."""
    existing = await people.by_telegram_id(session=session, telegram_id=telegram_id)
    if existing is not None:
        return Registered(existing, created=False)
    if not has_consent(draft):
        raise IncompleteDraft("no consent")
    answers = check_draft(draft, geo=geo)
    person = Person(
        telegram_id=telegram_id,
        telegram_username=telegram_username,
        language=language,
        consent_at=datetime.fromisoformat(str(draft["consent_at"])),
        consent_version=str(draft["consent_version"]),
        registered_at=now,
        last_active_at=now,
    )
    _apply(person, answers)
    session.add(person)
    try:
        await session.commit()
    except IntegrityError:
        # A double tap raced us to the unique telegram_id: the other update created the person.
        await session.rollback()
        existing = await people.by_telegram_id(session=session, telegram_id=telegram_id)
        if existing is None:
            raise
        return Registered(existing, created=False)
    await session.refresh(person)
    return Registered(person, created=True)


async def update_profile(
    *, session: AsyncSession, telegram_id: int, draft: Draft, geo: Geography, now: datetime
) -> Person:
    """Save a registered person's edited answers."""
    person = await people.by_telegram_id(session=session, telegram_id=telegram_id)
    if person is None:
        raise NotRegistered()
    _apply(person, check_draft(draft, geo=geo))
    person.last_active_at = now
    session.add(person)
    await session.commit()
    await session.refresh(person)
    return person
