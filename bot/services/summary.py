"""The press-release paragraph: an event's attendance in the ministry's own words.

The figures and names come from the headcount; every sentence pattern comes from the
translations (`report.summary.*`), so the Thai reads like the ministry's releases and the
English like a plain report. The attendee groups are named by their terms (bot/i18n/terms.py),
as in /headcount and the exports.

A coordinator sees figures for their zones only. Their paragraph is still meant to be pasted,
so it never passes a zone's figures off as the event's: it gives the event's total, then says
how many of those came from their zones, and what the breakdown covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from bot.i18n import Translator, terms
from bot.i18n.dates import format_date
from bot.services.headcount import GROUP_VOLUNTEERS, GROUPS, Headcount, ZoneCount


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


def zones_phrase(t: Translator, zones: Iterable[int], zone_names: Mapping[int, str]) -> str:
    """A coordinator's zones as one phrase: "โซน 3 และโซน 4"; "your zones" when they have none."""
    labels = [zone_label(t, zone, zone_names) for zone in sorted(zones)]
    return join_list(t, labels) if labels else t("report.summary.your_zones")


def in_sentence(t: Translator, label: str) -> str:
    """A term as it reads inside a sentence: English drops the capital of "Labour volunteers"
    (not of an initialism); Thai has no capitals."""
    if t.lang == "th" or len(label) < 2 or not label[1].islower():
        return label
    return label[0].lower() + label[1:]


def _zone_phrase(t: Translator, zone: ZoneCount, zone_names: Mapping[int, str]) -> str:
    """ "โซน 3 (เขตคลองเตย และเขตบางนา)"."""
    districts = [
        t("report.summary.district", name=district.name(t.lang)) for district in zone.districts
    ]
    label = zone_label(t, zone.zone, zone_names)
    return t("report.summary.zone", zone=label, districts=join_list(t, districts))


def _parts(t: Translator, result: Headcount, zone_names: Mapping[int, str]) -> list[str]:
    """Each attendee group that came, by its term, with its count (volunteers by zone)."""
    parts = []
    for group in GROUPS:
        count = result.groups.get(group, 0)
        if not count:
            continue
        name = in_sentence(t, t(terms.group(group)))
        zones = [_zone_phrase(t, zone, zone_names) for zone in result.zones]
        if group == GROUP_VOLUNTEERS and zones:
            parts.append(
                t("report.summary.group_from", group=name, zones=join_list(t, zones), count=count)
            )
        else:
            parts.append(t("report.summary.group", group=name, count=count))
    return parts


def summary_text(
    *,
    result: Headcount,
    t: Translator,
    tz: ZoneInfo,
    zone_names: Mapping[int, str],
    event_total: int | None = None,
) -> str:
    """The paragraph, ready to paste into a press release.

    `event_total` is everyone who came, in every zone: needed when `result` covers only a
    coordinator's zones (it is `result.total` otherwise).
    """
    event = result.event
    date = format_date(event.starts_at, lang=t.lang, tz=tz)
    where = {"title": event.title, "date": date, "venue": event.venue}
    total = result.total if event_total is None else event_total
    if total == 0:
        return t("report.summary.nobody", **where)
    parts = _join_parts(t, _parts(t, result, zone_names))
    if result.zone_limit is None:
        return t("report.summary.body", **where, total=total, parts=parts)
    zones = zones_phrase(t, result.zone_limit, zone_names)
    if result.total == 0:
        return t("report.summary.none_from_zones", **where, total=total, zones=zones)
    return t(
        "report.summary.zones_body",
        **where,
        total=total,
        zones=zones,
        share=result.total,
        parts=parts,
    )


def _join_parts(t: Translator, parts: Sequence[str]) -> str:
    """The groups one after another, as the ministry lists them (no "and" in Thai)."""
    if len(parts) <= 1:
        return "".join(parts)
    head = parts[0]
    for part in parts[1:-1]:
        head = t("report.summary.join", first=head, second=part)
    return t("report.summary.join_last", first=head, last=parts[-1])
