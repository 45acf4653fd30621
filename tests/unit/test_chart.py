"""The headcount chart: a real PNG, drawn with a Thai font (no empty boxes)."""

from __future__ import annotations

import struct
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from matplotlib import font_manager

from bot.handlers.reports import chart_data
from bot.i18n import translator
from bot.render.chart import ChartData, render_headcount_chart, thai_family, thai_font_path
from bot.services.headcount import EventInfo, Headcount, ZoneCount

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

SEMINAR = ChartData(
    title="จำนวนผู้เข้าร่วม: สัมมนาเครือข่ายอาสาสมัครแรงงาน",
    groups_title="ตามกลุ่มผู้เข้าร่วม",
    groups=[
        ("อาสาสมัครแรงงาน", 69),
        ("เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน", 200),
        ("วิทยากร ข้าราชการ ทีมงาน และผู้สังเกตการณ์", 82),
    ],
    zones_title="ตามโซนและเขต",
    zones=[("โซน 3", 39), ("โซน 4", 30)],
    arrivals_title="การมาถึงทุก 15 นาที",
    arrivals=[("07.15 น.", 124), ("07.30 น.", 128), ("07.45 น.", 84), ("08.00 น.", 0)],
    empty_text="ยังไม่มีข้อมูล",
)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_chart_is_a_png_with_content() -> None:
    # Matplotlib warns "Glyph ... missing from font(s)" for every character it cannot draw;
    # warnings are errors here, so a Thai label drawn as empty boxes fails this test.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = render_headcount_chart(SEMINAR)
    width, height = png_size(data)
    assert width > 600
    assert height > 800
    assert len(data) > 20_000


def test_the_thai_font_comes_from_the_package_and_is_used() -> None:
    path = thai_font_path()
    assert path.suffix == ".ttf"
    assert "fontpkg_noto_sans_thai" in str(path)
    family = thai_family()
    assert family == "Noto Sans Thai"
    found = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    assert Path(found) == path


def test_a_chart_with_nothing_to_show() -> None:
    empty = ChartData(
        title="จำนวนผู้เข้าร่วม: งานใหม่",
        groups_title="ตามกลุ่มผู้เข้าร่วม",
        groups=[("อาสาสมัครแรงงาน", 0), ("ทีมงาน", 0)],
        zones_title="ตามโซนและเขต",
        zones=[],
        arrivals_title="การมาถึงทุก 15 นาที",
        arrivals=[],
        empty_text="ยังไม่มีข้อมูล",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = render_headcount_chart(empty)
    assert png_size(data)[0] > 600


@pytest.mark.parametrize("count", [1, 40, 200])
def test_many_slots_stay_readable(count: int) -> None:
    data = ChartData(**{**SEMINAR.__dict__, "arrivals": [(f"{i:02d}.00", i) for i in range(count)]})
    assert png_size(render_headcount_chart(data))[1] > 800


def test_chart_labels_are_plain_text_and_empty_slots_are_zero() -> None:
    start = datetime(2020, 7, 22, 0, 15, tzinfo=UTC)
    event = EventInfo(
        id=1,
        title="สัมมนา <ทดสอบ>",
        venue="กระทรวงแรงงาน",
        code="T1",
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        capacity=None,
    )
    result = Headcount(
        event=event,
        zone_limit=None,
        arrived=8,
        groups={"volunteers": 8, "officials": 0, "others": 0},
        zones=(ZoneCount(3, 5, ()), ZoneCount(None, 3, ())),
        arrivals=((start, 5), (start + timedelta(minutes=45), 3)),
    )
    data = chart_data(result, translator("th"), ZoneInfo("Asia/Bangkok"), {3: "โซน 3"})
    titles = [data.groups_title, data.zones_title, data.arrivals_title]
    assert titles == ["ตามกลุ่มผู้เข้าร่วม", "ตามโซน", "การมาถึงทุก 15 นาที"]
    assert data.title == "จำนวนผู้เข้าร่วม: สัมมนา <ทดสอบ>"
    assert list(data.zones) == [("โซน 3", 5), ("เขตอื่น ๆ", 3)]
    assert list(data.arrivals) == [
        ("07.15 น.", 5),
        ("07.30 น.", 0),
        ("07.45 น.", 0),
        ("08.00 น.", 3),
    ]
    assert data.groups[0] == ("อาสาสมัครแรงงาน", 8)
    # The groups by their terms, as in /headcount, /summary and the exports.
    assert [label for label, _ in data.groups] == [
        "อาสาสมัครแรงงาน",
        "เจ้าหน้าที่หน่วยงานในสังกัดกระทรวงแรงงาน",
        "วิทยากร ข้าราชการ ทีมงาน และผู้สังเกตการณ์",
    ]
