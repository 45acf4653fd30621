"""The registration draft: which question comes next, checks, and the idempotent confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from sqlmodel import func, select

from bot.data.districts import Geography, load_geography, search_districts
from bot.i18n import LANGUAGES, translator
from bot.services import people
from bot.services import registration as reg
from bot.services.validation import InvalidName, InvalidPhone, NameProblem, PhoneProblem
from storage.database import SessionFactory, create_engine, session_factory
from storage.models import Agency, ParticipantType, Person, RegistrationStatus, VolunteerRole

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


def volunteer_draft(geo: Geography) -> reg.Draft:
    draft: reg.Draft = {}
    reg.record_consent(draft, now=NOW, version="2026-11")
    reg.set_participant_type(draft, ParticipantType.VOLUNTEER)
    reg.set_name(draft, "  สมชาย   ใจดี ")
    reg.set_phone(draft, "081 234 5678")
    reg.set_district(draft, KHLONG_TOEI, geo=geo)
    reg.set_role(draft, VolunteerRole.ZONE_CHAIR)
    return draft


def test_a_volunteer_is_asked_everything_but_the_agency(geo: Geography) -> None:
    draft: reg.Draft = {}
    assert reg.next_step(draft) is reg.Step.TYPE
    reg.set_participant_type(draft, ParticipantType.VOLUNTEER)
    assert reg.next_step(draft) is reg.Step.NAME
    reg.set_name(draft, "Somchai Jaidee")
    assert reg.next_step(draft) is reg.Step.PHONE
    reg.set_phone(draft, "0812345678")
    assert reg.next_step(draft) is reg.Step.DISTRICT
    with pytest.raises(reg.UnknownChoice):
        reg.set_district(draft, None, geo=geo)  # volunteers may not skip
    reg.set_district(draft, KHLONG_TOEI, geo=geo)
    assert reg.next_step(draft) is reg.Step.ROLE
    reg.set_role(draft, VolunteerRole.VOLUNTEER)
    assert reg.next_step(draft) is None


def test_an_official_names_an_agency_and_may_skip_the_district(geo: Geography) -> None:
    draft: reg.Draft = {}
    reg.set_participant_type(draft, ParticipantType.OFFICIAL)
    assert reg.next_step(draft) is reg.Step.AGENCY
    with pytest.raises(reg.UnknownChoice):
        reg.set_agency(draft, "cia")
    reg.set_agency(draft, Agency.SOCIAL_SECURITY)
    reg.set_name(draft, "Anan")
    reg.set_phone(draft, "+66812345678")
    reg.set_district(draft, None, geo=geo)
    assert reg.next_step(draft) is None  # no role for officials
    with pytest.raises(reg.UnknownChoice):
        reg.set_role(draft, VolunteerRole.VOLUNTEER)


def test_changing_the_type_drops_answers_that_no_longer_apply(geo: Geography) -> None:
    draft: reg.Draft = {}
    reg.set_participant_type(draft, ParticipantType.OFFICIAL)
    reg.set_agency(draft, Agency.EMPLOYMENT)
    reg.set_name(draft, "Anan")
    reg.set_phone(draft, "0812345678")
    reg.set_district(draft, None, geo=geo)
    reg.set_participant_type(draft, ParticipantType.VOLUNTEER)
    assert reg.Step.AGENCY not in draft
    # The skipped district is required now, then the role.
    assert reg.next_step(draft) is reg.Step.DISTRICT
    reg.set_district(draft, KHLONG_TOEI, geo=geo)
    assert reg.next_step(draft) is reg.Step.ROLE
    reg.set_role(draft, VolunteerRole.TAXI_CHAIR)
    reg.set_participant_type(draft, ParticipantType.SPEAKER)
    assert reg.Step.ROLE not in draft
    assert draft[reg.Step.DISTRICT] == KHLONG_TOEI  # kept: optional, but given
    assert reg.next_step(draft) is None


def test_unknown_choices_are_refused(geo: Geography) -> None:
    draft: reg.Draft = {}
    with pytest.raises(reg.UnknownChoice):
        reg.set_participant_type(draft, "astronaut")
    reg.set_participant_type(draft, ParticipantType.OBSERVER)
    with pytest.raises(reg.UnknownChoice):
        reg.set_district(draft, "9999", geo=geo)
    assert reg.Step.DISTRICT not in draft


@pytest.mark.parametrize("typed", ["081 234 5678", "+66812345678", "0812345678", "081-234-5678"])
def test_the_same_number_typed_in_different_ways_is_stored_the_same(typed: str) -> None:
    draft: reg.Draft = {}
    assert reg.set_phone(draft, typed) == "+66812345678"
    assert draft[reg.Step.PHONE] == "+66812345678"


@pytest.mark.parametrize("shared", ["66812345678", "+66812345678", " 66812345678 "])
def test_a_shared_contact_number_is_normalised(shared: str) -> None:
    assert reg.set_shared_phone({}, shared) == "+66812345678"


@pytest.mark.parametrize("typed", ["12", "hello", "'; DROP TABLE person; --", "0" * 60])
def test_bad_phone_numbers_are_refused_and_not_stored(typed: str) -> None:
    draft: reg.Draft = {}
    with pytest.raises(InvalidPhone):
        reg.set_phone(draft, typed)
    assert reg.Step.PHONE not in draft


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
    draft: reg.Draft = {}
    with pytest.raises(InvalidName) as problem:
        reg.set_name(draft, typed)
    assert problem.value.reason == reason
    assert reg.Step.NAME not in draft


@pytest.mark.parametrize(
    ("query", "code"), [("คลองเตย", KHLONG_TOEI), ("khlong toei", KHLONG_TOEI)]
)
def test_district_search_finds_thai_and_english_names(
    geo: Geography, query: str, code: str
) -> None:
    assert search_districts(geo, query)[0].code == code
    assert code in {d.code for d in search_districts(geo, "khlong")}


def test_every_choice_has_a_label_in_both_languages() -> None:
    keys = [f"reg.type.{value}" for value in reg.PARTICIPANT_TYPES]
    keys += [f"reg.agency.{value}" for value in reg.AGENCIES]
    keys += [f"reg.role.{value}" for value in reg.VOLUNTEER_ROLES]
    keys += [f"reg.edit.{step.value}" for step in reg.STEPS]
    # Every reason validation can give has its own explanation.
    keys += [f"reg.name.{reason}" for reason in get_args(NameProblem)]
    keys += [f"reg.phone.{reason}" for reason in get_args(PhoneProblem)]
    keys += [f"mydata.rsvp.{status}" for status in RegistrationStatus]
    for lang in LANGUAGES:
        missing = [key for key in keys if not translator(lang).has(key)]
        assert missing == [], lang


def test_an_incomplete_or_tampered_draft_is_refused(geo: Geography) -> None:
    draft = volunteer_draft(geo)
    draft[reg.Step.NAME] = "<script>"
    with pytest.raises(reg.IncompleteDraft):
        reg.check_draft(draft, geo=geo)
    del draft[reg.Step.NAME]
    with pytest.raises(reg.IncompleteDraft):
        reg.check_draft(draft, geo=geo)


async def count_people(sessions: SessionFactory) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(Person))).one()


async def confirm(
    sessions: SessionFactory, geo: Geography, telegram_id: int, draft: reg.Draft
) -> reg.Registered:
    """Confirm a draft in a session of its own, as one update would."""
    async with sessions() as session:
        return await reg.register_person(
            session=session,
            telegram_id=telegram_id,
            telegram_username="somchai",
            language="th",
            draft=draft,
            geo=geo,
            now=NOW,
        )


async def test_confirming_twice_creates_one_person(
    sessions: SessionFactory, geo: Geography
) -> None:
    draft = volunteer_draft(geo)
    first = await confirm(sessions, geo, 42, draft)
    second = await confirm(sessions, geo, 42, draft)
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
    winner = await confirm(sessions, geo, 7, volunteer_draft(geo))
    real = people.by_telegram_id
    calls: list[int] = []

    async def blind_first_time(**kwargs: Any) -> Person | None:
        # The racing update looked before the winner committed, so it saw nobody.
        calls.append(1)
        return None if len(calls) == 1 else await real(**kwargs)

    monkeypatch.setattr(people, "by_telegram_id", blind_first_time)
    loser = await confirm(sessions, geo, 7, volunteer_draft(geo))
    assert not loser.created
    assert loser.person.id == winner.person.id
    assert await count_people(sessions) == 1


async def test_no_person_without_consent(sessions: SessionFactory, geo: Geography) -> None:
    draft = volunteer_draft(geo)
    del draft["consent_at"]
    with pytest.raises(reg.IncompleteDraft):
        await confirm(sessions, geo, 9, draft)
    assert await count_people(sessions) == 0


async def test_a_profile_edit_saves_the_new_answers(
    sessions: SessionFactory, geo: Geography
) -> None:
    created = await confirm(sessions, geo, 5, volunteer_draft(geo))
    draft = reg.draft_of(created.person)
    assert reg.next_step(draft) is None
    reg.set_participant_type(draft, ParticipantType.OFFICIAL)
    assert reg.next_step(draft) is reg.Step.AGENCY
    reg.set_agency(draft, Agency.SKILL_DEVELOPMENT)
    reg.set_name(draft, "Somchai Jaidee")
    async with sessions() as session:
        saved = await reg.update_profile(
            session=session, telegram_id=5, draft=draft, geo=geo, now=NOW
        )
    assert saved.participant_type == ParticipantType.OFFICIAL
    assert saved.agency == Agency.SKILL_DEVELOPMENT
    assert saved.volunteer_role is None
    assert saved.full_name == "Somchai Jaidee"
    assert saved.consent_version == "2026-11"
