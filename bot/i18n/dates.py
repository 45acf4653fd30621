"""The only place that formats or parses dates and times.

Moments are aware UTC datetimes everywhere else in the bot; this module turns them into the
words people read (Thai dates in the Buddhist era, as Thai officials write them) and turns what
people type back into aware UTC datetimes.

Any language other than Thai ("th", "th-TH", ...) is formatted in English.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "BUDDHIST_ERA_OFFSET",
    "DateParseError",
    "ParseErrorReason",
    "format_date",
    "format_datetime",
    "format_duration",
    "format_time",
    "format_time_range",
    "parse_date",
    "parse_datetime",
    "parse_time",
    "to_local",
]

Style = Literal["long", "short"]
ParseErrorReason = Literal["unrecognised", "bad_date", "bad_time", "missing_time"]

BUDDHIST_ERA_OFFSET = 543

# Index 0 is Monday, matching date.weekday().
_TH_WEEKDAYS = ("จันทร์", "อังคาร", "พุธ", "พฤหัสบดี", "ศุกร์", "เสาร์", "อาทิตย์")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Index 0 is January.
_TH_MONTHS = (
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
)
_TH_MONTHS_SHORT = (
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
)
# What people say aloud and type in chats: the full name without its -คม/-ยน/-พันธ์ ending.
_TH_MONTHS_COLLOQUIAL = (
    "มกรา",
    "กุมภา",
    "มีนา",
    "เมษา",
    "พฤษภา",
    "มิถุนา",
    "กรกฎา",
    "สิงหา",
    "กันยา",
    "ตุลา",
    "พฤศจิกา",
    "ธันวา",
)
_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_TIME_RANGE_DASH = "–"  # an en dash, as in "09.00–12.00 น."


def _is_thai(lang: str) -> bool:
    """Whether `lang` (a code such as "th" or "th-TH") asks for Thai."""
    return re.split(r"[-_]", lang.strip().lower(), maxsplit=1)[0] == "th"


# ---------------------------------------------------------------------------------------------
# Formatting


def to_local(moment: datetime, tz: ZoneInfo) -> datetime:
    """The same instant as an aware datetime in `tz`; naive datetimes are refused."""
    # A naive datetime here is a bug upstream (storage always hands back aware UTC), and
    # guessing its zone would silently shift times by seven hours.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime given to to_local; attach a time zone")
    return moment.astimezone(tz)


def _buddhist_year(year: int) -> int:
    """The Buddhist-era year for a Common-era year."""
    return year + BUDDHIST_ERA_OFFSET


def _format_local_date(day: date, *, thai: bool, style: Style) -> str:
    """Format a calendar date that is already in the reader's time zone."""
    month = day.month - 1
    if thai:
        year = _buddhist_year(day.year)
        if style == "short":
            return f"{day.day} {_TH_MONTHS_SHORT[month]} {year % 100:02d}"
        weekday = _TH_WEEKDAYS[day.weekday()]
        return f"วัน{weekday}ที่ {day.day} {_TH_MONTHS[month]} {year}"
    if style == "short":
        return f"{day.day} {_EN_MONTHS[month][:3]} {day.year}"
    return f"{_EN_WEEKDAYS[day.weekday()]} {day.day} {_EN_MONTHS[month]} {day.year}"


def _clock(moment: datetime, *, thai: bool) -> str:
    """The bare 24-hour clock reading: "12.00" in Thai, "12:00" in English."""
    separator = "." if thai else ":"
    return f"{moment.hour:02d}{separator}{moment.minute:02d}"


def format_date(moment: datetime, *, lang: str, tz: ZoneInfo, style: Style = "long") -> str:
    """The date of `moment` in `tz`, e.g. "วันพุธที่ 22 กรกฎาคม 2563" or "22 Jul 2020"."""
    return _format_local_date(to_local(moment, tz).date(), thai=_is_thai(lang), style=style)


def format_time(moment: datetime, *, lang: str, tz: ZoneInfo) -> str:
    """The time of `moment` in `tz`: "12.00 น." in Thai, "12:00" in English."""
    thai = _is_thai(lang)
    clock = _clock(to_local(moment, tz), thai=thai)
    return f"{clock} น." if thai else clock


def _join_date_time(day: str, clock: str, *, thai: bool, style: Style) -> str:
    """Put a formatted date and a formatted time together the way each language does."""
    if not thai:
        return f"{day}, {clock}"
    return f"{day} เวลา {clock}" if style == "long" else f"{day} {clock}"


def format_datetime(moment: datetime, *, lang: str, tz: ZoneInfo, style: Style = "long") -> str:
    """Date and time of `moment` in `tz`, e.g. "วันพุธที่ 22 กรกฎาคม 2563 เวลา 12.00 น."."""
    day = format_date(moment, lang=lang, tz=tz, style=style)
    clock = format_time(moment, lang=lang, tz=tz)
    return _join_date_time(day, clock, thai=_is_thai(lang), style=style)


def format_time_range(start: datetime, end: datetime, *, lang: str, tz: ZoneInfo) -> str:
    """A span such as "วันพุธที่ 22 กรกฎาคม 2563 เวลา 09.00–12.00 น."; two full dates if needed."""
    if end < start:
        raise ValueError("time range ends before it starts")
    thai = _is_thai(lang)
    local_start, local_end = to_local(start, tz), to_local(end, tz)
    if local_start.date() != local_end.date():
        first = format_datetime(start, lang=lang, tz=tz)
        last = format_datetime(end, lang=lang, tz=tz)
        return f"{first} {_TIME_RANGE_DASH} {last}"
    day = _format_local_date(local_start.date(), thai=thai, style="long")
    clocks = f"{_clock(local_start, thai=thai)}{_TIME_RANGE_DASH}{_clock(local_end, thai=thai)}"
    if thai:
        clocks += " น."
    return _join_date_time(day, clocks, thai=thai, style="long")


def format_duration(seconds: float, *, lang: str) -> str:
    """A length of time: "1 ชั่วโมง 5 นาที" / "1 h 5 min", or "45 วินาที" / "45 s" under a minute."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration must be a finite number of seconds >= 0, not {seconds!r}")
    thai = _is_thai(lang)
    total = round(seconds)
    if total < 60:
        return f"{total} วินาที" if thai else f"{total} s"
    # Past a minute, seconds are noise: round half up to whole minutes. Hours are not folded
    # into days because volunteer hours are counted in hours, however many there are.
    hours, minutes = divmod((total + 30) // 60, 60)
    parts = []
    if hours:
        parts.append(f"{hours} ชั่วโมง" if thai else f"{hours} h")
    if minutes:
        parts.append(f"{minutes} นาที" if thai else f"{minutes} min")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# Parsing


class DateParseError(ValueError):
    """Text that is not a date or time we understand; `reason` says which part was wrong."""

    def __init__(self, reason: ParseErrorReason) -> None:
        super().__init__(f"cannot parse date or time: {reason}")
        self.reason: ParseErrorReason = reason


# Anything longer is not a date someone typed; refusing early keeps regexes cheap.
_MAX_INPUT_LENGTH = 100

# Only the years a volunteer event could plausibly have; this also keeps the UTC conversion
# away from datetime's limits (year 1 in Bangkok is before year 1 in UTC).
_MIN_YEAR, _MAX_YEAR = 1900, 2200

_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Zero-width characters that Thai keyboards and copy-paste sprinkle between words.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def _month_key(name: str) -> str:
    """How a month name is looked up: no dots, no spaces, case-folded."""
    return re.sub(r"[.\s]", "", name).casefold()


def _month_table() -> tuple[dict[str, int], dict[str, int]]:
    """Lookup tables from month name to number: (Thai names, English names)."""
    thai: dict[str, int] = {}
    english: dict[str, int] = {}
    for number in range(1, 13):
        for name in (
            _TH_MONTHS[number - 1],
            _TH_MONTHS_SHORT[number - 1],
            _TH_MONTHS_COLLOQUIAL[number - 1],
        ):
            thai[_month_key(name)] = number
        full = _EN_MONTHS[number - 1]
        english[_month_key(full)] = number
        english[_month_key(full[:3])] = number
    english["sept"] = 9
    return thai, english


_THAI_MONTHS, _ENGLISH_MONTHS = _month_table()


def _weekday_table() -> dict[str, int]:
    """Lookup table from a weekday name (Thai or English, as typed) to date.weekday()."""
    table: dict[str, int] = {}
    for number, (thai, english) in enumerate(zip(_TH_WEEKDAYS, _EN_WEEKDAYS, strict=True)):
        table[thai] = number
        table[english.casefold()] = number
        table[english[:3].casefold()] = number
    table.update({"พฤหัส": 3, "tues": 1, "thur": 3, "thurs": 3})
    return table


_WEEKDAYS = _weekday_table()


def _alternation(names: list[str]) -> str:
    """A regex alternation that tries longer names first, so "พฤหัสบดี" beats "พฤหัส"."""
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))


# A leading weekday, as in our own long format ("วันพุธที่ ", "พุธ ", "Wednesday, ", "Wed "),
# or just "วันที่ " ("the date"), which Thai forms put before a date.
_WEEKDAY_PREFIX = re.compile(
    rf"(?:(?:วัน)?(?P<weekday>{_alternation(list(_WEEKDAYS))})(?![a-z])\.?(?: ?ที่)?|วันที่)[ ,]*"
)

_YEAR = r"(?P<year>[0-9]{4}|[0-9]{2})(?![0-9])"
# Year first is unambiguous ("2020-07-22", "2563/7/22"); otherwise Thailand writes day first.
_YEAR_FIRST = re.compile(
    r"(?P<year>[0-9]{4})(?P<sep>[-/.])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})(?![0-9])"
)
_DAY_FIRST = re.compile(r"(?P<day>[0-9]{1,2})(?P<sep>[-/.])(?P<month>[0-9]{1,2})(?P=sep)" + _YEAR)
# "22 ก.ค. 63", "22 กรกฎาคม พ.ศ. 2563", "22 Jul 2020"; พ.ศ./ค.ศ. name the era explicitly.
_NAMED_MONTH = re.compile(
    r"(?P<day>[0-9]{1,2}) ?(?:(?P<thai>[\u0e01-\u0e4e][\u0e01-\u0e4e.]*)|(?P<english>[a-z]+)\.?)"
    r"[ ,]*(?:(?P<era>พ|ค)\.? ?ศ\.? ?)?" + _YEAR
)

# "12.00", "12:00", "9.30 น.", "12 น.", "12:00:00", "9 pm", "9:30 a.m."
_TIME = re.compile(
    r"(?P<hour>[0-9]{1,2})(?:[.:](?P<minute>[0-9]{2})(?:[.:](?P<second>[0-9]{2}))?)?"
    r" ?(?:(?P<thai>น\.?|นาฬิกา)|(?P<meridiem>[ap])\.?m\.?)?"
)
# What may stand between the date and the time: "T" (ISO 8601), a comma, "เวลา" (at), "at".
_DATE_TIME_GLUE = re.compile(r"(?:t|[ ,]*(?:เวลา|at)?[ ,]*)")


def _normalise(text: str) -> str:
    """Thai digits to ASCII, invisible characters out, spaces collapsed, case folded."""
    if len(text) > _MAX_INPUT_LENGTH:
        raise DateParseError("unrecognised")
    text = unicodedata.normalize("NFC", text).translate(_THAI_DIGITS).translate(_INVISIBLE)
    return re.sub(r"\s+", " ", text).strip().casefold()


def _year_from_digits(digits: str, *, thai_month: bool, era: str | None = None) -> int:
    """The Common-era year for the year as typed (see the rules below)."""
    year = int(digits)
    if era is not None:
        # "พ.ศ." (Buddhist era) or "ค.ศ." (Common era) written out leaves nothing to guess.
        if len(digits) == 2:
            year += 2500 if era == "พ" else 2000
        return year - BUDDHIST_ERA_OFFSET if era == "พ" else year
    if len(digits) == 4:
        # Nobody here means a year after 2400 CE, while 2401 BE onwards is 1858 CE onwards:
        # the years Thai people write. So a four-digit year above 2400 is Buddhist era.
        return year - BUDDHIST_ERA_OFFSET if year > 2400 else year
    if thai_month:
        # With a Thai month name, a two-digit year is always short Buddhist era: "ก.ค. 63".
        return 2500 + year - BUDDHIST_ERA_OFFSET
    # A bare two-digit year is ambiguous. 41-99 are read as short Buddhist era (2541-2599 BE
    # = 1998-2056 CE) and 00-40 as short Common era (2000-2040 CE): "22/7/63" and "22/7/20"
    # are both 2020. Years that cannot be written this way (1957-1997, 2041+) need four digits.
    if year > 40:
        return 2500 + year - BUDDHIST_ERA_OFFSET
    return 2000 + year


def _make_date(*, year: int, month: int, day: int) -> date:
    """A checked calendar date; impossible ones ("31/2") raise DateParseError("bad_date")."""
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise DateParseError("bad_date")
    try:
        return date(year, month, day)
    except ValueError:
        raise DateParseError("bad_date") from None


def _date_from_match(match: re.Match[str]) -> date:
    """Turn a match of one of the date patterns into a date."""
    groups = match.groupdict()
    thai_name, english_name = groups.get("thai"), groups.get("english")
    if thai_name is not None:
        month = _THAI_MONTHS.get(_month_key(thai_name))
    elif english_name is not None:
        month = _ENGLISH_MONTHS.get(_month_key(english_name))
    else:
        month = int(groups["month"])
    if month is None:
        raise DateParseError("unrecognised")
    year = _year_from_digits(
        groups["year"], thai_month=thai_name is not None, era=groups.get("era")
    )
    return _make_date(year=year, month=month, day=int(groups["day"]))


def _leading_date(text: str) -> tuple[date, str]:
    """Parse the date at the start of normalised text; return it and the unparsed rest."""
    weekday: int | None = None
    prefix = _WEEKDAY_PREFIX.match(text)
    if prefix is not None:
        if prefix["weekday"] is not None:
            weekday = _WEEKDAYS[prefix["weekday"]]
        text = text[prefix.end() :]
    for pattern in (_YEAR_FIRST, _DAY_FIRST, _NAMED_MONTH):
        match = pattern.match(text)
        if match is not None:
            break
    else:
        raise DateParseError("unrecognised")
    day = _date_from_match(match)
    # "วันพุธที่ 23 ..." when the 23rd is a Thursday: one of the two is a typo, and guessing
    # which would put someone at the wrong event.
    if weekday is not None and weekday != day.weekday():
        raise DateParseError("bad_date")
    return day, text[match.end() :]


def _time_from_normalised(text: str) -> time:
    """Parse normalised text that should be nothing but a time of day."""
    match = _TIME.fullmatch(text)
    # A bare number ("12") is too ambiguous to be a time without "น." or am/pm.
    if match is None or (match["minute"] is None and not (match["thai"] or match["meridiem"])):
        raise DateParseError("unrecognised")
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    second = int(match["second"] or 0)
    if match["meridiem"]:
        if not 1 <= hour <= 12:
            raise DateParseError("bad_time")
        hour = hour % 12 + (12 if match["meridiem"] == "p" else 0)
    # 24.00 is refused rather than read as midnight: it is unclear which day is meant.
    if hour > 23 or minute > 59 or second > 59:
        raise DateParseError("bad_time")
    return time(hour, minute, second)


def parse_time(text: str) -> time:
    """A time of day from "12.00", "12:00", "9.30 น.", "๑๒.๐๐" and the like."""
    return _time_from_normalised(_normalise(text))


def parse_date(text: str) -> date:
    """A calendar date from "22/7/2563", "22 ก.ค. 63", "2020-07-22" and the like."""
    day, rest = _leading_date(_normalise(text))
    if rest.strip(" ,"):
        raise DateParseError("unrecognised")
    return day


def _localise(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The aware UTC instant of a wall-clock reading in `tz`; skipped times are bad_time."""
    local = datetime.combine(day, clock, tzinfo=tz)
    instant = local.astimezone(UTC)
    # Wall-clock times skipped by a daylight-saving jump do not exist; zoneinfo would quietly
    # shift them, so check that the instant reads back as the same wall clock.
    if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise DateParseError("bad_time")
    return instant


def parse_datetime(text: str, *, tz: ZoneInfo, default_time: time | None = None) -> datetime:
    """An aware UTC datetime from a date and time typed in `tz`, e.g. "22/7/2563 12.00 น."."""
    day, rest = _leading_date(_normalise(text))
    glue = _DATE_TIME_GLUE.match(rest)
    clock_text = rest[glue.end() :] if glue is not None else rest
    if clock_text:
        clock = _time_from_normalised(clock_text)
    elif rest.strip(" ,"):
        # Something like "เวลา" with no time after it.
        raise DateParseError("unrecognised")
    elif default_time is not None:
        clock = default_time
    else:
        raise DateParseError("missing_time")
    return _localise(day, clock, tz)
