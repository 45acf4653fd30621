"""A person's fields: which question comes next, checks, and the idempotent confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter
from sqlmodel import func, select

from bot.data.districts import Geography, load_geography, search_districts
from bot.i18n import LANGUAGES, translator
from bot.services import people
from bot.services import registration as reg
from bot.services.checkins import CheckInResult, WrongCode
from bot.services.registration import (
    REGISTRATION_ORDER,
    WALKIN_ORDER,
    Field,
    PersonDraft,
    PersonFields,
)
from bot.services.validation import InvalidName, InvalidPhone, NameProblem, PhoneProblem
from bot.usecases import checkin as usecase_checkin
from bot.usecases import registration as registering
from bot.usecases.checkin import Arrival
from storage.database import Database, SessionFactory, create_engine, session_factory
from storage.models import (
    Agency,
    CheckIn,
    ParticipantType,
    Person,
    RegistrationStatus,
    VolunteerRole,
)
from tests.factories import make_event

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
KHLONG_TOEI = "1033"


@pytest.fixture(scope="module")
def geo() -> Geography:
    return load_geography()


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


def volunteer_draft(geo: Geography) -> PersonDraft:
    draft = PersonDraft()
    reg.choose_type(draft, ParticipantType.VOLUNTEER)
    reg.set_name(draft, "  สมชาย   ใจดี ")
    reg.set_phone(draft, "081 234 5678")
    reg.choose_district(draft, KHLONG_TOEI, geo=geo)
    reg.choose_role(draft, VolunteerRole.ZONE_CHAIR)
    return draft


def test_a_volunteer_is_asked_everything_but_the_agency(geo: Geography) -> None:
    draft = PersonDraft()
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.TYPE
    reg.choose_type(draft, ParticipantType.VOLUNTEER)
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.NAME
    reg.set_name(draft, "Somchai Jaidee")
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.PHONE
    reg.set_phone(draft, "0812345678")
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.DISTRICT
    with pytest.raises(reg.UnknownChoice):
        reg.skip(draft, Field.DISTRICT, phone_optional=False)  # volunteers may not skip
    reg.choose_district(draft, KHLONG_TOEI, geo=geo)
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.ROLE
    reg.choose_role(draft, VolunteerRole.VOLUNTEER)
    assert reg.next_field(draft, REGISTRATION_ORDER) is None


def test_staff_at_the_door_ask_the_name_first_and_may_leave_the_phone_out(
    geo: Geography,
) -> None:
    draft = PersonDraft()
    assert reg.next_field(draft, WALKIN_ORDER, phone_optional=True) is Field.NAME
    reg.set_name(draft, "มานี มีตา")
    assert reg.next_field(draft, WALKIN_ORDER, phone_optional=True) is Field.TYPE
    reg.choose_type(draft, ParticipantType.OBSERVER)
    assert reg.next_field(draft, WALKIN_ORDER, phone_optional=True) is Field.DISTRICT
    reg.skip(draft, Field.DISTRICT, phone_optional=True)
    assert reg.next_field(draft, WALKIN_ORDER, phone_optional=True) is Field.PHONE
    with pytest.raises(reg.UnknownChoice):
        reg.skip(draft, Field.PHONE, phone_optional=False)
    reg.skip(draft, Field.PHONE, phone_optional=True)
    assert reg.next_field(draft, WALKIN_ORDER, phone_optional=True) is None
    fields = reg.complete(draft, order=WALKIN_ORDER, geo=geo, phone_optional=True)
    assert (fields.phone, fields.district_code) == (None, None)
    # The same draft is not a registration: a registering person gives a phone.
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.PHONE
    with pytest.raises(reg.InvalidFields) as missing:
        reg.complete(draft, order=REGISTRATION_ORDER, geo=geo)
    assert missing.value.values["field"] == "phone"


def test_an_official_names_an_agency_and_may_skip_the_district(geo: Geography) -> None:
    draft = PersonDraft()
    reg.choose_type(draft, ParticipantType.OFFICIAL)
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.AGENCY
    with pytest.raises(reg.UnknownChoice):
        reg.choose_agency(draft, "cia")
    reg.choose_agency(draft, Agency.SOCIAL_SECURITY)
    reg.set_name(draft, "Anan")
    reg.set_phone(draft, "+66812345678")
    reg.skip(draft, Field.DISTRICT, phone_optional=False)
    assert reg.next_field(draft, REGISTRATION_ORDER) is None  # no role for officials
    with pytest.raises(reg.UnknownChoice):
        reg.choose_role(draft, VolunteerRole.VOLUNTEER)


def test_changing_the_type_drops_answers_that_no_longer_apply(geo: Geography) -> None:
    draft = PersonDraft()
    reg.choose_type(draft, ParticipantType.OFFICIAL)
    reg.choose_agency(draft, Agency.EMPLOYMENT)
    reg.set_name(draft, "Anan")
    reg.set_phone(draft, "0812345678")
    reg.skip(draft, Field.DISTRICT, phone_optional=False)
    reg.choose_type(draft, ParticipantType.VOLUNTEER)
    assert draft.agency is None
    # The skipped district is required now, then the role.
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.DISTRICT
    reg.choose_district(draft, KHLONG_TOEI, geo=geo)
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.ROLE
    reg.choose_role(draft, VolunteerRole.TAXI_CHAIR)
    reg.choose_type(draft, ParticipantType.SPEAKER)
    assert draft.volunteer_role is None
    assert draft.district_code == KHLONG_TOEI  # kept: optional, but given
    assert reg.next_field(draft, REGISTRATION_ORDER) is None


def test_unknown_choices_are_refused(geo: Geography) -> None:
    draft = PersonDraft()
    with pytest.raises(reg.UnknownChoice):
        reg.choose_type(draft, "astronaut")
    reg.choose_type(draft, ParticipantType.OBSERVER)
    with pytest.raises(reg.UnknownChoice):
        reg.choose_district(draft, "9999", geo=geo)
    assert draft.district_code is None
    assert not reg.answered(Field.DISTRICT, draft)


@pytest.mark.parametrize("typed", ["081 234 5678", "+66812345678", "0812345678", "081-234-5678"])
def test_the_same_number_typed_in_different_ways_is_stored_the_same(typed: str) -> None:
    draft = PersonDraft()
    assert reg.set_phone(draft, typed) == "+66812345678"
    assert (draft.phone, draft.phone_shared) == ("+66812345678", False)


@pytest.mark.parametrize("shared", ["66812345678", "+66812345678", " 66812345678 "])
def test_a_shared_contact_number_is_normalised_and_marked_shared(shared: str) -> None:
    draft = PersonDraft()
    assert reg.set_shared_phone(draft, shared) == "+66812345678"
    assert draft.phone_shared
    reg.set_phone(draft, "0812345678")  # typed over it: no longer proof
    assert not draft.phone_shared


@pytest.mark.parametrize("typed", ["12", "hello", "'; DROP TABLE person; --", "0" * 60])
def test_bad_phone_numbers_are_refused_and_not_stored(typed: str) -> None:
    draft = PersonDraft()
    with pytest.raises(InvalidPhone):
        reg.set_phone(draft, typed)
    assert draft.phone is None


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("ก", "too_short"),
        ("x" * 101, "too_long"),
        ("Robert'); DROP", "bad_characters"),
        ("", "empty"),
    ],
)
def test_bad_names_are_refused_with_a_reason(typed: str, reason: str) -> None:
    draft = PersonDraft()
    with pytest.raises(InvalidName) as problem:
        reg.set_name(draft, typed)
    assert problem.value.reason == reason
    assert draft.full_name is None


@pytest.mark.parametrize(
    ("typed", "exact"),
    [
        ("คลองเตย", KHLONG_TOEI),
        ("เขตคลองเตย", KHLONG_TOEI),
        ("  Khlong   TOEI ", KHLONG_TOEI),
        ("1033", KHLONG_TOEI),
        ("คลอง", None),
        ("khlong", None),
    ],
)
def test_an_exact_district_name_is_recognised(
    geo: Geography, typed: str, exact: str | None
) -> None:
    found, matches = reg.find_district(geo, typed)
    assert (found.code if found else None) == exact
    assert matches


@pytest.mark.parametrize("district", ["คลองเตย", "Bang Kapi", "วัฒนา", "Phra Nakhon"])
def test_every_exact_name_is_taken_at_once(geo: Geography, district: str) -> None:
    found, _ = reg.find_district(geo, district)
    assert found is not None
    assert district in (found.name_th, found.name_en)


def test_district_search_finds_thai_and_english_names(geo: Geography) -> None:
    assert search_districts(geo, "khlong toei")[0].code == KHLONG_TOEI
    assert KHLONG_TOEI in {d.code for d in search_districts(geo, "khlong")}


def test_every_question_hint_and_summary_word_exists_in_both_languages() -> None:
    keys = [f"{voice}.ask.{field.value}" for voice in ("reg", "walkin") for field in Field]
    keys += [f"person.edit.{field.value}" for field in Field]
    keys += ["person.skip.district_code", "person.skip.phone"]
    # Every reason validation can give has its own explanation.
    keys += [f"person.name.{reason}" for reason in get_args(NameProblem)]
    keys += [f"person.phone.{reason}" for reason in get_args(PhoneProblem)]
    keys += [f"mydata.rsvp.{status}" for status in RegistrationStatus]
    for lang in LANGUAGES:
        missing = [key for key in keys if not translator(lang).has(key)]
        assert missing == [], lang


def test_a_draft_survives_its_json_round_trip(geo: Geography) -> None:
    draft = volunteer_draft(geo)
    reg.skip(draft, Field.PHONE, phone_optional=True)
    adapter = TypeAdapter(PersonDraft)
    assert adapter.validate_python(adapter.dump_python(draft, mode="json")) == draft


def test_an_incomplete_or_tampered_draft_is_refused_naming_the_field(geo: Geography) -> None:
    draft = volunteer_draft(geo)
    draft.full_name = "<script>"
    with pytest.raises(reg.InvalidFields) as refused:
        reg.complete(draft, order=REGISTRATION_ORDER, geo=geo)
    assert refused.value.values["field"] == "full_name"
    draft = volunteer_draft(geo)
    draft.district_code = "9999"
    with pytest.raises(reg.InvalidFields) as refused:
        reg.complete(draft, order=REGISTRATION_ORDER, geo=geo)
    assert refused.value.values["field"] == "district_code"
    draft = volunteer_draft(geo)
    draft.volunteer_role = None
    with pytest.raises(reg.InvalidFields) as refused:
        reg.complete(draft, order=REGISTRATION_ORDER, geo=geo)
    assert refused.value.values["field"] == "volunteer_role"


def test_clean_drops_fields_a_type_does_not_have(geo: Geography) -> None:
    fields = reg.clean(
        PersonFields(
            participant_type="speaker",
            full_name=" ดร.มาลี ",
            agency="sso",
            volunteer_role="zone_chair",
            phone="081 234 5678",
        ),
        geo=geo,
        phone_required=True,
    )
    assert (fields.full_name, fields.agency, fields.volunteer_role, fields.phone) == (
        "ดร.มาลี",
        None,
        None,
        "+66812345678",
    )


async def count_people(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(Person))).one()


async def confirm(sessions: SessionFactory, telegram_id: int, fields: PersonFields) -> Any:
    """Confirm in a transaction of its own, as one update would."""

    async def work(session: Any) -> reg.Registered:
        return await reg.register_person(
            session=session,
            telegram_id=telegram_id,
            telegram_username="somchai",
            language="th",
            fields=fields,
            consent_at=NOW,
            consent_version="2026-11",
            now=NOW,
        )

    return await Database(sessions).run(work)


async def test_confirming_twice_creates_one_person(
    sessions: SessionFactory, geo: Geography
) -> None:
    fields = reg.complete(volunteer_draft(geo), order=REGISTRATION_ORDER, geo=geo)
    first = await confirm(sessions, 42, fields)
    second = await confirm(sessions, 42, fields)
    assert first.created
    assert not second.created
    assert first.person.id == second.person.id
    assert await count_people(sessions) == 1
    person = first.person
    assert (person.full_name, person.phone, person.district_code) == (
        "สมชาย ใจดี",
        "+66812345678",
        KHLONG_TOEI,
    )
    assert person.volunteer_role == VolunteerRole.ZONE_CHAIR
    assert person.consent_version == "2026-11"
    assert person.consent_at == NOW
    assert person.registered_at == NOW


async def test_a_lost_race_on_the_unique_telegram_id_returns_the_winner(
    sessions: SessionFactory, geo: Geography, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = reg.complete(volunteer_draft(geo), order=REGISTRATION_ORDER, geo=geo)
    winner = await confirm(sessions, 7, fields)
    real = people.by_telegram_id
    calls: list[int] = []

    async def blind_first_time(**kwargs: Any) -> Person | None:
        # The racing update looked before the winner committed, so it saw nobody.
        calls.append(1)
        return None if len(calls) == 1 else await real(**kwargs)

    monkeypatch.setattr(people, "by_telegram_id", blind_first_time)
    loser = await confirm(sessions, 7, fields)
    assert not loser.created
    assert loser.person.id == winner.person.id
    assert await count_people(sessions) == 1


async def test_a_profile_edit_saves_the_new_answers(
    sessions: SessionFactory, geo: Geography
) -> None:
    created = await confirm(
        sessions, 5, reg.complete(volunteer_draft(geo), order=REGISTRATION_ORDER, geo=geo)
    )
    draft = reg.draft_of(created.person)
    assert reg.next_field(draft, REGISTRATION_ORDER) is None
    reg.choose_type(draft, ParticipantType.OFFICIAL)
    assert reg.next_field(draft, REGISTRATION_ORDER) is Field.AGENCY
    reg.choose_agency(draft, Agency.SKILL_DEVELOPMENT)
    reg.set_name(draft, "Somchai Jaidee")
    fields = reg.complete(draft, order=REGISTRATION_ORDER, geo=geo)
    async with sessions() as session:
        saved = await reg.update_profile(
            session=session, person_id=created.person.id, fields=fields, now=NOW
        )
        await session.commit()
    assert saved.participant_type == ParticipantType.OFFICIAL
    assert saved.agency == Agency.SKILL_DEVELOPMENT
    assert saved.volunteer_role is None
    assert saved.full_name == "Somchai Jaidee"
    assert saved.consent_version == "2026-11"


# ---------------------------------------------------------------------------------------------
# A newcomer's check-in is part of their registration's transaction


async def test_a_newcomer_is_registered_and_checked_in_in_one_transaction(
    sessions: SessionFactory, geo: Geography, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registered and checked in, or neither: a replica that died between two transactions
    left a person registered, the update marked as applied, and the check-in never made."""
    async with sessions() as session:
        event = await make_event(session, now=NOW)
    db = Database(sessions)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the process dies here")

    # The last step after the check-in's INSERT, inside the same transaction.
    monkeypatch.setattr(usecase_checkin.live, "checked_in", broken)
    with pytest.raises(RuntimeError):
        await registering.register(db, **newcomer(geo, 501), arrival=Arrival(token=event.token))
    async with sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Person))).one() == 0
        assert (await session.exec(select(func.count()).select_from(CheckIn))).one() == 0
    monkeypatch.undo()

    done = await registering.register(db, **newcomer(geo, 501), arrival=Arrival(token=event.token))
    assert isinstance(done.arrival, CheckInResult)
    async with sessions() as session:
        [row] = (await session.exec(select(CheckIn))).all()
    assert (row.person_id, row.event_id) == (done.person_id, event.id)


async def test_a_refused_arrival_still_registers(sessions: SessionFactory, geo: Geography) -> None:
    db = Database(sessions)
    done = await registering.register(db, **newcomer(geo, 502), arrival=Arrival(code="ZZZZZZ"))
    assert isinstance(done.arrival, WrongCode)
    assert done.person_id
    nothing = await registering.register(db, **newcomer(geo, 503), arrival=Arrival())
    assert nothing.arrival is None


def newcomer(geo: Geography, telegram_id: int) -> dict[str, Any]:
    """The arguments of a confirmed registration, with consent."""
    return {
        "telegram_id": telegram_id,
        "telegram_username": None,
        "language": "th",
        "draft": volunteer_draft(geo),
        "consent_at": NOW,
        "consent_version": "2026-11",
        "geo": geo,
        "now": NOW,
    }
