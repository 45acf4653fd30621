"""Who a person is: the fields registration, /profile and /walkin ask for, and their rules.

`PersonDraft` is what a flow fills in one answer at a time (it lives in the flow's chat_state
row until confirmed). Which participant types give an agency, a district or a volunteer role,
what may be skipped and what a complete record is, are decided here and nowhere else; the
flows only ask. Writing a registered person (`register_person`) and saving /profile changes
(`update_profile`) never commit: the use case around them does.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.data.districts import District, Geography, search_districts
from bot.services import people
from bot.services.errors import DomainError, NotRegistered
from bot.services.validation import InvalidName, InvalidPhone, normalise_name, normalise_phone
from storage.models import Agency, ParticipantType, Person, VolunteerRole

PARTICIPANT_TYPES: tuple[ParticipantType, ...] = tuple(ParticipantType)
AGENCIES: tuple[Agency, ...] = tuple(Agency)
VOLUNTEER_ROLES: tuple[VolunteerRole, ...] = tuple(VolunteerRole)
# How many districts a typed search offers as buttons.
DISTRICT_MATCHES = 8


class Field(StrEnum):
    """One thing asked about a person, named after the column it fills."""

    TYPE = "participant_type"
    AGENCY = "agency"
    NAME = "full_name"
    PHONE = "phone"
    DISTRICT = "district_code"
    ROLE = "volunteer_role"


# A person registering themselves says who they are first; staff at the door start with the name.
REGISTRATION_ORDER: tuple[Field, ...] = (
    Field.TYPE,
    Field.AGENCY,
    Field.NAME,
    Field.PHONE,
    Field.DISTRICT,
    Field.ROLE,
)
WALKIN_ORDER: tuple[Field, ...] = (
    Field.NAME,
    Field.TYPE,
    Field.AGENCY,
    Field.DISTRICT,
    Field.ROLE,
    Field.PHONE,
)


class UnknownChoice(DomainError):
    """A button carried a value that is not one of the choices (tampered or ancient)."""

    key = "error.stale_button"


class InvalidFields(DomainError):
    """A draft misses a field or holds a value that is no longer valid; `field` says which."""

    key = "person.invalid"


@dataclass
class PersonDraft:
    """A person's answers so far; None means "not answered" unless the field is in `skipped`."""

    participant_type: str | None = None
    agency: str | None = None
    full_name: str | None = None
    phone: str | None = None
    # The number came from Telegram's contact button (the person's own), not typed.
    phone_shared: bool = False
    district_code: str | None = None
    volunteer_role: str | None = None
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PersonFields:
    """A complete, checked set of answers."""

    participant_type: str
    full_name: str
    phone: str | None = None
    agency: str | None = None
    district_code: str | None = None
    volunteer_role: str | None = None
    phone_shared: bool = False


@dataclass(frozen=True)
class Registered:
    """The outcome of a confirmation: the person and whether this call created them."""

    person: Person
    created: bool


# ---------------------------------------------------------------------------------------------
# Which fields apply


def needs_agency(participant_type: str | None) -> bool:
    """Officials say which of the ministry's five agencies they work for."""
    return participant_type == ParticipantType.OFFICIAL


def needs_district(participant_type: str | None) -> bool:
    """Volunteers must give a district; for everyone else it is optional."""
    return participant_type == ParticipantType.VOLUNTEER


def needs_role(participant_type: str | None) -> bool:
    """Only labour volunteers have a role in the network."""
    return participant_type == ParticipantType.VOLUNTEER


def applies(which: Field, draft: PersonDraft) -> bool:
    """Whether a field is asked at all for this draft."""
    if which is Field.AGENCY:
        return needs_agency(draft.participant_type)
    if which is Field.ROLE:
        return needs_role(draft.participant_type)
    return True


def may_skip(which: Field, draft: PersonDraft, *, phone_optional: bool) -> bool:
    """Whether "none" is an answer: a non-volunteer's district, a walk-in's phone."""
    if which is Field.DISTRICT:
        return not needs_district(draft.participant_type)
    if which is Field.PHONE:
        return phone_optional
    return False


def answered(which: Field, draft: PersonDraft) -> bool:
    """Whether the field has a value or was skipped."""
    return getattr(draft, which.value) is not None or which.value in draft.skipped


def next_field(
    draft: PersonDraft, order: tuple[Field, ...], *, phone_optional: bool = False
) -> Field | None:
    """The first question still open, or None when the draft is ready for the summary."""
    for which in order:
        if not applies(which, draft):
            continue
        if not answered(which, draft):
            return which
        if which.value in draft.skipped and not may_skip(
            which, draft, phone_optional=phone_optional
        ):
            return which
    return None


# ---------------------------------------------------------------------------------------------
# Answers


def _clear_skip(draft: PersonDraft, which: Field) -> None:
    if which.value in draft.skipped:
        draft.skipped.remove(which.value)


def choose_type(draft: PersonDraft, value: str) -> None:
    """The participant type; answers that no longer apply are dropped."""
    if value not in PARTICIPANT_TYPES:
        raise UnknownChoice(value)
    draft.participant_type = value
    if not needs_agency(value):
        draft.agency = None
    if not needs_role(value):
        draft.volunteer_role = None
    if needs_district(value) and Field.DISTRICT.value in draft.skipped:
        # A skipped district must now be given.
        _clear_skip(draft, Field.DISTRICT)


def choose_agency(draft: PersonDraft, value: str) -> None:
    """One of the five agencies (officials only)."""
    if value not in AGENCIES or not needs_agency(draft.participant_type):
        raise UnknownChoice(value)
    draft.agency = value


def choose_role(draft: PersonDraft, value: str) -> None:
    """A volunteer role (volunteers only)."""
    if value not in VOLUNTEER_ROLES or not needs_role(draft.participant_type):
        raise UnknownChoice(value)
    draft.volunteer_role = value


def set_name(draft: PersonDraft, raw: str) -> str:
    """A cleaned name; InvalidName says what is wrong with it."""
    draft.full_name = normalise_name(raw)
    return draft.full_name


def set_phone(draft: PersonDraft, raw: str) -> str:
    """A typed number, stored in E.164; InvalidPhone says what is wrong with it."""
    phone = normalise_phone(raw)
    draft.phone, draft.phone_shared = phone, False
    _clear_skip(draft, Field.PHONE)
    return phone


def set_shared_phone(draft: PersonDraft, raw: str) -> str:
    """The number of the person's own shared contact (Telegram often leaves out the "+")."""
    text = raw.strip()
    if text and not text.startswith("+"):
        text = "+" + text
    phone = set_phone(draft, text)
    draft.phone_shared = True
    return phone


def choose_district(draft: PersonDraft, code: str, *, geo: Geography) -> District:
    """A district by its code."""
    district = geo.district(code)
    if district is None:
        raise UnknownChoice(code)
    draft.district_code = code
    _clear_skip(draft, Field.DISTRICT)
    return district


def skip(draft: PersonDraft, which: Field, *, phone_optional: bool) -> None:
    """Answer "none" where that is allowed."""
    if not may_skip(which, draft, phone_optional=phone_optional):
        raise UnknownChoice(f"skip {which.value}")
    setattr(draft, which.value, None)
    if which is Field.PHONE:
        draft.phone_shared = False
    if which.value not in draft.skipped:
        draft.skipped.append(which.value)


def unanswer(draft: PersonDraft, which: Field) -> None:
    """Forget one answer, so that it is asked again."""
    setattr(draft, which.value, None)
    if which is Field.PHONE:
        draft.phone_shared = False
    _clear_skip(draft, which)


def _compact(text: str) -> str:
    """A name without case, spaces or the "เขต" prefix, for telling an exact match."""
    plain = "".join(unicodedata.normalize("NFC", text).casefold().split())
    return plain.removeprefix("เขต")


def find_district(geo: Geography, text: str) -> tuple[District | None, list[District]]:
    """(the district meant, if the text names one exactly or matches only one; the matches)."""
    found = search_districts(geo, text, limit=DISTRICT_MATCHES)
    if len(found) == 1:
        return found[0], found
    typed = _compact(text)
    exact = [d for d in found if typed in (_compact(d.name_th), _compact(d.name_en))]
    return (exact[0] if len(exact) == 1 else None), found


def draft_of(person: Person) -> PersonDraft:
    """A draft holding a person's current answers (for /profile)."""
    draft = PersonDraft(
        participant_type=person.participant_type,
        agency=person.agency if needs_agency(person.participant_type) else None,
        full_name=person.full_name,
        phone=person.phone,
        district_code=person.district_code,
        volunteer_role=person.volunteer_role if needs_role(person.participant_type) else None,
    )
    if person.district_code is None:
        draft.skipped.append(Field.DISTRICT.value)
    return draft


# ---------------------------------------------------------------------------------------------
# Complete records


def clean(fields: PersonFields, *, geo: Geography, phone_required: bool) -> PersonFields:
    """Every answer re-checked (a draft comes back from storage); InvalidFields names the
    first one that is missing or wrong."""
    try:
        name = normalise_name(fields.full_name)
    except InvalidName:
        raise InvalidFields(field=Field.NAME.value) from None
    kind = fields.participant_type
    if kind not in PARTICIPANT_TYPES:
        raise InvalidFields(field=Field.TYPE.value)
    agency = fields.agency if needs_agency(kind) else None
    if needs_agency(kind) and agency not in AGENCIES:
        raise InvalidFields(field=Field.AGENCY.value)
    district = fields.district_code
    if (district is not None and geo.district(district) is None) or (
        district is None and needs_district(kind)
    ):
        raise InvalidFields(field=Field.DISTRICT.value)
    role = fields.volunteer_role if needs_role(kind) else None
    if needs_role(kind) and role not in VOLUNTEER_ROLES:
        raise InvalidFields(field=Field.ROLE.value)
    phone = None
    if fields.phone:
        try:
            phone = normalise_phone(fields.phone)
        except InvalidPhone:
            raise InvalidFields(field=Field.PHONE.value) from None
    elif phone_required:
        raise InvalidFields(field=Field.PHONE.value)
    return PersonFields(
        participant_type=kind,
        full_name=name,
        phone=phone,
        agency=agency,
        district_code=district,
        volunteer_role=role,
        phone_shared=fields.phone_shared and phone is not None,
    )


def complete(
    draft: PersonDraft, *, order: tuple[Field, ...], geo: Geography, phone_optional: bool = False
) -> PersonFields:
    """The draft as a checked record, or InvalidFields naming what is still open or wrong."""
    missing = next_field(draft, order, phone_optional=phone_optional)
    if missing is not None:
        raise InvalidFields(field=missing.value)
    return clean(
        PersonFields(
            participant_type=draft.participant_type or "",
            full_name=draft.full_name or "",
            phone=draft.phone,
            agency=draft.agency,
            district_code=draft.district_code,
            volunteer_role=draft.volunteer_role,
            phone_shared=draft.phone_shared,
        ),
        geo=geo,
        phone_required=not phone_optional,
    )


def apply(person: Person, fields: PersonFields) -> None:
    """Copy checked answers onto a person row."""
    person.participant_type = fields.participant_type
    person.agency = fields.agency
    person.full_name = fields.full_name
    person.phone = fields.phone
    person.district_code = fields.district_code
    person.volunteer_role = fields.volunteer_role


async def register_person(
    *,
    session: AsyncSession,
    telegram_id: int,
    telegram_username: str | None,
    language: str,
    fields: PersonFields,
    consent_at: datetime,
    consent_version: str,
    now: datetime,
) -> Registered:
    """Create the person; a second confirmation (or a racing one) returns the first."""
    existing = await people.by_telegram_id(session=session, telegram_id=telegram_id)
    if existing is not None:
        return Registered(existing, created=False)
    person = Person(
        telegram_id=telegram_id,
        telegram_username=telegram_username,
        language=language,
        consent_at=consent_at,
        consent_version=consent_version,
        registered_at=now,
        last_active_at=now,
    )
    apply(person, fields)
    try:
        async with session.begin_nested():
            session.add(person)
            await session.flush()
    except IntegrityError:
        # Another process confirmed the same registration first (the unique telegram_id).
        existing = await people.by_telegram_id(session=session, telegram_id=telegram_id)
        if existing is None:
            raise
        return Registered(existing, created=False)
    return Registered(person, created=True)


async def update_profile(
    *, session: AsyncSession, person_id: int, fields: PersonFields, now: datetime
) -> Person:
    """Save a registered person's edited answers."""
    person = await session.get(Person, person_id)
    if person is None or person.erased_at is not None:
        raise NotRegistered()
    apply(person, fields)
    person.last_active_at = now
    session.add(person)
    return person
