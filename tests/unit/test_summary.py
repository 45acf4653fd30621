"""The press-release paragraph, word for word in both languages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import translator
from bot.services import headcount as hc
from bot.services.access import Access
from bot.services.summary import in_sentence, join_list, summary_text
from storage.database import SessionFactory
from storage.models import Role
from tests import seed_seminar as seed

BANGKOK = ZoneInfo("Asia/Bangkok")
ZONE_NAMES_TH = {3: "โซน 3", 4: "โซน 4"}
ZONE_NAMES_EN = {3: "Zone 3", 4: "Zone 4"}

THAI = seed.EXPECTED_SUMMARY_TH
ENGLISH = seed.EXPECTED_SUMMARY_EN


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on this test's database."""
    async with seed.sessions_for(database_url) as factory:
        yield factory


async def seminar_count(sessions: SessionFactory, *, check_in: bool = True) -> hc.Headcount:
    """The seminar's headcount, seen by an organiser."""
    async with sessions() as session:
        built = await seed.seed_seminar(session, check_in=check_in)
        await session.commit()
        return await hc.count_event(session=session, event=built.event, zone_limit=None)


async def test_the_thai_paragraph_word_for_word(sessions: SessionFactory) -> None:
    result = await seminar_count(sessions)
    text = summary_text(result=result, t=translator("th"), tz=BANGKOK, zone_names=ZONE_NAMES_TH)
    assert text == THAI


async def test_the_english_paragraph_word_for_word(sessions: SessionFactory) -> None:
    result = await seminar_count(sessions)
    text = summary_text(result=result, t=translator("en"), tz=BANGKOK, zone_names=ZONE_NAMES_EN)
    assert text == ENGLISH


async def test_a_zone_without_a_name_in_the_zone_file(sessions: SessionFactory) -> None:
    result = await seminar_count(sessions)
    text = summary_text(result=result, t=translator("th"), tz=BANGKOK, zone_names={})
    assert "อาสาสมัครแรงงานจากโซน 3 (เขตคลองเตย" in text
    assert "และโซน 4 (เขตบางกะปิ" in text


async def seminar_id(sessions: SessionFactory) -> int:
    """The seminar, built; its event's number."""
    async with sessions() as session:
        built = await seed.seed_seminar(session)
        await session.commit()
    assert built.event.id is not None
    return built.event.id


async def coordinator_count(
    sessions: SessionFactory, event_id: int, *zones: int
) -> tuple[hc.Headcount, int]:
    """The seminar as a coordinator of `zones` sees it, and the event's total."""
    viewer = Access(
        person_id=1, roles=frozenset({Role.COORDINATOR}), coordinator_zones=frozenset(zones)
    )
    async with sessions() as session:
        result = await hc.headcount(session=session, access=viewer, event_id=event_id)
        total = await hc.arrived_count(session=session, event_id=event_id)
    return result, total


async def test_a_coordinator_gets_the_total_and_their_zones_share(
    sessions: SessionFactory,
) -> None:
    """Issue 11 §5: press text for zone 4 alone never reads as the event's total."""
    result, total = await coordinator_count(sessions, await seminar_id(sessions), 4)
    assert (result.total, total) == (30, 351)
    thai = summary_text(
        result=result, t=translator("th"), tz=BANGKOK, zone_names=ZONE_NAMES_TH, event_total=total
    )
    assert thai == seed.EXPECTED_SUMMARY_ZONE_4_TH
    assert "มีผู้เข้าร่วมทั้งหมด 30 คน" not in thai
    english = summary_text(
        result=result, t=translator("en"), tz=BANGKOK, zone_names=ZONE_NAMES_EN, event_total=total
    )
    assert english == seed.EXPECTED_SUMMARY_ZONE_4_EN


async def test_a_coordinator_whose_zones_sent_nobody(sessions: SessionFactory) -> None:
    event_id = await seminar_id(sessions)
    result, total = await coordinator_count(sessions, event_id, 7, 9)
    thai = summary_text(
        result=result, t=translator("th"), tz=BANGKOK, zone_names=ZONE_NAMES_TH, event_total=total
    )
    assert thai.endswith("มีผู้เข้าร่วมทั้งหมด 351 คน ในจำนวนนี้ไม่มีผู้เข้าร่วมจากโซน 7 และโซน 9")
    english = summary_text(
        result=result, t=translator("en"), tz=BANGKOK, zone_names={}, event_total=total
    )
    assert english.endswith("351 people took part, none of them from Zone 7 and Zone 9.")
    nowhere, _ = await coordinator_count(sessions, event_id)
    text = summary_text(
        result=nowhere, t=translator("th"), tz=BANGKOK, zone_names={}, event_total=total
    )
    assert text.endswith("ในจำนวนนี้ไม่มีผู้เข้าร่วมจากโซนที่ท่านดูแล")


def test_terms_read_as_they_should_inside_a_sentence() -> None:
    english, thai = translator("en"), translator("th")
    assert in_sentence(english, "Labour volunteers") == "labour volunteers"
    assert in_sentence(english, "SSO officials") == "SSO officials"
    assert in_sentence(thai, "อาสาสมัครแรงงาน") == "อาสาสมัครแรงงาน"


async def test_an_event_nobody_came_to(sessions: SessionFactory) -> None:
    result = await seminar_count(sessions, check_in=False)
    text = summary_text(result=result, t=translator("th"), tz=BANGKOK, zone_names=ZONE_NAMES_TH)
    assert text == seed.EXPECTED_SUMMARY_NOBODY_TH


def test_lists_are_joined_the_way_each_language_does() -> None:
    assert join_list(translator("th"), ["ก", "ข", "ค"]) == "ก ข และค"
    assert join_list(translator("en"), ["A", "B", "C"]) == "A, B and C"
    assert join_list(translator("en"), ["A"]) == "A"
    assert join_list(translator("en"), []) == ""
