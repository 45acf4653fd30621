"""/broadcast (audience, text, preview, now or later, confirm), /announcements, RSVP buttons.

The conversation keeps its draft in `user_data` (persisted), writes nothing to real tables
before the final confirmation, and every button press is checked against the live message of
the draft, so a button from an old message gets a short answer and changes nothing.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from typing import Any, cast

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.context import AsaApplication, AsaContext
from bot.delivery import reminders, scheduler
from bot.handlers import GROUP_MAIN
from bot.handlers.common import reply_domain_error, sender_access
from bot.handlers.updates import message_of, query_of, trailing_id, user_of
from bot.i18n import Translator, translator
from bot.i18n.dates import DateParseError, format_datetime, parse_datetime
from bot.services import announcements, audiences
from bot.services.access import Access, Capability
from bot.services.audiences import AudienceKind
from bot.services.errors import DomainError
from bot.services.startup import geography
from storage.models import ParticipantType, VolunteerRole

_log = logging.getLogger(__name__)

CHOOSING_KIND = "broadcast.kind"
CHOOSING_VALUES = "broadcast.values"
WRITING = "broadcast.text"
PREVIEWING = "broadcast.preview"
TIMING = "broadcast.time"
CONFIRMING = "broadcast.confirm"
RESCHEDULING = "announcements.time"

DRAFT_KEY = "broadcast_draft"
RESCHEDULE_KEY = "reschedule_draft"

# Callback data (opaque, short): "bc:k:<kind>", "bc:v:<index>", "bc:done", "bc:now",
# "bc:later", "bc:edit", "bc:yes", "bc:no"; "ann:c:<id>", "ann:r:<id>"; "rsvp:y|n:<event>".
PREFIX = "bc:"
ANN_PREFIX = "ann:"
MAX_EVENTS_OFFERED = 10
TICK = "✅ "


# -- helpers ---------------------------------------------------------------------------------


def _draft(context: AsaContext) -> dict[str, Any]:
    """The broadcast being written (persisted with the person's user data)."""
    if context.user_data is None:
        return {}
    draft: dict[str, Any] = context.user_data.setdefault(DRAFT_KEY, {})
    return draft


def _forget(context: AsaContext) -> None:
    """Drop the drafts."""
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)
        context.user_data.pop(RESCHEDULE_KEY, None)


async def _access(update: Update, context: AsaContext) -> Access:
    """What the sender may do, freshly read."""
    async with context.sessions() as session:
        return await sender_access(update, context, session)


def _button(text: str, data: str) -> InlineKeyboardButton:
    """An inline button."""
    return InlineKeyboardButton(text, callback_data=data)


async def _is_live(update: Update, context: AsaContext) -> bool:
    """Whether the pressed button belongs to the draft's current message; answer if not."""
    query, _ = query_of(update)
    live = _draft(context).get("message_id")
    if query.message is None or live is None or query.message.message_id != live:
        await query.answer(context.t("error.stale_button"))
        return False
    return True


async def _show(
    update: Update, context: AsaContext, text: str, keyboard: list[list[InlineKeyboardButton]]
) -> None:
    """Send a step's message with its buttons, and remember it as the live one."""
    sent = await message_of(update).reply_text(text, reply_markup=InlineKeyboardMarkup(keyboard))
    _draft(context)["message_id"] = sent.message_id


async def _retire(update: Update) -> None:
    """Take the buttons off the message just pressed (they must not be pressed twice)."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        _log.debug("could not remove buttons", exc_info=True)


def _kinds_for(access: Access) -> list[AudienceKind]:
    """The audience kinds this person may choose (coordinators: their own zones only)."""
    if access.zone_limit() is not None:
        return [AudienceKind.ZONES, AudienceKind.DISTRICTS]
    return [
        AudienceKind.EVERYONE,
        AudienceKind.ZONES,
        AudienceKind.DISTRICTS,
        AudienceKind.ROLES,
        AudienceKind.TYPES,
        AudienceKind.EVENT,
        AudienceKind.EVENT_ABSENT,
    ]


async def _options(
    context: AsaContext, kind: AudienceKind, access: Access
) -> list[tuple[Any, str]]:
    """The values a person can pick for a kind: (value, label)."""
    t, geo = context.t, geography(context.runtime)
    limit = access.zone_limit()
    if kind is AudienceKind.ZONES:
        return [(z.number, z.name(t.lang)) for z in geo.zones if limit is None or z.number in limit]
    if kind is AudienceKind.DISTRICTS:
        return [
            (d.code, d.name(t.lang))
            for d in geo.districts
            if limit is None or (d.zone is not None and d.zone in limit)
        ]
    if kind is AudienceKind.ROLES:
        return [(r.value, t(f"broadcast.role.{r.value}")) for r in VolunteerRole]
    if kind is AudienceKind.TYPES:
        return [(p.value, t(f"broadcast.type.{p.value}")) for p in ParticipantType]
    tz = context.settings.tz
    async with context.sessions() as session:
        events = await audiences.event_choices(
            session=session, now=context.clock.now(), limit=MAX_EVENTS_OFFERED
        )
    return [
        (
            e.id,
            f"{e.title[:40]} · " + format_datetime(e.starts_at, lang=t.lang, tz=tz, style="short"),
        )
        for e in events
    ]


def _spec(draft: dict[str, Any]) -> dict[str, Any]:
    """The audience spec of the draft."""
    kind = draft["kind"]
    if kind in (AudienceKind.EVENT, AudienceKind.EVENT_ABSENT):
        return {"kind": kind, "event_id": draft.get("event_id")}
    if kind == AudienceKind.EVERYONE:
        return {"kind": kind}
    return {"kind": kind, "values": list(draft.get("values", []))}


def describe(spec: dict[str, Any], t: Translator, labels: dict[str, str] | None = None) -> str:
    """The audience in words: "Zone 3, Zone 4", "Registrants of ..."."""
    kind = spec.get("kind", "")
    shown = ", ".join((labels or {}).get(str(v), str(v)) for v in spec.get("values", []))
    if kind in (AudienceKind.EVENT, AudienceKind.EVENT_ABSENT):
        shown = (labels or {}).get(str(spec.get("event_id")), f"#{spec.get('event_id')}")
    return t(f"broadcast.audience.{kind}", values=shown)


async def _labels(context: AsaContext, spec: dict[str, Any]) -> dict[str, str]:
    """Names for the values in a spec (zones, districts, roles, types, an event)."""
    t, geo = context.t, geography(context.runtime)
    labels: dict[str, str] = {}
    for zone in geo.zones:
        labels[str(zone.number)] = zone.name(t.lang)
    for role in VolunteerRole:
        labels[role.value] = t(f"broadcast.role.{role.value}")
    for ptype in ParticipantType:
        labels[ptype.value] = t(f"broadcast.type.{ptype.value}")
    async with context.sessions() as session:
        labels.update(await audiences.labels(session=session, spec=spec, lang=t.lang))
    return labels


# -- /broadcast ------------------------------------------------------------------------------


async def broadcast_command(update: Update, context: AsaContext) -> str | int:
    """Start a broadcast: who may, and to whom."""
    access = await _access(update, context)
    if not access.can(Capability.BROADCAST):
        await message_of(update).reply_text(context.t("error.not_allowed"))
        return ConversationHandler.END
    limit = access.zone_limit()
    if limit is not None and not limit:
        await message_of(update).reply_text(context.t("broadcast.no_zones"))
        return ConversationHandler.END
    _forget(context)
    kinds = _kinds_for(access)
    keyboard = [
        [_button(context.t(f"broadcast.kind.{k.value}"), f"{PREFIX}k:{k.value}")] for k in kinds
    ]
    keyboard.append([_button(context.t("broadcast.button.cancel"), f"{PREFIX}no")])
    await _show(update, context, context.t("broadcast.choose_kind"), keyboard)
    return CHOOSING_KIND


async def kind_chosen(update: Update, context: AsaContext) -> str | int:
    """An audience kind: everyone goes straight to the text; the others ask for values."""
    if not await _is_live(update, context):
        return CHOOSING_KIND
    _, data = query_of(update)
    access = await _access(update, context)
    try:
        kind = AudienceKind(data.removeprefix(f"{PREFIX}k:"))
    except ValueError:
        kind = None
    if kind is None or kind not in _kinds_for(access):
        await query_of(update)[0].answer(context.t("error.stale_button"))
        return CHOOSING_KIND
    await _retire(update)
    draft = _draft(context)
    draft.update(kind=kind.value, values=[])
    if kind is AudienceKind.EVERYONE:
        return await _ask_text(update, context)
    options = await _options(context, kind, access)
    if not options:
        await message_of(update).reply_text(context.t(f"broadcast.none.{kind.value}"))
        return await broadcast_command(update, context)
    draft["options"] = [value for value, _ in options]
    draft["labels"] = [label for _, label in options]
    await _show_values(update, context, edit=False)
    return CHOOSING_VALUES


async def _show_values(update: Update, context: AsaContext, *, edit: bool) -> None:
    """The value buttons (ticked when chosen) and, for lists, a Done button."""
    draft = _draft(context)
    single = draft["kind"] in (AudienceKind.EVENT, AudienceKind.EVENT_ABSENT)
    chosen = set(draft.get("values", []))
    buttons = [
        _button(f"{TICK if value in chosen else ''}{label}", f"{PREFIX}v:{index}")
        for index, (value, label) in enumerate(zip(draft["options"], draft["labels"], strict=True))
    ]
    width = 1 if single else 2
    keyboard = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    if not single:
        keyboard.append([_button(context.t("broadcast.button.done"), f"{PREFIX}done")])
    keyboard.append([_button(context.t("broadcast.button.cancel"), f"{PREFIX}no")])
    text = context.t(f"broadcast.choose.{draft['kind']}")
    if edit:
        query, _ = query_of(update)
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=InlineKeyboardMarkup(keyboard))
        return
    await _show(update, context, text, keyboard)


async def value_pressed(update: Update, context: AsaContext) -> str | int:
    """Toggle a zone, district, role or type; an event is chosen at once."""
    if not await _is_live(update, context):
        return CHOOSING_VALUES
    _, data = query_of(update)
    draft = _draft(context)
    index_text = data.removeprefix(f"{PREFIX}v:")
    options = draft.get("options", [])
    if not index_text.isdigit() or int(index_text) >= len(options):
        await query_of(update)[0].answer(context.t("error.stale_button"))
        return CHOOSING_VALUES
    value = options[int(index_text)]
    if draft["kind"] in (AudienceKind.EVENT, AudienceKind.EVENT_ABSENT):
        draft["event_id"] = value
        await _retire(update)
        return await _ask_text(update, context)
    values: list[Any] = draft.setdefault("values", [])
    if value in values:
        values.remove(value)
    else:
        values.append(value)
    await _show_values(update, context, edit=True)
    return CHOOSING_VALUES


async def values_done(update: Update, context: AsaContext) -> str | int:
    """The choice of zones, districts, roles or types is complete."""
    if not await _is_live(update, context):
        return CHOOSING_VALUES
    if not _draft(context).get("values"):
        await query_of(update)[0].answer(context.t("broadcast.choose_one"), show_alert=True)
        return CHOOSING_VALUES
    await _retire(update)
    return await _ask_text(update, context)


async def _ask_text(update: Update, context: AsaContext) -> str | int:
    """Check the audience against the rules, then ask for the message."""
    draft = _draft(context)
    access = await _access(update, context)
    try:
        async with context.sessions() as session:
            draft["count"] = await announcements.preview_count(
                session=session, access=access, audience=_spec(draft)
            )
    except DomainError as error:
        await message_of(update).reply_text(context.t(error.key, **error.values))
        _forget(context)
        return ConversationHandler.END
    draft.pop("message_id", None)
    await message_of(update).reply_text(
        context.t("broadcast.write", limit=announcements.MAX_TEXT_CHARS)
    )
    return WRITING


async def text_written(update: Update, context: AsaContext) -> str:
    """The message: kept with its formatting, then shown exactly as recipients will see it."""
    message = message_of(update)
    text = message.text or ""
    try:
        announcements.check_text(text)
    except DomainError as error:
        await message.reply_text(context.t(error.key, **error.values))
        return WRITING
    draft = _draft(context)
    draft["text"] = text
    draft["entities"] = [entity.to_dict() for entity in message.entities]
    return await _preview(update, context)


async def _preview(update: Update, context: AsaContext) -> str:
    """The message as recipients will see it, then who gets it and what to do."""
    draft = _draft(context)
    message = message_of(update)
    await message.reply_text(
        draft["text"],
        entities=[MessageEntity.de_json(e, context.bot) for e in draft.get("entities", [])],
    )
    spec = _spec(draft)
    summary = context.t(
        "broadcast.preview",
        audience=describe(spec, context.t, await _labels(context, spec)),
        count=draft.get("count", 0),
    )
    keyboard = [
        [
            _button(context.t("broadcast.button.now"), f"{PREFIX}now"),
            _button(context.t("broadcast.button.later"), f"{PREFIX}later"),
        ],
        [
            _button(context.t("broadcast.button.edit"), f"{PREFIX}edit"),
            _button(context.t("broadcast.button.cancel"), f"{PREFIX}no"),
        ],
    ]
    await _show(update, context, summary, keyboard)
    return PREVIEWING


async def send_now_chosen(update: Update, context: AsaContext) -> str:
    """Send now: ask for the final confirmation."""
    if not await _is_live(update, context):
        return PREVIEWING
    await _retire(update)
    draft = _draft(context)
    draft.pop("send_at", None)
    return await _ask_confirm(update, context)


async def later_chosen(update: Update, context: AsaContext) -> str:
    """Send later: ask for the time."""
    if not await _is_live(update, context):
        return PREVIEWING
    await _retire(update)
    _draft(context).pop("message_id", None)
    await message_of(update).reply_text(context.t("broadcast.ask_time"))
    return TIMING


async def edit_chosen(update: Update, context: AsaContext) -> str:
    """Write the text again."""
    if not await _is_live(update, context):
        return PREVIEWING
    await _retire(update)
    _draft(context).pop("message_id", None)
    await message_of(update).reply_text(
        context.t("broadcast.write", limit=announcements.MAX_TEXT_CHARS)
    )
    return WRITING


def _parse_future(context: AsaContext, text: str) -> tuple[datetime | None, str | None]:
    """A future moment from what was typed, or the key of the reason it is not one."""
    try:
        moment = parse_datetime(text, tz=context.settings.tz)
    except DateParseError as error:
        return None, f"broadcast.time.{error.reason}"
    if moment <= context.clock.now():
        return None, "broadcast.error.in_past"
    return moment, None


async def time_typed(update: Update, context: AsaContext) -> str:
    """The time to send at: checked, then confirmed."""
    moment, problem = _parse_future(context, message_of(update).text or "")
    if problem is not None or moment is None:
        await message_of(update).reply_text(context.t(problem or "broadcast.time.unrecognised"))
        return TIMING
    _draft(context)["send_at"] = moment.isoformat()
    return await _ask_confirm(update, context)


async def _ask_confirm(update: Update, context: AsaContext) -> str:
    """The last question: send (or schedule) this to these people?"""
    draft = _draft(context)
    send_at = draft.get("send_at")
    if send_at:
        when = format_datetime(
            datetime.fromisoformat(send_at), lang=context.lang, tz=context.settings.tz
        )
        text = context.t("broadcast.confirm_later", when=when, count=draft.get("count", 0))
    else:
        text = context.t("broadcast.confirm_now", count=draft.get("count", 0))
    keyboard = [
        [
            _button(context.t("broadcast.button.confirm"), f"{PREFIX}yes"),
            _button(context.t("broadcast.button.cancel"), f"{PREFIX}no"),
        ]
    ]
    await _show(update, context, text, keyboard)
    return CONFIRMING


async def confirmed(update: Update, context: AsaContext) -> str | int:
    """Create the announcement (the service re-checks everything) and hand it to the outbox."""
    if not await _is_live(update, context):
        return CONFIRMING
    await _retire(update)
    draft = _draft(context)
    send_at = datetime.fromisoformat(draft["send_at"]) if draft.get("send_at") else None
    access = await _access(update, context)
    try:
        async with context.sessions() as session:
            created = await announcements.create(
                session=session,
                access=access,
                audience=_spec(draft),
                text=draft.get("text", ""),
                entities=draft.get("entities") or None,
                send_at=send_at,
                now=context.clock.now(),
            )
    except DomainError as error:
        await message_of(update).reply_text(context.t(error.key, **error.values))
        if isinstance(error, announcements.NotInFuture):
            await message_of(update).reply_text(context.t("broadcast.ask_time"))
            return TIMING
        _forget(context)
        return ConversationHandler.END
    _forget(context)
    app = cast(AsaApplication, context.application)
    scheduler.announcement_changed(app, created.id or 0, send_at)
    if send_at is None:
        text = context.t("broadcast.sending", id=created.id, count=draft.get("count", 0))
    else:
        when = format_datetime(send_at, lang=context.lang, tz=context.settings.tz)
        text = context.t("broadcast.scheduled", id=created.id, when=when)
    await message_of(update).reply_text(text)
    return ConversationHandler.END


async def cancelled(update: Update, context: AsaContext) -> str | int:
    """Leave the flow; nothing was saved."""
    if update.callback_query is not None:
        if not await _is_live(update, context):
            return ConversationHandler.END
        await _retire(update)
    _forget(context)
    await message_of(update).reply_text(context.t("broadcast.cancelled"))
    return ConversationHandler.END


def _hint(key: str) -> Any:
    """A handler that answers with a hint and stays in the step."""

    async def hint(update: Update, context: AsaContext) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer(context.t("error.stale_button"))
            return
        await message_of(update).reply_text(context.t(key))

    return hint


# -- /announcements --------------------------------------------------------------------------


async def announcements_command(update: Update, context: AsaContext) -> None:
    """Scheduled and recent broadcasts with their progress; scheduled ones can be changed."""
    access = await _access(update, context)
    if not access.can(Capability.BROADCAST):
        await message_of(update).reply_text(context.t("error.not_allowed"))
        return
    async with context.sessions() as session:
        summaries = await announcements.listing(session=session, access=access)
    if not summaries:
        await message_of(update).reply_text(context.t("announcements.none"))
        return
    await message_of(update).reply_text(context.t("announcements.title"))
    for summary in summaries:
        await _send_summary(update, context, summary)


async def _send_summary(
    update: Update, context: AsaContext, summary: announcements.Summary
) -> None:
    """One announcement's line, with Cancel / Reschedule while it is scheduled."""
    text = await _summary_text(context, summary)
    markup = None
    if summary.status == "scheduled":
        markup = InlineKeyboardMarkup(
            [
                [
                    _button(
                        context.t("announcements.button.cancel"), f"{ANN_PREFIX}c:{summary.id}"
                    ),
                    _button(
                        context.t("announcements.button.reschedule"), f"{ANN_PREFIX}r:{summary.id}"
                    ),
                ]
            ]
        )
    await message_of(update).reply_text(text, reply_markup=markup)


async def _summary_text(context: AsaContext, summary: announcements.Summary) -> str:
    """The words of one /announcements line."""
    p = summary.progress
    return context.t(
        "announcements.line",
        id=summary.id,
        status=context.t(f"announcements.status.{summary.status}"),
        when=format_datetime(
            summary.send_at, lang=context.lang, tz=context.settings.tz, style="short"
        ),
        audience=describe(summary.audience, context.t, await _labels(context, summary.audience)),
        preview=summary.preview,
        sent=p.sent,
        total=p.total,
        blocked=p.blocked,
        failed=p.failed,
    )


async def cancel_pressed(update: Update, context: AsaContext) -> None:
    """Cancel a scheduled announcement (the service checks who and whether it started)."""
    query, data = query_of(update)
    announcement_id = trailing_id(data)
    if announcement_id is None:
        await query.answer(context.t("error.stale_button"))
        return
    access = await _access(update, context)
    try:
        async with context.sessions() as session:
            await announcements.cancel(
                session=session,
                access=access,
                announcement_id=announcement_id,
                now=context.clock.now(),
            )
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return
    app = cast(AsaApplication, context.application)
    scheduler.announcement_changed(app, announcement_id, None)
    await query.answer()
    await query.edit_message_text(context.t("announcements.cancelled", id=announcement_id))


async def reschedule_pressed(update: Update, context: AsaContext) -> str | int:
    """Ask for the new time of a scheduled announcement."""
    query, data = query_of(update)
    announcement_id = trailing_id(data)
    access = await _access(update, context)
    if announcement_id is None or not access.can(Capability.BROADCAST):
        await query.answer(context.t("error.stale_button"))
        return ConversationHandler.END
    try:
        async with context.sessions() as session:
            # Ask for a time only if the answer could be used: the author (or an organiser),
            # and only while it has not started.
            await announcements.check_editable(
                session=session, access=access, announcement_id=announcement_id
            )
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[RESCHEDULE_KEY] = announcement_id
    await query.answer()
    await message_of(update).reply_text(context.t("announcements.ask_time", id=announcement_id))
    return RESCHEDULING


async def reschedule_typed(update: Update, context: AsaContext) -> str | int:
    """The new time: the service moves it if it has not started."""
    moment, problem = _parse_future(context, message_of(update).text or "")
    if problem is not None or moment is None:
        await message_of(update).reply_text(context.t(problem or "broadcast.time.unrecognised"))
        return RESCHEDULING
    announcement_id = (context.user_data or {}).get(RESCHEDULE_KEY)
    if not isinstance(announcement_id, int):
        return ConversationHandler.END
    access = await _access(update, context)
    try:
        async with context.sessions() as session:
            await announcements.reschedule(
                session=session,
                access=access,
                announcement_id=announcement_id,
                send_at=moment,
                now=context.clock.now(),
            )
    except DomainError as error:
        await message_of(update).reply_text(context.t(error.key, **error.values))
        _forget(context)
        return ConversationHandler.END
    _forget(context)
    app = cast(AsaApplication, context.application)
    scheduler.announcement_changed(app, announcement_id, moment)
    when = format_datetime(moment, lang=context.lang, tz=context.settings.tz)
    await message_of(update).reply_text(
        context.t("announcements.rescheduled", id=announcement_id, when=when)
    )
    return ConversationHandler.END


async def reschedule_cancelled(update: Update, context: AsaContext) -> int:
    """Leave the reschedule question; nothing changed."""
    _forget(context)
    await message_of(update).reply_text(context.t("broadcast.cancelled"))
    return ConversationHandler.END


# -- RSVP buttons on reminders ---------------------------------------------------------------


async def rsvp_pressed(update: Update, context: AsaContext) -> None:
    """ "I'll be there" / "I can't come" on a reminder: update the registration."""
    query, data = query_of(update)
    parts = data.removeprefix(reminders.RSVP_PREFIX).split(":")
    if len(parts) != 2 or parts[0] not in ("y", "n") or not parts[1].isdigit():
        await query.answer(context.t("error.stale_button"))
        return
    attending = parts[0] == "y"
    try:
        async with context.sessions() as session:
            result = await reminders.rsvp(
                session=session,
                telegram_id=user_of(update).id,
                event_id=int(parts[1]),
                attending=attending,
                now=context.clock.now(),
            )
    except DomainError as error:
        await reply_domain_error(update, context, error)
        return
    # In the language the reminder itself was written in (the person's stored language).
    answer = translator(result.language)(
        "reminder.answer.yes" if attending else "reminder.answer.no"
    )
    await query.answer(answer)
    message = query.message
    if isinstance(message, Message) and message.text:
        try:
            await query.edit_message_text(
                f"{message.text}\n\n{answer}",
                entities=message.entities,
                reply_markup=message.reply_markup if attending else None,
            )
        except TelegramError:
            _log.debug("could not update the reminder", exc_info=True)
    for chat_id, lang in result.promoted_chat_ids:
        await _tell_promoted(context, chat_id, lang, result.event_title)


async def _tell_promoted(context: AsaContext, chat_id: int, lang: str, title: str) -> None:
    """Someone on the waiting list got a place."""
    try:
        await context.bot.send_message(chat_id, translator(lang)("reminder.promoted", title=title))
    except TelegramError:
        _log.info("could not tell a promoted registrant")


# -- wiring ----------------------------------------------------------------------------------


# Answered by this module's own handlers until it moves to the command registry.
LEGACY_COMMANDS = frozenset({"broadcast", "announcements"})


def register(application: AsaApplication) -> None:
    """The /broadcast and reschedule conversations, /announcements and the RSVP buttons."""
    new = filters.UpdateType.MESSAGE
    anything: MessageHandler[AsaContext, object] = MessageHandler(
        new & ~filters.COMMAND, _hint("broadcast.hint.buttons")
    )
    stale: CallbackQueryHandler[AsaContext, object] = CallbackQueryHandler(
        _hint("broadcast.hint.buttons"), pattern=f"^{PREFIX}"
    )
    cancel_button: CallbackQueryHandler[AsaContext, object] = CallbackQueryHandler(
        cancelled, pattern=f"^{PREFIX}no$"
    )
    with warnings.catch_warnings():
        # Tracked per person, not per message, on purpose: each press is checked against the
        # draft's live message instead (see _is_live).
        warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
        conversation = ConversationHandler(
            entry_points=[CommandHandler("broadcast", broadcast_command, filters=new)],
            states={
                CHOOSING_KIND: [
                    CallbackQueryHandler(kind_chosen, pattern=f"^{PREFIX}k:"),
                    cancel_button,
                    anything,
                ],
                CHOOSING_VALUES: [
                    CallbackQueryHandler(value_pressed, pattern=f"^{PREFIX}v:"),
                    CallbackQueryHandler(values_done, pattern=f"^{PREFIX}done$"),
                    cancel_button,
                    anything,
                ],
                WRITING: [
                    MessageHandler(new & filters.TEXT & ~filters.COMMAND, text_written),
                    MessageHandler(new & ~filters.COMMAND, _hint("broadcast.hint.text")),
                ],
                PREVIEWING: [
                    CallbackQueryHandler(send_now_chosen, pattern=f"^{PREFIX}now$"),
                    CallbackQueryHandler(later_chosen, pattern=f"^{PREFIX}later$"),
                    CallbackQueryHandler(edit_chosen, pattern=f"^{PREFIX}edit$"),
                    cancel_button,
                    anything,
                ],
                TIMING: [
                    MessageHandler(new & filters.TEXT & ~filters.COMMAND, time_typed),
                    MessageHandler(new & ~filters.COMMAND, _hint("broadcast.hint.time")),
                ],
                CONFIRMING: [
                    CallbackQueryHandler(confirmed, pattern=f"^{PREFIX}yes$"),
                    cancel_button,
                    anything,
                ],
            },
            fallbacks=[
                CommandHandler("cancel", cancelled, filters=new),
                stale,
                MessageHandler(new & filters.COMMAND, _hint("broadcast.hint.command")),
            ],
            name="broadcast",
            persistent=True,
            allow_reentry=True,
        )
        rescheduling = ConversationHandler(
            entry_points=[CallbackQueryHandler(reschedule_pressed, pattern=f"^{ANN_PREFIX}r:")],
            states={
                RESCHEDULING: [
                    MessageHandler(new & filters.TEXT & ~filters.COMMAND, reschedule_typed),
                    MessageHandler(new & ~filters.COMMAND, _hint("broadcast.hint.time")),
                ]
            },
            fallbacks=[
                CommandHandler("cancel", reschedule_cancelled, filters=new),
                MessageHandler(new & filters.COMMAND, _hint("broadcast.hint.command")),
            ],
            name="announcements_reschedule",
            persistent=True,
            allow_reentry=True,
        )
    application.add_handlers(
        [
            conversation,
            rescheduling,
            CommandHandler("announcements", announcements_command, filters=new),
            CallbackQueryHandler(cancel_pressed, pattern=f"^{ANN_PREFIX}c:"),
            CallbackQueryHandler(rsvp_pressed, pattern=f"^{reminders.RSVP_PREFIX}"),
        ],
        group=GROUP_MAIN,
    )
