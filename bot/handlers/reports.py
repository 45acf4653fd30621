"""Reports for organisers: /headcount (with refresh and chart buttons), /summary and /export.

Handlers parse the update, call one use case (bot/usecases/reports.py) and render its result.
Buttons outside flows, each re-checked when pressed (the use case asks again who may see what):
  hc:<event>   an event picked from the list /headcount offers for an unknown argument
  hcr:<event>  refresh a headcount in place
  hcc:<event>  draw a headcount as a chart
  sm:<event>   an event picked for /summary
  ex:<event>   an event picked for /export
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import MessageLimit, ParseMode
from telegram.ext import CallbackQueryHandler

from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_MAIN
from bot.handlers.common import MESSAGE_LIMIT, reply_domain_error
from bot.handlers.dispatch import Callback
from bot.handlers.updates import args_of, message_of, parse_id, query_of
from bot.i18n import Translator, terms
from bot.i18n.dates import format_date, format_time
from bot.render.chart_data import ChartData
from bot.services.errors import DomainError
from bot.services.exports import ExportFiles
from bot.services.headcount import (
    AGENCY_ORDER,
    BUCKET_SECONDS,
    GROUP_OTHERS,
    GROUPS,
    OTHER_TYPES,
    ROLE_ORDER,
    Headcount,
    ZoneCount,
)
from bot.services.summary import summary_text, zone_label, zones_phrase
from bot.usecases import reports
from bot.usecases.reports import EventChoice, Labels, Summary

# Buttons: pick an event from a list, refresh a headcount in place, draw its chart.
PICK_HEADCOUNT = "hc:"
REFRESH = "hcr:"
CHART = "hcc:"
PICK_SUMMARY = "sm:"
PICK_EXPORT = "ex:"

# Districts listed per zone before the rest are folded into one line; tried in this order
# until the message fits Telegram's limit.
DISTRICT_CAPS = (12, 6, 3, 0)
ARRIVAL_SLOTS_SHOWN = 12
BAR_WIDTH = 10
CHART_SLOTS_MAX = 96
PICK_TITLE_CHARS = 40
VOLUNTEER_KEYWORDS = frozenset({"volunteers", "volunteer", "อาสา", "อาสาสมัคร"})

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Rendering


def zone_names(context: AsaContext) -> dict[int, str]:
    """Zone names from the zone file, in the person's language."""
    return {zone.number: zone.name(context.lang) for zone in context.runtime.geography.zones}


def _count_line(t: Translator, label: str, count: int) -> str:
    """One line of a table: "• label 12"."""
    return t("report.headcount.item", label=html.escape(label), count=count)


def _zone_lines(t: Translator, zone: ZoneCount, names: dict[int, str], cap: int) -> list[str]:
    """A zone's total, then its districts on one line (the biggest first, the rest folded)."""
    label = html.escape(zone_label(t, zone.zone, names))
    lines = [t("report.headcount.zone", zone=label, count=zone.count)]
    shown = zone.districts[:cap]
    rest = zone.districts[cap:]
    parts = [
        t("report.headcount.district", name=html.escape(d.name(t.lang)), count=d.count)
        for d in shown
    ]
    if rest:
        parts.append(
            t(
                "report.headcount.more_districts",
                districts=len(rest),
                count=sum(d.count for d in rest),
            )
        )
    if parts:
        lines.append("   " + " · ".join(parts))
    return lines


def _group_lines(t: Translator, result: Headcount) -> list[str]:
    """The three attendee groups; the third one's types on the line below it."""
    lines = []
    for group in GROUPS:
        lines.append(_count_line(t, t(terms.group(group)), result.groups.get(group, 0)))
        if group == GROUP_OTHERS and result.groups.get(group, 0):
            kinds = [
                t(
                    "report.headcount.district",
                    name=html.escape(t(terms.participant_type(kind))),
                    count=result.types.get(kind, 0),
                )
                for kind in OTHER_TYPES
            ]
            lines.append("   " + " · ".join(kinds))
    return lines


def _bar(count: int, biggest: int) -> str:
    """A little bar of block characters, proportional to the biggest slot."""
    if biggest <= 0 or count <= 0:
        return ""
    return "▇" * max(1, round(BAR_WIDTH * count / biggest))


def _arrival_lines(t: Translator, result: Headcount, tz: ZoneInfo) -> list[str]:
    """The latest slots of 15 minutes, earlier ones folded into one line."""
    lang = t.lang
    if not result.arrivals:
        return [t("report.headcount.no_arrivals")]
    earlier = result.arrivals[:-ARRIVAL_SLOTS_SHOWN]
    shown = result.arrivals[-ARRIVAL_SLOTS_SHOWN:]
    biggest = max(count for _, count in shown)
    lines = []
    if earlier:
        first = format_time(shown[0][0], lang=lang, tz=tz)
        lines.append(t("report.headcount.earlier", time=first, count=sum(c for _, c in earlier)))
    for slot, count in shown:
        clock = format_time(slot, lang=lang, tz=tz)
        lines.append(t("report.headcount.slot", time=clock, bar=_bar(count, biggest), count=count))
    return lines


def _attendance_lines(t: Translator, result: Headcount) -> list[str]:
    """Who is here, how they came (registered with the bot, or walked in), and the sign-ups."""
    lines = [
        t("report.headcount.now", present=result.present, late=result.late),
        t("report.headcount.how", registered=result.registered, walkins=result.walkins),
    ]
    # The capacity is the whole event's: beside one zone's sign-ups it would mislead.
    capacity = result.event.capacity if result.zone_limit is None else None
    values = {
        "signed_up": result.signed_up,
        "came": result.signed_up_arrived,
        "waiting": result.not_arrived,
    }
    if capacity:
        lines.append(t("report.headcount.signups", **values, capacity=capacity))
    else:
        lines.append(t("report.headcount.signups_open", **values))
    if result.checked_out:
        lines.append(t("report.headcount.left", arrived=result.arrived, left=result.checked_out))
    return lines


@dataclass(frozen=True)
class View:
    """How the reader sees a report: language, time zone, zone names, and the time now."""

    t: Translator
    tz: ZoneInfo
    names: dict[int, str]
    now: datetime

    @classmethod
    def of(cls, context: AsaContext) -> View:
        """The view of the person this update comes from."""
        return cls(context.t, context.settings.tz, zone_names(context), context.clock.now())


def headcount_text(*, result: Headcount, view: View, cap: int) -> str:
    """The whole headcount as one message (HTML), districts capped at `cap` per zone."""
    t, tz, names, now = view.t, view.tz, view.names, view.now
    event = result.event
    lines = [
        t("report.headcount.title", title=html.escape(event.title)),
        t(
            "report.headcount.when",
            date=format_date(event.starts_at, lang=t.lang, tz=tz, style="short"),
            venue=html.escape(event.venue),
            code=html.escape(event.code),
        ),
    ]
    if result.zone_limit is not None:
        zones = zones_phrase(t, result.zone_limit, names)
        lines.append(t("report.headcount.scope", zones=html.escape(zones)))
    lines += ["", *_attendance_lines(t, result)]
    lines += ["", t("report.headcount.by_group"), *_group_lines(t, result)]
    lines.append(t("report.headcount.total", count=result.total))
    lines += ["", t("report.headcount.by_role")]
    lines += [
        _count_line(t, t(terms.volunteer_role(r)), result.roles.get(r, 0)) for r in ROLE_ORDER
    ]
    lines += ["", t("report.headcount.by_zone")]
    for zone in result.zones:
        lines += _zone_lines(t, zone, names, cap)
    if not result.zones:
        lines.append(t("report.headcount.none"))
    if result.no_district:
        lines.append(t("report.headcount.no_district", count=result.no_district))
    if result.zone_limit is None:
        lines += ["", t("report.headcount.by_agency")]
        lines += [
            _count_line(t, t(terms.agency(a)), result.agencies.get(a, 0)) for a in AGENCY_ORDER
        ]
    lines += ["", t("report.headcount.arrivals")]
    lines += _arrival_lines(t, result, tz)
    lines += ["", t("report.headcount.as_of", time=format_time(now, lang=t.lang, tz=tz))]
    return "\n".join(lines)


def fitted_headcount_text(*, result: Headcount, view: View) -> str:
    """The headcount, with fewer districts per zone until it fits one Telegram message."""
    text = ""
    for cap in DISTRICT_CAPS:
        text = headcount_text(result=result, view=view, cap=cap)
        if len(text) <= MESSAGE_LIMIT:
            return text
    # Still too long (absurdly long names): cut whole lines, so no HTML tag is left open.
    kept: list[str] = []
    for line in text.splitlines():
        if sum(len(k) + 1 for k in kept) + len(line) + 1 > MESSAGE_LIMIT - 1:
            break
        kept.append(line)
    return "\n".join([*kept, "…"])


def headcount_keyboard(t: Translator, event_id: int) -> InlineKeyboardMarkup:
    """Refresh in place, or draw the chart."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t("report.button.refresh"), callback_data=f"{REFRESH}{event_id}"
                ),
                InlineKeyboardButton(t("report.button.chart"), callback_data=f"{CHART}{event_id}"),
            ]
        ]
    )


def events_keyboard(context: AsaContext, choice: EventChoice, prefix: str) -> InlineKeyboardMarkup:
    """One button per recent event: its short date and title."""
    tz, lang = context.settings.tz, context.lang
    rows = []
    for event in choice.events:
        date = format_date(event.starts_at, lang=lang, tz=tz, style="short")
        title = event.title
        if len(title) > PICK_TITLE_CHARS:
            title = title[: PICK_TITLE_CHARS - 1] + "…"
        rows.append(
            [InlineKeyboardButton(f"{date} · {title}", callback_data=f"{prefix}{event.id}")]
        )
    return InlineKeyboardMarkup(rows)


def chart_data(result: Headcount, t: Translator, tz: ZoneInfo, names: dict[int, str]) -> ChartData:
    """The chart's labels (plain text, no markup) and values in the person's language."""
    return ChartData(
        title=t("report.chart.title", title=result.event.title),
        groups_title=t("report.chart.groups"),
        groups=[(t(terms.group(g)), result.groups.get(g, 0)) for g in GROUPS],
        zones_title=t("report.chart.zones"),
        zones=[(zone_label(t, z.zone, names), z.count) for z in result.zones],
        arrivals_title=t("report.chart.arrivals"),
        arrivals=[
            (format_time(slot, lang=t.lang, tz=tz), count) for slot, count in _filled(result)
        ],
        empty_text=t("report.chart.empty"),
    )


def _filled(result: Headcount) -> list[tuple[datetime, int]]:
    """Arrivals with the empty slots between the first and the last put back as zero."""
    if not result.arrivals:
        return []
    first, last = result.arrivals[0][0], result.arrivals[-1][0]
    slots = int((last - first).total_seconds()) // BUCKET_SECONDS + 1
    if slots > CHART_SLOTS_MAX:
        # A long event: keep only the slots people arrived in.
        return list(result.arrivals)
    counts = dict(result.arrivals)
    step = timedelta(seconds=BUCKET_SECONDS)
    return [(first + i * step, counts.get(first + i * step, 0)) for i in range(slots)]


def summary_of(context: AsaContext, found: Summary) -> str:
    """The press paragraph in the person's language."""
    return summary_text(
        result=found.headcount,
        t=context.t,
        tz=context.settings.tz,
        zone_names=zone_names(context),
        event_total=found.event_total,
    )


# ---------------------------------------------------------------------------------------------
# Answering


def _argument(context: AsaContext) -> str:
    """The command's argument (an event's code or number), cleaned."""
    return " ".join(args_of(context))


async def _for_command(
    update: Update, context: AsaContext, prefix: str, work: Awaitable[T | EventChoice]
) -> T | None:
    """A command's use case; None when the person has had their answer already: a refusal,
    or (the argument named no event) the recent events as `prefix` buttons."""
    try:
        found = await work
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return None
    if isinstance(found, EventChoice):
        await message_of(update).reply_text(
            context.t("report.pick_event"), reply_markup=events_keyboard(context, found, prefix)
        )
        return None
    return found


async def _for_button(
    update: Update, context: AsaContext, prefix: str, work: Callable[[int], Awaitable[T]]
) -> T | None:
    """`work(event id)` for a pressed button, which the use case re-checks; None when the
    presser has had their answer already (a stale button, or a refusal)."""
    query, data = query_of(update)
    event_id = parse_id(data.removeprefix(prefix))
    if event_id is None:
        await query.answer(context.t("error.stale_button"))
        return None
    try:
        return await work(event_id)
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return None


async def _show_headcount(update: Update, context: AsaContext, result: Headcount) -> bool:
    """Show a headcount in the pressed message; False when nothing changed."""
    query, _ = query_of(update)
    text = fitted_headcount_text(result=result, view=View.of(context))
    edited = await query.edit_message_text(
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=headcount_keyboard(context.t, result.event.id),
    )
    # False: Telegram said "not modified" (bot/telegram_bot.py).
    return edited is not False


def _labels(context: AsaContext) -> Labels:
    """The reader's words for an export."""
    return Labels(t=context.t, tz=context.settings.tz, zone_names=zone_names(context))


# ---------------------------------------------------------------------------------------------
# /headcount


async def headcount_command(update: Update, context: AsaContext) -> None:
    """/headcount [event]: the live headcount, with refresh and chart buttons."""
    work = reports.headcount(
        context.db, actor=context.actor, argument=_argument(context), now=context.clock.now()
    )
    result = await _for_command(update, context, PICK_HEADCOUNT, work)
    if result is None:
        return
    await message_of(update).reply_text(
        fitted_headcount_text(result=result, view=View.of(context)),
        parse_mode=ParseMode.HTML,
        reply_markup=headcount_keyboard(context.t, result.event.id),
    )


async def _pressed_headcount(update: Update, context: AsaContext, prefix: str) -> Headcount | None:
    """The headcount a button asks for, the presser's rights checked now; None when refused."""

    async def counted(event_id: int) -> Headcount:
        return await reports.headcount_of(context.db, actor=context.actor, event_id=event_id)

    return await _for_button(update, context, prefix, counted)


async def headcount_picked(update: Update, context: AsaContext) -> None:
    """An event chosen from the list: the list becomes its headcount."""
    query, _ = query_of(update)
    result = await _pressed_headcount(update, context, PICK_HEADCOUNT)
    if result is None:
        return
    await query.answer()
    await _show_headcount(update, context, result)


async def refresh_pressed(update: Update, context: AsaContext) -> None:
    """Refresh: recount and update the same message in place."""
    query, _ = query_of(update)
    result = await _pressed_headcount(update, context, REFRESH)
    if result is None:
        return
    changed = await _show_headcount(update, context, result)
    key = "report.headcount.refreshed" if changed else "report.headcount.no_change"
    await query.answer(context.t(key))


async def chart_pressed(update: Update, context: AsaContext) -> None:
    """Chart: render the headcount as a PNG and send it as a photo."""
    query, _ = query_of(update)
    result = await _pressed_headcount(update, context, CHART)
    if result is None:
        return
    await query.answer(context.t("report.chart.drawing"))
    data = chart_data(result, context.t, context.settings.tz, zone_names(context))
    # Rendering takes a few hundred milliseconds of CPU: keep the event loop free meanwhile.
    # matplotlib costs about 40 MiB; load it on the first chart, not at start-up.
    from bot.render.chart import render_headcount_chart

    png = await asyncio.to_thread(render_headcount_chart, data)
    caption = context.t("report.chart.caption", title=result.event.title, count=result.total)
    await context.bot.send_photo(
        chat_id=context.actor.telegram_id,
        photo=png,
        filename=f"headcount-{result.event.code}.png",
        caption=caption[: MessageLimit.CAPTION_LENGTH],
    )


# ---------------------------------------------------------------------------------------------
# /summary


async def summary_command(update: Update, context: AsaContext) -> None:
    """/summary [event]: a paragraph ready to paste into a press release."""
    work = reports.summary(
        context.db, actor=context.actor, argument=_argument(context), now=context.clock.now()
    )
    found = await _for_command(update, context, PICK_SUMMARY, work)
    if found is not None:
        await message_of(update).reply_text(summary_of(context, found))


async def summary_picked(update: Update, context: AsaContext) -> None:
    """An event chosen from the list: the list becomes its summary."""
    query, _ = query_of(update)

    async def summed(event_id: int) -> Summary:
        return await reports.summary_of(context.db, actor=context.actor, event_id=event_id)

    found = await _for_button(update, context, PICK_SUMMARY, summed)
    if found is None:
        return
    await query.answer()
    await query.edit_message_text(summary_of(context, found))


# ---------------------------------------------------------------------------------------------
# /export


async def _send_files(context: AsaContext, files: ExportFiles, caption: str) -> None:
    """The CSV and the XLSX, as two documents in the person's chat."""
    for data, suffix in ((files.csv, "csv"), (files.xlsx, "xlsx")):
        await context.bot.send_document(
            chat_id=context.actor.telegram_id,
            document=data,
            filename=f"{files.stem}.{suffix}",
            caption=caption[: MessageLimit.CAPTION_LENGTH],
        )


def _attendees_caption(context: AsaContext, files: ExportFiles) -> str:
    """What an attendee export is."""
    return context.t("report.export.caption", title=files.title, count=files.rows)


async def export_command(update: Update, context: AsaContext) -> None:
    """/export [event | volunteers]: attendees (or the volunteer roster) as CSV and XLSX."""
    argument = _argument(context)
    actor, now, labels = context.actor, context.clock.now(), _labels(context)
    if argument.lower() in VOLUNTEER_KEYWORDS:
        roster = await _for_command(
            update,
            context,
            PICK_EXPORT,
            reports.export_volunteers(context.db, actor=actor, labels=labels, now=now),
        )
        if roster is not None:
            caption = context.t("report.export.roster_caption", count=roster.rows)
            await _send_files(context, roster, caption)
        return
    work = reports.export_event(context.db, actor=actor, argument=argument, labels=labels, now=now)
    files = await _for_command(update, context, PICK_EXPORT, work)
    if files is not None:
        await _send_files(context, files, _attendees_caption(context, files))


async def export_picked(update: Update, context: AsaContext) -> None:
    """An event chosen from the list: send its export."""
    query, _ = query_of(update)

    async def exported(event_id: int) -> ExportFiles:
        return await reports.export_event_of(
            context.db,
            actor=context.actor,
            event_id=event_id,
            labels=_labels(context),
            now=context.clock.now(),
        )

    files = await _for_button(update, context, PICK_EXPORT, exported)
    if files is None:
        return
    caption = _attendees_caption(context, files)
    await query.answer()
    await query.edit_message_text(caption)
    await _send_files(context, files, caption)


# ---------------------------------------------------------------------------------------------
# Wiring

Button = Callable[[Update, AsaContext], Coroutine[Any, Any, None]]

COMMANDS: dict[str, Callback] = {
    "headcount": headcount_command,
    "summary": summary_command,
    "export": export_command,
}


def register(application: AsaApplication) -> None:
    """The report buttons (stateless, re-checked when pressed)."""
    buttons: tuple[tuple[str, Button], ...] = (
        (PICK_HEADCOUNT, headcount_picked),
        (REFRESH, refresh_pressed),
        (CHART, chart_pressed),
        (PICK_SUMMARY, summary_picked),
        (PICK_EXPORT, export_picked),
    )
    application.add_handlers(
        [CallbackQueryHandler(callback, pattern=f"^{prefix}") for prefix, callback in buttons],
        group=GROUP_MAIN,
    )
