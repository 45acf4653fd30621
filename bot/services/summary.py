"""The press-release paragraph: an event's attendance in the ministry's own words.

The figures and names come from the headcount; every sentence pattern comes from the
translations (`report.summary.*`), so the Thai reads like the ministry's releases and the
English like a plain report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from bot.i18n import Translator
from bot.i18n.dates import format_date
from bot.services.headcount import (
    GROUP_OFFICIALS,
    GROUP_OTHERS,
    GROUP_VOLUNTEERS,
    Headcount,
    ZoneCount,
)


def join_list(t: Translator, items: Sequence[str]) -> str:
    """ "A B และ C" in Thai, "A, B and C" in English: the patterns live in the translations."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    head = items[0]
    for item in items[1:-1]:
        head = t("report.list.join", first=head, second=item)
    return t("report.list.join_last", first=head, last=items[-1])


def zone_label(t: Translator, zone: int | None, zone_names: Mapping[int, str]) -> str:
    """A zone's name from the zone file, else "โซน N"; districts outside zones are "other"."""
    if zone is None:
        return t("report.no_zone")
    return zone_names.get(zone) or t("report.zone", zone=zone)


def _zone_phrase(t: Translator, zone: ZoneCount, zone_names: Mapping[int, str]) -> str:
    """ "โซน 3 (เขตคลองเตย และเขตบางนา)"."""
    districts = [
        t("report.summary.district", name=district.name(t.lang)) for district in zone.districts
    ]
    label = zone_label(t, zone.zone, zone_names)
    return t("report.summary.zone", zone=label, districts=join_list(t, districts))


def summary_text(
    *, result: Headcount, t: Translator, tz: ZoneInfo, zone_names: Mapping[int, str]
) -> str:
    """The paragraph, ready to paste into a press release."""
    event = result.event
    date = format_date(event.starts_at, lang=t.lang, tz=tz)
    if result.total == 0:
        return t("report.summary.nobody", title=event.title, date=date, venue=event.venue)
    parts = []
    volunteers = result.groups.get(GROUP_VOLUNTEERS, 0)
    if volunteers:
        zones = [_zone_phrase(t, zone, zone_names) for zone in result.zones]
        if zones:
            parts.append(
                t("report.summary.volunteers_from", zones=join_list(t, zones), count=volunteers)
            )
        else:
            parts.append(t("report.summary.volunteers", count=volunteers))
    if result.groups.get(GROUP_OFFICIALS, 0):
        parts.append(t("report.summary.officials", count=result.groups[GROUP_OFFICIALS]))
    if result.groups.get(GROUP_OTHERS, 0):
        parts.append(t("report.summary.others", count=result.groups[GROUP_OTHERS]))
    return t(
        "report.summary.body",
        title=event.title,
        date=date,
        venue=event.venue,
        total=result.total,
        parts=_join_parts(t, parts),
    )


def _join_parts(t: Translator, parts: Sequence[str]) -> str:
    """The groups one after another, as the ministry lists them (no "and" in Thai)."""
    if len(parts) <= 1:
        return "".join(parts)
    head = parts[0]
    for part in parts[1:-1]:
        head = t("report.summary.join", first=head, second=part)
    return t("report.summary.join_last", first=head, last=parts[-1])
