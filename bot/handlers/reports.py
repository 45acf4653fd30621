"""Reports for organisers: /headcount (with refresh and chart buttons), /summary and /export."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.context import AsaApplication, AsaContext
from bot.handlers import GROUP_MAIN
from bot.handlers.common import reply_domain_error, sender_access
from bot.handlers.updates import message_of, query_of, user_of
from bot.i18n import Translator
from bot.i18n.dates import format_date, format_time
from bot.render.chart_data import ChartData
from bot.services import exports
from bot.services import headcount as counting
from bot.services.access import Access, Capability
from bot.services.errors import DomainError
from bot.services.headcount import (
    AGENCY_ORDER,
    BUCKET_SECONDS,
    GROUPS,
    ROLE_ORDER,
    EventNotFound,
    Headcount,
    ZoneCount,
)
from bot.services.startup import geography
from bot.services.summary import summary_text, zone_label
from storage.models import Event

# Buttons: pick an event from a list, refresh a headcount in place, draw its chart.
PICK_HEADCOUNT = "hc:"
REFRESH = "hcr:"
CHART = "hcc:"
PICK_SUMMARY = "sm:"
PICK_EXPORT = "ex:"
EVENT_ID = r"(\d{1,9})$"

MESSAGE_LIMIT = 4096
# Districts listed per zone before the rest are folded into one line; tried in this order
# until the message fits Telegram's limit.
DISTRICT_CAPS = (12, 6, 3, 0)
ARRIVAL_SLOTS_SHOWN = 12
BAR_WIDTH = 10
CHART_SLOTS_MAX = 96
VOLUNTEER_KEYWORDS = frozenset({"volunteers", "volunteer", "อาสา", "อาสาสมัคร"})


# ---------------------------------------------------------------------------------------------
# Rendering


def zone_names(context: AsaContext) -> dict[int, str]:
    """Zone names from the zone file, in the person's language."""
    return {zone.number: zone.name(context.lang) for zone in geography(context.runtime).zones}


def _count_line(t: Translator, key: str, count: int) -> str:
    """One line of a table: "• label 12"."""
    return t("report.headcount.item", label=t(key), count=count)


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
        zones = ", ".join(zone_label(t, z, names) for z in sorted(result.zone_limit))
        lines.append(t("report.headcount.scope", zones=html.escape(zones or "-")))
    capacity = str(event.capacity) if event.capacity else t("report.headcount.no_limit")
    lines += [
        "",
        t(
            "report.headcount.now",
            present=result.present,
            registered=result.registered,
            capacity=capacity,
        ),
        t(
            "report.headcount.extra",
            walkins=result.walkins,
            late=result.late,
            waiting=result.not_arrived,
        ),
    ]
    if result.checked_out:
        lines.append(t("report.headcount.left", arrived=result.arrived, left=result.checked_out))
    lines += ["", t("report.headcount.by_group")]
    lines += [_count_line(t, f"report.group.{g}", result.groups.get(g, 0)) for g in GROUPS]
    lines.append(t("report.headcount.total", count=result.total))
    lines += ["", t("report.headcount.by_role")]
    lines += [_count_line(t, f"report.role.{r}", result.roles.get(r, 0)) for r in ROLE_ORDER]
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
            _count_line(t, f"report.agency.{a}", result.agencies.get(a, 0)) for a in AGENCY_ORDER
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


def events_keyboard(
    t: Translator, events: Sequence[Event], prefix: str, context: AsaContext
) -> InlineKeyboardMarkup:
    """One button per recent event: its short date and title."""
    tz = context.settings.tz
    rows = []
    for event in events:
        date = format_date(event.starts_at, lang=t.lang, tz=tz, style="short")
        title = event.title if len(event.title) <= 40 else event.title[:39] + "…"
        rows.append(
            [InlineKeyboardButton(f"{date} · {title}", callback_data=f"{prefix}{event.id}")]
        )
    return InlineKeyboardMarkup(rows)


def chart_data(result: Headcount, t: Translator, tz: ZoneInfo, names: dict[int, str]) -> ChartData:
    """The chart's labels (plain text, no markup) and values in the person's language."""
    return ChartData(
        title=t("report.chart.title", title=result.event.title),
        groups_title=t("report.chart.groups"),
        groups=[(t(f"report.group.{g}"), result.groups.get(g, 0)) for g in GROUPS],
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


# ---------------------------------------------------------------------------------------------
# Commands


async def _choose_event(
    update: Update,
    context: AsaContext,
    session: AsyncSession,
    prefix: str,
) -> Event | None:
    """The event the command names; on an unknown argument, offer recent events instead."""
    argument = " ".join(context.args or [])
    now = context.clock.now()
    try:
        return await counting.find_event(session=session, argument=argument, now=now)
    except EventNotFound:
        events = await counting.recent_events(session=session, now=now)
        t = context.t
        if not events:
            await message_of(update).reply_text(t("report.no_events"))
            return None
        await message_of(update).reply_text(
            t("report.pick_event"), reply_markup=events_keyboard(t, events, prefix, context)
        )
        return None


async def headcount_command(update: Update, context: AsaContext) -> None:
    """/headcount [event]: the live headcount, with refresh and chart buttons."""
    async with context.sessions() as session:
        access = await sender_access(update, context, session)
        try:
            access.require(Capability.VIEW_HEADCOUNT)
            event = await _choose_event(update, context, session, PICK_HEADCOUNT)
            if event is None or event.id is None:
                return
            result = await counting.headcount(session=session, access=access, event_id=event.id)
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    await message_of(update).reply_text(
        fitted_headcount_text(result=result, view=View.of(context)),
        parse_mode=ParseMode.HTML,
        reply_markup=headcount_keyboard(context.t, event.id),
    )


def _event_id(data: str, prefix: str) -> int:
    """The event number a button carries (its pattern guarantees digits)."""
    return int(data.removeprefix(prefix))


async def _pressed_headcount(update: Update, context: AsaContext, prefix: str) -> Headcount | None:
    """The headcount a button asks for, re-checking the presser's permission now."""
    _, data = query_of(update)
    async with context.sessions() as session:
        access = await sender_access(update, context, session)
        try:
            return await counting.headcount(
                session=session, access=access, event_id=_event_id(data, prefix)
            )
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return None


async def _edit_headcount(update: Update, context: AsaContext, result: Headcount) -> bool:
    """Show a headcount in the pressed message; False when nothing changed."""
    query, data = query_of(update)
    event_id = int(data.split(":", 1)[1])
    text = fitted_headcount_text(result=result, view=View.of(context))
    try:
        await query.edit_message_text(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=headcount_keyboard(context.t, event_id),
        )
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise
        return False
    return True


async def refresh_pressed(update: Update, context: AsaContext) -> None:
    """Refresh: recount and update the same message in place."""
    query, _ = query_of(update)
    result = await _pressed_headcount(update, context, REFRESH)
    if result is None:
        return
    changed = await _edit_headcount(update, context, result)
    key = "report.headcount.refreshed" if changed else "report.headcount.no_change"
    await query.answer(context.t(key))


async def headcount_picked(update: Update, context: AsaContext) -> None:
    """An event chosen from the list: the list becomes its headcount."""
    query, _ = query_of(update)
    result = await _pressed_headcount(update, context, PICK_HEADCOUNT)
    if result is None:
        return
    await _edit_headcount(update, context, result)
    await query.answer()


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
    await context.bot.send_photo(
        chat_id=user_of(update).id,
        photo=png,
        filename=f"headcount-{result.event.code}.png",
        caption=context.t("report.chart.caption", title=result.event.title, count=result.total)[
            :1024
        ],
    )


# ---------------------------------------------------------------------------------------------
# /summary


async def _summary_for(
    update: Update, context: AsaContext, session: AsyncSession, event_id: int
) -> str:
    """The press-release paragraph for an event, within the sender's reach."""
    access = await sender_access(update, context, session)
    result = await counting.headcount(session=session, access=access, event_id=event_id)
    return summary_text(
        result=result, t=context.t, tz=context.settings.tz, zone_names=zone_names(context)
    )


async def summary_command(update: Update, context: AsaContext) -> None:
    """/summary [event]: a paragraph ready to paste into a press release."""
    async with context.sessions() as session:
        try:
            (await sender_access(update, context, session)).require(Capability.VIEW_HEADCOUNT)
            event = await _choose_event(update, context, session, PICK_SUMMARY)
            if event is None or event.id is None:
                return
            text = await _summary_for(update, context, session, event.id)
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    await message_of(update).reply_text(text)


async def summary_picked(update: Update, context: AsaContext) -> None:
    """An event chosen from the list: the list becomes its summary."""
    query, data = query_of(update)
    async with context.sessions() as session:
        try:
            text = await _summary_for(update, context, session, _event_id(data, PICK_SUMMARY))
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    await query.answer()
    await query.edit_message_text(text)


# ---------------------------------------------------------------------------------------------
# /export


async def _send_files(
    update: Update, context: AsaContext, files: exports.ExportFiles, caption: str
) -> None:
    """The CSV and the XLSX, as two documents in the chat."""
    # Reports are private-chat only, where the chat is the person.
    chat_id = user_of(update).id
    for data, suffix in ((files.csv, "csv"), (files.xlsx, "xlsx")):
        await context.bot.send_document(
            chat_id=chat_id, document=data, filename=f"{files.stem}.{suffix}", caption=caption
        )


async def _export_event(
    update: Update, context: AsaContext, session: AsyncSession, access: Access, event_id: int
) -> tuple[exports.ExportFiles, str]:
    """Build an event's attendee export; the caption that goes with it."""
    files = await exports.export_attendees(
        session=session,
        access=access,
        event_id=event_id,
        t=context.t,
        tz=context.settings.tz,
        zone_names=zone_names(context),
        now=context.clock.now(),
    )
    return files, context.t("report.export.caption", title=files.title, count=files.rows)


async def export_command(update: Update, context: AsaContext) -> None:
    """/export [event | volunteers]: attendees (or the volunteer roster) as CSV and XLSX."""
    argument = " ".join(context.args or []).strip().lower()
    async with context.sessions() as session:
        access = await sender_access(update, context, session)
        try:
            access.require(Capability.EXPORT)
            if argument in VOLUNTEER_KEYWORDS:
                files = await exports.export_volunteers(
                    session=session,
                    access=access,
                    t=context.t,
                    tz=context.settings.tz,
                    zone_names=zone_names(context),
                    now=context.clock.now(),
                )
                caption = context.t("report.export.roster_caption", count=files.rows)
            else:
                event = await _choose_event(update, context, session, PICK_EXPORT)
                if event is None or event.id is None:
                    return
                files, caption = await _export_event(update, context, session, access, event.id)
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    await _send_files(update, context, files, caption)


async def export_picked(update: Update, context: AsaContext) -> None:
    """An event chosen from the list: send its export."""
    query, data = query_of(update)
    async with context.sessions() as session:
        access = await sender_access(update, context, session)
        try:
            files, caption = await _export_event(
                update, context, session, access, _event_id(data, PICK_EXPORT)
            )
        except DomainError as error:
            await reply_domain_error(update, context, error)
            return
    await query.answer()
    await query.edit_message_text(caption)
    await _send_files(update, context, files, caption)


def _pattern(prefix: str) -> str:
    """The callback pattern of a button family: the prefix and an event number."""
    return f"^{prefix}{EVENT_ID}"


# Answered by this module's own handlers until it moves to the command registry.
LEGACY_COMMANDS = frozenset({"headcount", "summary", "export"})


def register(application: AsaApplication) -> None:
    """Register the reports handlers."""
    callbacks: list[tuple[str, Callable[[Update, AsaContext], Coroutine[Any, Any, None]]]] = [
        (PICK_HEADCOUNT, headcount_picked),
        (REFRESH, refresh_pressed),
        (CHART, chart_pressed),
        (PICK_SUMMARY, summary_picked),
        (PICK_EXPORT, export_picked),
    ]
    application.add_handlers(
        [
            CommandHandler("headcount", headcount_command),
            CommandHandler("summary", summary_command),
            CommandHandler("export", export_command),
            *(CallbackQueryHandler(callback, pattern=_pattern(p)) for p, callback in callbacks),
        ],
        group=GROUP_MAIN,
    )
