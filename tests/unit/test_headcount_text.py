"""The /headcount message: one message, readable on a phone, under Telegram's 4,096 characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.data.districts import load_geography
from bot.handlers.reports import MESSAGE_LIMIT, View, fitted_headcount_text, headcount_text
from bot.i18n import translator
from bot.services.headcount import DistrictCount, EventInfo, Headcount, ZoneCount

START = datetime(2020, 7, 22, 1, 0, tzinfo=UTC)


def every_district_came() -> Headcount:
    """A huge event: people from all 50 districts, arrivals over two days, long names."""
    geo = load_geography()
    zones = []
    for number in (3, 4, None):
        members = tuple(
            DistrictCount(d.code, d.name_th, d.name_en, 100 + i)
            for i, d in enumerate(geo.districts)
            if d.zone == number
        )
        zones.append(ZoneCount(number, sum(d.count for d in members), members))
    assert sum(len(z.districts) for z in zones) == 50
    event = EventInfo(
        id=1,
        title="ก" * 199 + "<",
        venue="ข" * 200,
        code="BIG1",
        starts_at=START,
        ends_at=START + timedelta(hours=3),
        capacity=100_000,
    )
    arrivals = tuple((START + timedelta(minutes=15 * i), 1000 + i) for i in range(192))
    total = sum(z.count for z in zones)
    return Headcount(
        event=event,
        zone_limit=None,
        arrived=total,
        walkins=1,
        signed_up=99_999,
        signed_up_arrived=total - 1,
        groups={"volunteers": total, "officials": 0, "others": 0},
        zones=tuple(zones),
        arrivals=arrivals,
    )


@pytest.mark.parametrize("lang", ["th", "en"])
def test_all_fifty_districts_fit_one_message(lang: str) -> None:
    view = View(translator(lang), ZoneInfo("Asia/Bangkok"), {}, START)
    text = fitted_headcount_text(result=every_district_came(), view=view)
    assert len(text) <= MESSAGE_LIMIT
    # The long "other districts" list is folded after the biggest twelve.
    assert ("อีก 27 เขต" if lang == "th" else "27 more districts") in text
    # Only the latest twelve slots are listed; the rest are summed in one line.
    assert text.count("▇") > 0
    assert ("ก่อน" if lang == "th" else "Before") in text
    # The title is escaped for Telegram's HTML.
    assert "&lt;" in text
    assert "<" not in text.replace("<b>", "").replace("</b>", "")


def test_fewer_districts_per_zone_when_asked() -> None:
    view = View(translator("th"), ZoneInfo("Asia/Bangkok"), {3: "โซน 3"}, START)
    text = headcount_text(result=every_district_came(), view=view, cap=2)
    zone3 = next(line for line in text.splitlines() if line.startswith("โซน 3"))
    after = text.splitlines()[text.splitlines().index(zone3) + 1]
    assert after.count("·") == 2
    assert "อีก 4 เขต" in after


def test_absurdly_long_names_are_cut_at_a_line() -> None:
    # Zone names from a deployment's zone file, far too long even with every district folded.
    names = {3: "โซนสาม" * 300, 4: "โซนสี่" * 300}
    view = View(translator("th"), ZoneInfo("Asia/Bangkok"), names, START)
    text = fitted_headcount_text(result=every_district_came(), view=view)
    assert len(text) <= MESSAGE_LIMIT
    assert text.endswith("\n…")
    assert text.count("<b>") == text.count("</b>")
