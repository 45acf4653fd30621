"""The press-release paragraph, word for word in both languages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest

from bot.i18n import translator
from bot.services import headcount as hc
from bot.services.summary import join_list, summary_text
from storage.database import SessionFactory
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


async def test_an_event_nobody_came_to(sessions: SessionFactory) -> None:
    result = await seminar_count(sessions, check_in=False)
    text = summary_text(result=result, t=translator("th"), tz=BANGKOK, zone_names=ZONE_NAMES_TH)
    assert text == seed.EXPECTED_SUMMARY_NOBODY_TH


def test_lists_are_joined_the_way_each_language_does() -> None:
    assert join_list(translator("th"), ["ก", "ข", "ค"]) == "ก ข และค"
    assert join_list(translator("en"), ["A", "B", "C"]) == "A, B and C"
    assert join_list(translator("en"), ["A"]) == "A"
    assert join_list(translator("en"), []) == ""
