"""Formatting and parsing of dates: the exact strings users see and everything they may type."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.i18n.dates import (
    DateParseError,
    format_date,
    format_datetime,
    format_duration,
    format_time,
    format_time_range,
    parse_date,
    parse_datetime,
    parse_time,
    to_local,
)

Style = Literal["long", "short"]

BANGKOK = ZoneInfo("Asia/Bangkok")
# 2020-07-22 12:00 in Bangkok, a Wednesday.
NOON = datetime(2020, 7, 22, 5, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime, to keep tables short."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "style", "expected"),
    [
        ("th", "long", "วันพุธที่ 22 กรกฎาคม 2563"),
        ("th", "short", "22 ก.ค. 63"),
        ("en", "long", "Wednesday 22 July 2020"),
        ("en", "short", "22 Jul 2020"),
    ],
)
def test_format_date(lang: str, style: Style, expected: str) -> None:
    assert format_date(NOON, lang=lang, tz=BANGKOK, style=style) == expected


def test_format_date_defaults_to_long() -> None:
    assert format_date(NOON, lang="th", tz=BANGKOK) == "วันพุธที่ 22 กรกฎาคม 2563"


@pytest.mark.parametrize(("lang", "expected"), [("th", "12.00 น."), ("en", "12:00")])
def test_format_time(lang: str, expected: str) -> None:
    assert format_time(NOON, lang=lang, tz=BANGKOK) == expected


@pytest.mark.parametrize(
    ("lang", "style", "expected"),
    [
        ("th", "long", "วันพุธที่ 22 กรกฎาคม 2563 เวลา 12.00 น."),
        ("th", "short", "22 ก.ค. 63 12.00 น."),
        ("en", "long", "Wednesday 22 July 2020, 12:00"),
        ("en", "short", "22 Jul 2020, 12:00"),
    ],
)
def test_format_datetime(lang: str, style: Style, expected: str) -> None:
    assert format_datetime(NOON, lang=lang, tz=BANGKOK, style=style) == expected


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("th", "วันพุธที่ 22 กรกฎาคม 2563 เวลา 09.00–12.00 น."),
        ("en", "Wednesday 22 July 2020, 09:00–12:00"),
    ],
)
def test_format_time_range_same_day(lang: str, expected: str) -> None:
    start = utc(2020, 7, 22, 2, 0)
    assert format_time_range(start, NOON, lang=lang, tz=BANGKOK) == expected


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        (
            "th",
            "วันพุธที่ 22 กรกฎาคม 2563 เวลา 12.00 น. – วันพฤหัสบดีที่ 23 กรกฎาคม 2563 เวลา 12.00 น.",
        ),
        ("en", "Wednesday 22 July 2020, 12:00 – Thursday 23 July 2020, 12:00"),
    ],
)
def test_format_time_range_different_days(lang: str, expected: str) -> None:
    end = NOON + timedelta(days=1)
    assert format_time_range(NOON, end, lang=lang, tz=BANGKOK) == expected


def test_format_time_range_same_utc_day_but_different_local_days() -> None:
    # 16:00Z-18:00Z is one UTC day but 23.00 on the 22nd to 01.00 on the 23rd in Bangkok.
    text = format_time_range(utc(2020, 7, 22, 16), utc(2020, 7, 22, 18), lang="th", tz=BANGKOK)
    assert text == "วันพุธที่ 22 กรกฎาคม 2563 เวลา 23.00 น. – วันพฤหัสบดีที่ 23 กรกฎาคม 2563 เวลา 01.00 น."


def test_format_time_range_refuses_end_before_start() -> None:
    with pytest.raises(ValueError, match="before"):
        format_time_range(NOON, NOON - timedelta(minutes=1), lang="en", tz=BANGKOK)


@pytest.mark.parametrize(
    ("moment", "lang", "expected"),
    [
        # 20:00Z on the 21st is already 03.00 on the 22nd in Bangkok (UTC+7).
        (utc(2020, 7, 21, 20), "th", "วันพุธที่ 22 กรกฎาคม 2563 เวลา 03.00 น."),
        (utc(2020, 7, 21, 16, 59), "th", "วันอังคารที่ 21 กรกฎาคม 2563 เวลา 23.59 น."),
        (utc(2020, 7, 21, 17, 0), "th", "วันพุธที่ 22 กรกฎาคม 2563 เวลา 00.00 น."),
        (utc(2020, 7, 21, 17, 0), "en", "Wednesday 22 July 2020, 00:00"),
        # New Year in Bangkok comes seven hours before New Year in UTC; so does the BE year.
        (utc(2020, 12, 31, 17, 0), "th", "วันศุกร์ที่ 1 มกราคม 2564 เวลา 00.00 น."),
        (utc(2020, 12, 31, 16, 59), "th", "วันพฤหัสบดีที่ 31 ธันวาคม 2563 เวลา 23.59 น."),
    ],
)
def test_format_uses_the_local_day(moment: datetime, lang: str, expected: str) -> None:
    assert format_datetime(moment, lang=lang, tz=BANGKOK) == expected


def test_format_in_another_time_zone() -> None:
    assert format_time(NOON, lang="en", tz=ZoneInfo("UTC")) == "05:00"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2020, 7, 19), "วันอาทิตย์ที่ 19 กรกฎาคม 2563"),
        (date(2020, 7, 20), "วันจันทร์ที่ 20 กรกฎาคม 2563"),
        (date(2020, 7, 21), "วันอังคารที่ 21 กรกฎาคม 2563"),
        (date(2020, 7, 23), "วันพฤหัสบดีที่ 23 กรกฎาคม 2563"),
        (date(2020, 7, 24), "วันศุกร์ที่ 24 กรกฎาคม 2563"),
        (date(2020, 7, 25), "วันเสาร์ที่ 25 กรกฎาคม 2563"),
    ],
)
def test_thai_weekday_names(day: date, expected: str) -> None:
    moment = datetime.combine(day, time(12), tzinfo=BANGKOK)
    assert format_date(moment, lang="th", tz=BANGKOK) == expected


@pytest.mark.parametrize(
    ("month", "short"),
    list(
        enumerate(
            [
                "ม.ค.",
                "ก.พ.",
                "มี.ค.",
                "เม.ย.",
                "พ.ค.",
                "มิ.ย.",
                "ก.ค.",
                "ส.ค.",
                "ก.ย.",
                "ต.ค.",
                "พ.ย.",
                "ธ.ค.",
            ],
            start=1,
        )
    ),
)
def test_thai_short_month_names(month: int, short: str) -> None:
    moment = datetime(2021, month, 5, 12, tzinfo=BANGKOK)
    assert format_date(moment, lang="th", tz=BANGKOK, style="short") == f"5 {short} 64"


@pytest.mark.parametrize(("lang", "thai"), [("th-TH", True), ("TH", True), ("fr", False)])
def test_language_codes(lang: str, thai: bool) -> None:
    expected = "12.00 น." if thai else "12:00"
    assert format_time(NOON, lang=lang, tz=BANGKOK) == expected


def test_to_local_keeps_the_instant() -> None:
    local = to_local(NOON, BANGKOK)
    assert (local.hour, local.tzinfo, local) == (12, BANGKOK, NOON)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_date(datetime(2020, 7, 22, 12), lang="th", tz=BANGKOK)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("seconds", "thai", "english"),
    [
        (0, "0 วินาที", "0 s"),
        (45, "45 วินาที", "45 s"),
        (59.4, "59 วินาที", "59 s"),
        (59.6, "1 นาที", "1 min"),
        (89, "1 นาที", "1 min"),
        (90, "2 นาที", "2 min"),
        (3600, "1 ชั่วโมง", "1 h"),
        (3900, "1 ชั่วโมง 5 นาที", "1 h 5 min"),
        (3929, "1 ชั่วโมง 5 นาที", "1 h 5 min"),
        (7170, "2 ชั่วโมง", "2 h"),
        (30 * 3600, "30 ชั่วโมง", "30 h"),
    ],
)
def test_format_duration(seconds: float, thai: str, english: str) -> None:
    assert (format_duration(seconds, lang="th"), format_duration(seconds, lang="en")) == (
        thai,
        english,
    )


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_format_duration_refuses_nonsense(seconds: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        format_duration(seconds, lang="th")


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "22/7/2563 12.00",
        "22/07/2020 12:00",
        "2020-07-22 12:00",
        "22 ก.ค. 63 12.00",
        "22 กรกฎาคม 2563 12.00 น.",
        "22.7.2563 12:00",
        "22 Jul 2020 12:00",
        "22 July 2020 12.00",
        "2020-07-22T12:00",
        "๒๒/๗/๒๕๖๓ ๑๒.๐๐",
        "22/7/2563 12.00 น.",
        "22/7/2563 เวลา 12.00 น.",
        "  22   ก.ค.   63    12.00  ",
        "22 กค 63 12.00",
        "22 ก.ค 63 12.00",
        "22 กรกฎา 2563 12.00",
        "22ก.ค.63 12.00",
        "22 ก.ค. 2563 12.00",
        "22 ก.ค. 2020 12.00",
        "22 กรกฎาคม พ.ศ. 2563 12.00 น.",
        "22 ก.ค. ค.ศ. 2020 12.00",
        "วันที่ 22 ก.ค. 63 12.00",
        "22/7/63 12.00",
        "22/7/20 12.00",
        "22 jul 2020 12:00",
        "22 JULY 2020 12:00",
        "22 Jul. 2020, 12:00",
        "22 Jul 2020 at 12:00",
        "22 Jul 2020 12 pm",
        "22 Jul 2020 12:00 p.m.",
        "2563-07-22 12:00",
        "2020/07/22 12:00",
        "22/7/2563 12 น.",
        "22/7/2563 12 นาฬิกา",
        "22/7/2563\u200b 12.00",
        "22/7/2563\u00a012.00",
        "วันพุธที่ 22 กรกฎาคม 2563 เวลา 12.00 น.",
        "วันพุธ ที่ 22 กรกฎาคม 2563 12.00",
        "พุธ 22 ก.ค. 63 12.00",
        "Wednesday 22 July 2020, 12:00",
        "Wed, 22 Jul 2020 12:00",
    ],
)
def test_parse_datetime_formats(text: str) -> None:
    assert parse_datetime(text, tz=BANGKOK) == NOON


def test_parse_datetime_single_digit_hour() -> None:
    assert parse_datetime("22-7-2020 9:30", tz=BANGKOK) == utc(2020, 7, 22, 2, 30)


def test_parse_datetime_returns_aware_utc() -> None:
    parsed = parse_datetime("22/7/2563 12.00", tz=BANGKOK)
    assert parsed.tzinfo is UTC


def test_parse_datetime_across_midnight() -> None:
    # 03.00 on the 22nd in Bangkok is 20:00 on the 21st in UTC.
    assert parse_datetime("22/7/2563 03.00", tz=BANGKOK) == utc(2020, 7, 21, 20)


def test_parse_datetime_in_another_time_zone() -> None:
    assert parse_datetime("22/7/2563 12.00", tz=ZoneInfo("UTC")) == utc(2020, 7, 22, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Four digits: above 2400 is Buddhist era, otherwise Common era.
        ("22/7/2563", date(2020, 7, 22)),
        ("22/7/2020", date(2020, 7, 22)),
        ("1/1/2443", date(1900, 1, 1)),
        ("1/1/1999", date(1999, 1, 1)),
        # Two digits with a Thai month name: always short Buddhist era.
        ("22 ก.ค. 63", date(2020, 7, 22)),
        ("22 ก.ค. 20", date(1977, 7, 22)),
        ("22 ก.ค. 99", date(2056, 7, 22)),
        # Two digits otherwise: above 40 is short Buddhist era, up to 40 is short Common era.
        ("22/7/63", date(2020, 7, 22)),
        ("22/7/41", date(1998, 7, 22)),
        ("22/7/99", date(2056, 7, 22)),
        ("22/7/40", date(2040, 7, 22)),
        ("22/7/20", date(2020, 7, 22)),
        ("22/7/00", date(2000, 7, 22)),
        ("22 Jul 63", date(2020, 7, 22)),
        ("22 Jul 20", date(2020, 7, 22)),
        # An era written out wins.
        ("22 ก.ค. พ.ศ. 2563", date(2020, 7, 22)),
        ("22 ก.ค. ค.ศ. 20", date(2020, 7, 22)),
        ("22 ก.ค. พ.ศ. 63", date(2020, 7, 22)),
    ],
)
def test_year_rules(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("31/2/2563 12.00", "bad_date"),
        ("29/2/2564 12.00", "bad_date"),  # 2021 was not a leap year
        ("0/7/2563 12.00", "bad_date"),
        ("22/13/2563 12.00", "bad_date"),
        ("1/1/2400 12.00", "bad_date"),  # not Buddhist era, and 2400 CE is out of range
        ("1/1/1899 12.00", "bad_date"),
        ("0000-01-01 12:00", "bad_date"),
        ("วันพฤหัสบดีที่ 22 กรกฎาคม 2563 12.00", "bad_date"),  # the 22nd was a Wednesday
        ("22/7/2563 25.00", "bad_time"),
        ("22/7/2563 24.00", "bad_time"),
        ("22/7/2563 12.60", "bad_time"),
        ("22 Jul 2020 13 pm", "bad_time"),
        ("", "unrecognised"),
        ("   ", "unrecognised"),
        ("garbage", "unrecognised"),
        ("พรุ่งนี้", "unrecognised"),
        ("🎉🎉🎉", "unrecognised"),
        ("22/7/2563 🎉", "unrecognised"),
        ("1" * 5000, "unrecognised"),
        ("22/7/2563 12.00 " + "น" * 5000, "unrecognised"),
        ("22 ม.ค.ก. 2563 12.00", "unrecognised"),
        ("22 Jly 2020 12:00", "unrecognised"),
        ("22/7-2563 12.00", "unrecognised"),
        ("22/7/256 12.00", "unrecognised"),
        ("22/7/2563 12", "unrecognised"),
        ("22/7/2563 12.00 น. ครับ", "unrecognised"),
        ("22/7/2563 เวลา", "unrecognised"),
        ("\x00\x01", "unrecognised"),
        ("22/7/2563", "missing_time"),
        ("วันพุธที่ 22 กรกฎาคม 2563", "missing_time"),
    ],
)
def test_parse_datetime_rejects(text: str, reason: str) -> None:
    with pytest.raises(DateParseError) as caught:
        parse_datetime(text, tz=BANGKOK)
    assert caught.value.reason == reason


def test_date_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unrecognised"):
        parse_datetime("nonsense", tz=BANGKOK)


def test_parse_datetime_uses_default_time_when_none_typed() -> None:
    parsed = parse_datetime("22 ก.ค. 63", tz=BANGKOK, default_time=time(9, 0))
    assert parsed == utc(2020, 7, 22, 2, 0)


def test_typed_time_beats_default_time() -> None:
    parsed = parse_datetime("22/7/2563 12.00", tz=BANGKOK, default_time=time(9, 0))
    assert parsed == NOON


def test_time_skipped_by_daylight_saving_is_bad_time() -> None:
    # Clocks in New York jumped from 02:00 to 03:00 on 14 March 2021.
    with pytest.raises(DateParseError) as caught:
        parse_datetime("14/3/2021 02:30", tz=ZoneInfo("America/New_York"))
    assert caught.value.reason == "bad_time"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12.00", time(12, 0)),
        ("12:00", time(12, 0)),
        ("9.30 น.", time(9, 30)),
        ("09.30น.", time(9, 30)),
        ("๑๒.๐๐", time(12, 0)),
        ("๙.๓๐ น.", time(9, 30)),
        ("0.00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("12:00:30", time(12, 0, 30)),
        ("8 น.", time(8, 0)),
        ("12 am", time(0, 0)),
        ("12 pm", time(12, 0)),
        ("9:15 PM", time(21, 15)),
        (" 12.00 ", time(12, 0)),
    ],
)
def test_parse_time(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("25.00", "bad_time"),
        ("12.61", "bad_time"),
        ("0 pm", "bad_time"),
        ("12", "unrecognised"),
        ("12.0", "unrecognised"),
        ("noon", "unrecognised"),
        ("12.00 น. 13.00", "unrecognised"),
        ("", "unrecognised"),
        ("🕛", "unrecognised"),
    ],
)
def test_parse_time_rejects(text: str, reason: str) -> None:
    with pytest.raises(DateParseError) as caught:
        parse_time(text)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "text",
    [
        "22/7/2563",
        "2020-07-22",
        "22 ก.ค. 63",
        "๒๒ กรกฎาคม ๒๕๖๓",
        "วันพุธที่ 22 กรกฎาคม 2563",
        "22 July 2020",
        "Wednesday 22 July 2020",
    ],
)
def test_parse_date(text: str) -> None:
    assert parse_date(text) == date(2020, 7, 22)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("22/7/2563 12.00", "unrecognised"),
        ("31/4/2563", "bad_date"),
        ("yesterday", "unrecognised"),
    ],
)
def test_parse_date_rejects(text: str, reason: str) -> None:
    with pytest.raises(DateParseError) as caught:
        parse_date(text)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("month", "names"),
    [
        (1, ["มกราคม", "ม.ค.", "มค", "มกรา", "January", "jan"]),
        (2, ["กุมภาพันธ์", "ก.พ.", "กพ", "กุมภา", "February", "feb"]),
        (3, ["มีนาคม", "มี.ค.", "มีค", "มีนา", "March", "mar"]),
        (4, ["เมษายน", "เม.ย.", "เมย", "เมษา", "April", "apr"]),
        (5, ["พฤษภาคม", "พ.ค.", "พค", "พฤษภา", "May"]),
        (6, ["มิถุนายน", "มิ.ย.", "มิย", "มิถุนา", "June", "jun"]),
        (7, ["กรกฎาคม", "ก.ค.", "กค", "กรกฎา", "July", "jul"]),
        (8, ["สิงหาคม", "ส.ค.", "สค", "สิงหา", "August", "aug"]),
        (9, ["กันยายน", "ก.ย.", "กย", "กันยา", "September", "sep", "sept"]),
        (10, ["ตุลาคม", "ต.ค.", "ตค", "ตุลา", "October", "oct"]),
        (11, ["พฤศจิกายน", "พ.ย.", "พย", "พฤศจิกา", "November", "nov"]),
        (12, ["ธันวาคม", "ธ.ค.", "ธค", "ธันวา", "December", "dec"]),
    ],
)
def test_month_names(month: int, names: list[str]) -> None:
    assert {parse_date(f"1 {name} 2563") for name in names} == {date(2020, month, 1)}


# --- round trips -----------------------------------------------------------------------------

# Two-digit BE years in the Thai short style can only say 2500-2599 BE (1957-2056 CE), and the
# parser reads years from 1900 on, so samples stay inside 1957-2056.
minute_instants = st.datetimes(
    min_value=datetime(1957, 1, 2),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2056, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(second=0, microsecond=0))

ROUND_TRIP_SAMPLE = [
    NOON,
    utc(2020, 7, 21, 17, 0),
    utc(2020, 12, 31, 17, 0),
    utc(2024, 2, 28, 17, 0),  # 29 February 2024 in Bangkok
    utc(1957, 1, 1, 0, 0),
    utc(2056, 12, 31, 16, 59),
    utc(2000, 1, 1, 23, 45),
]


@pytest.mark.parametrize("moment", ROUND_TRIP_SAMPLE)
@pytest.mark.parametrize("lang", ["th", "en"])
@pytest.mark.parametrize("style", ["long", "short"])
def test_round_trip_sample(moment: datetime, lang: str, style: Style) -> None:
    text = format_datetime(moment, lang=lang, tz=BANGKOK, style=style)
    assert parse_datetime(text, tz=BANGKOK) == moment


@settings(max_examples=300, derandomize=True, database=None)
@given(moment=minute_instants, lang=st.sampled_from(["th", "en"]))
def test_round_trip_property(moment: datetime, lang: str) -> None:
    long_text = format_datetime(moment, lang=lang, tz=BANGKOK, style="long")
    short_text = format_datetime(moment, lang=lang, tz=BANGKOK, style="short")
    assert parse_datetime(long_text, tz=BANGKOK) == moment
    assert parse_datetime(short_text, tz=BANGKOK) == moment


@settings(max_examples=300, derandomize=True, database=None)
@given(moment=minute_instants)
def test_date_and_time_round_trip_separately(moment: datetime) -> None:
    local = to_local(moment, BANGKOK)
    assert parse_date(format_date(moment, lang="th", tz=BANGKOK)) == local.date()
    assert parse_time(format_time(moment, lang="th", tz=BANGKOK)) == local.time()


@settings(max_examples=500, derandomize=True, database=None)
@given(
    text=st.text(max_size=120) | st.from_regex(r"[0-9๐-๙/.:\- กขคพมยนวลาtT]{0,40}", fullmatch=True)
)
def test_parse_datetime_raises_only_date_parse_error(text: str) -> None:
    assert _parse_outcome(text) in {"utc", "unrecognised", "bad_date", "bad_time", "missing_time"}


def _parse_outcome(text: str) -> str:
    """The result: "utc" for an aware UTC datetime, else the reason it was refused."""
    try:
        parsed = parse_datetime(text, tz=BANGKOK)
    except DateParseError as error:
        return error.reason
    return "utc" if parsed.tzinfo is UTC else "not utc"
